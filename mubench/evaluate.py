"""One evaluation job: one model on one task → predictions.jsonl + score.json.

Rows stream from the task's Arrow shard in batches; images are decoded (a bad image becomes a
counted per-question error), the backend scores every question of the batch, and each
prediction is written as one JSON line. Final files appear atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mubench import RESULTS_SCHEMA_VERSION
from mubench.backends import QuestionItem, backend_class
from mubench.backends.base import resolve_device
from mubench.catalog import Catalog
from mubench.data.layout import iter_shard_batches, sha256_file
from mubench.data.prepare import load_manifest
from mubench.errors import DataError
from mubench.images import ImageError, decode_image
from mubench.journal import Journal
from mubench.prompt import official_correct, parse_answer
from mubench.protocol import MAX_OPTIONS, QUESTION_TYPES, question_group
from mubench.provenance import provenance
from mubench.text_cache import TextFeatureCache, model_fingerprint
from mubench.weights import ensure_staged, hub_offline, strip_local_prefix

log = logging.getLogger(__name__)
MAX_ERROR_EXAMPLES = 50


@dataclass
class Tally:
    questions: Counter = field(default_factory=Counter)
    correct: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    error_kinds: Counter = field(default_factory=Counter)
    error_examples: list = field(default_factory=list)
    parsed_correct: Counter = field(default_factory=Counter)
    unparsable: Counter = field(default_factory=Counter)
    constrained_correct: Counter = field(default_factory=Counter)
    generated_tokens: int = 0
    generative: bool = False
    rows: int = 0
    images_failed: int = 0
    replayed_rows: int = 0
    texts_digest: object = field(default_factory=hashlib.sha256)

    def add_batch(self, record: dict) -> None:
        self.rows += record["rows"]
        self.images_failed += record["images_failed"]
        for prediction in record["predictions"]:
            self.record(prediction)

    def record(self, prediction: dict) -> None:
        if not prediction["error"]:
            self.texts_digest.update("\x1f".join(prediction["options"]).encode())
        qtype = prediction["question_type"]
        self.questions[qtype] += 1
        self.correct[qtype] += int(prediction["correct"])
        if "response" in prediction:
            self.generative = True
            self.parsed_correct[qtype] += int(bool(prediction["parsed_correct"]))
            self.unparsable[qtype] += int(prediction["parsed"] is None and not prediction["error"])
            self.constrained_correct[qtype] += int(bool(prediction["constrained_correct"]))
            self.generated_tokens += prediction["generated_tokens"] or 0
        if prediction["error"]:
            self.errors[qtype] += 1
            kind = prediction["error"].split(":", 1)[0]
            self.error_kinds[kind] += 1
            if len(self.error_examples) < MAX_ERROR_EXAMPLES:
                self.error_examples.append({k: prediction[k] for k in ("row_idx", "image_id", "question_type", "error")})


@dataclass
class Question:
    item: QuestionItem
    image_id: str
    gold: int | None
    error: str | None


def questions_of_row(row: dict, image_index: int, text_field: str) -> list[Question]:
    """The row's non-null questions, texts taken from ``text_field`` (captions or questions)."""
    entries = row.get(text_field) or {}
    out = []
    for qtype in QUESTION_TYPES:
        entry = entries.get(qtype)
        if entry is None:
            continue  # the protocol skips null questions
        options = tuple(entry.get("options") or ())
        gold, error = entry.get("answer_idx"), None
        if not options:
            error = "no_options: question has no options"
        elif len(options) > MAX_OPTIONS:
            error = f"too_many_options: {len(options)} options, the protocol allows at most {MAX_OPTIONS} (A–H)"
        elif gold is None or not 0 <= gold < len(options):
            error, gold = f"bad_answer_idx: {gold} for {len(options)} options", None
        elif entry.get("answer") is not None and options[gold] != entry["answer"]:
            error = "answer_mismatch: options[answer_idx] differs from answer"
        item = QuestionItem(row["row_idx"], qtype, image_index, entry.get("question") or "", options)
        out.append(Question(item, row.get("image_id"), gold, error))
    return out


def _base_prediction(question: Question, dataset: str, error: str | None) -> dict:
    """The fields every backend's prediction line shares."""
    item = question.item
    return {"row_idx": item.row_idx, "image_id": question.image_id, "dataset": dataset,
            "question_type": item.question_type, "options": list(item.options), "gold": question.gold,
            "error": error or question.error}


def _prediction(question: Question, dataset: str, scores: np.ndarray | None, error: str | None) -> dict:
    base = _base_prediction(question, dataset, error)
    ok = scores is not None and not base["error"]
    predicted = int(np.argmax(scores)) if ok else None
    return {**base, "prediction": predicted, "correct": predicted is not None and predicted == question.gold,
            "scores": [round(float(s), 6) for s in scores] if ok else None}


def job_fingerprint(spec, backend, task: str, seed: int, manifest_sha: str) -> dict:
    """What must match for journaled predictions to be reused (batch size need not)."""
    runtime = backend.runtime_info()
    return {"schema_version": RESULTS_SCHEMA_VERSION, "model": spec.provenance(),
            "resolved_revision": runtime.get("resolved_revision"), "text_field": backend.text_field,
            "seed": seed, "task": task, "manifest_sha256": manifest_sha}


def _generative_prediction(question: Question, dataset: str, answer, error: str | None) -> dict:
    """The raw response and all three metrics; ``correct`` is the paper's official check."""
    base = _base_prediction(question, dataset, error)
    options, gold = question.item.options, question.gold
    answer = answer if not base["error"] else None
    parsed = parse_answer(answer.response, options) if answer else None
    constrained = answer.constrained if answer else None
    return {
        **base, "prediction": parsed,
        "correct": bool(answer and official_correct(answer.response, options, gold)),
        "response": answer.response if answer else None,
        "parsed": parsed, "parsed_correct": parsed is not None and parsed == gold,
        "constrained": constrained, "constrained_correct": constrained is not None and constrained == gold,
        "letter_logprobs": answer.letter_logprobs if answer else None,
        "generated_tokens": answer.generated_tokens if answer else None,
    }


def evaluate(*, model: str, task: str, catalog_path: str, data_dir: str, out_dir: str, seed: int = 0,
             device: str = "auto", batch_size: int | None = None, progress_every_s: float = 30.0,
             loader_workers: int | None = None, text_cache_dir: str | None = None,
             journal_path: str | None = None) -> dict:
    started = time.time()
    catalog = Catalog.load(catalog_path)
    spec = catalog.get(model)
    if hub_offline():
        ensure_staged(spec)  # a compute node cannot download: fail now, naming the model
    manifest = load_manifest(Path(data_dir))
    if task not in manifest["tasks"]:
        raise DataError(f"unknown task '{task}': not in the prepared data {data_dir} "
                        f"(tasks found: {', '.join(sorted(manifest['tasks']))})")
    task_info = manifest["tasks"][task]
    shard = Path(data_dir) / task_info["shard"]
    manifest_sha = sha256_file(Path(data_dir) / "manifest.json")
    batch_size = batch_size or spec.batch_size
    device = resolve_device(device)
    if loader_workers is None:
        loader_workers = min(4, os.cpu_count() or 1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # Take the cell's lock before loading the model: a second process on the same cell is
    # refused at once instead of after a model load.
    journal = Journal(Path(journal_path) if journal_path else out / ".journal.jsonl")
    with journal:
        backend = backend_class(spec.backend)(spec, device=device, seed=seed)
        backend.load()
        if text_cache_dir and hasattr(backend, "text_cache"):
            weights_dir = Path(strip_local_prefix(spec.weights))
            backend.text_cache = TextFeatureCache(
                Path(text_cache_dir), model_fingerprint(spec, backend.runtime_info(), weights_dir))
        load_seconds = time.time() - started
        log.info("%s loaded on %s in %.1fs; %s: %d rows", model, device, load_seconds, task, task_info["rows"])

        tally, runner = Tally(), BatchRunner(backend, batch_size)
        done_rows = set()
        for record in journal.resume(job_fingerprint(spec, backend, task, seed, manifest_sha)):
            tally.add_batch(record)
            done_rows.update(record["row_ids"])
        tally.replayed_rows = tally.rows
        if done_rows:
            log.info("resuming: %d of %d rows already journaled", len(done_rows), task_info["rows"])
        inference_started = last_report = time.time()
        batches = _without_rows(iter_shard_batches(shard, batch_size), done_rows)
        for loaded in prefetch(lambda b: load_batch(b, backend), batches, workers=loader_workers):
            for record in runner.run(loaded):
                journal.append(record)
                tally.add_batch(record)
            if time.time() - last_report > progress_every_s:
                _report_progress(tally, task_info["rows"], inference_started)
                last_report = time.time()
        inference_seconds = time.time() - inference_started
        _report_progress(tally, task_info["rows"], inference_started)

        score = _score_json(spec, task, manifest, manifest_sha, tally, backend, seed, runner,
                            {"load_s": round(load_seconds, 3), "inference_s": round(inference_seconds, 3),
                             "total_s": round(time.time() - started, 3),
                             "images_per_s": round((tally.rows - tally.replayed_rows) / inference_seconds, 3)
                             if inference_seconds else None})
        _write_predictions(journal.path, out / "predictions.jsonl")
        write_json_atomic(out / "score.json", score)
        journal.finish()
    return score


def _without_rows(batches, done_rows: set[int]):
    """Skip rows a previous attempt already journaled."""
    for batch in batches:
        if done_rows:
            batch = batch.filter(pc.invert(pc.is_in(batch.column("row_idx"), pa.array(sorted(done_rows), pa.int64()))))
        if batch.num_rows:
            yield batch


def _write_predictions(journal_path: Path, target: Path) -> None:
    """predictions.jsonl in shard order, streamed from the journal, written atomically."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with open(journal_path) as source, open(tmp, "w") as sink:
        next(source)  # header
        for line in source:
            for prediction in json.loads(line)["predictions"]:
                sink.write(json.dumps(prediction) + "\n")
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(tmp, target)


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:
        pass
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


class BatchRunner:
    """Scores loaded batches; on out-of-memory, retries the batch in halves and keeps the
    smaller size for the rest of the job (recorded in score.json)."""

    def __init__(self, backend, batch_size: int):
        self.backend = backend
        self.requested_batch_size = batch_size
        self.batch_cap = batch_size
        self.oom_retries = 0

    def run(self, loaded: "LoadedBatch") -> list[dict]:
        if loaded.rows > self.batch_cap:
            return [r for part in _split(loaded.source, self.batch_cap) for r in self.run(load_batch(part, self.backend))]
        try:
            predictions = score_batch(loaded, self.backend)
        except Exception as exc:
            if not is_out_of_memory(exc) or loaded.rows <= 1:
                raise
            self.oom_retries += 1
            self.batch_cap = max(1, loaded.rows // 2)
            log.warning("out of memory on a batch of %d images; retrying with %d", loaded.rows, self.batch_cap)
            _free_accelerator_memory()
            return self.run(loaded)
        return [{"rows": loaded.rows, "images_failed": len(loaded.failed), "row_ids": loaded.row_ids,
                 "predictions": predictions}]


def _split(batch, size: int):
    for start in range(0, batch.num_rows, size):
        yield batch.slice(start, size)


def _free_accelerator_memory() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


@dataclass
class LoadedBatch:
    """A batch after the CPU-side work: decoded images, preprocessed pixels, its questions."""
    rows: int
    questions: list[tuple[str, Question]]
    failed: dict[int, str]
    prepared: object
    row_ids: list[int]
    source: object  # the record batch, kept to re-split it after an out-of-memory error


def load_batch(batch, backend) -> LoadedBatch:
    """Decode and preprocess one record batch (runs in a worker thread, ahead of the model)."""
    images, questions, failed = [], [], {}
    rows = batch.to_pylist()
    for row in rows:
        try:
            image = decode_image(row.get("image"))
        except ImageError as exc:
            failed[row["row_idx"]] = f"image_error: {exc}"
            image = None
        row_questions = questions_of_row(row, len(images), backend.text_field)
        if image is not None:
            images.append(image)
        questions.extend((row["dataset"], q) for q in row_questions)
    prepared = backend.preprocess_images(images) if images else None
    return LoadedBatch(len(rows), questions, failed, prepared, [row["row_idx"] for row in rows], batch)


def score_batch(loaded: LoadedBatch, backend) -> list[dict]:
    scorable = [q for _, q in loaded.questions if q.item.row_idx not in loaded.failed and q.error is None]
    if backend.kind == "generative":
        answers = backend.generate_prepared(loaded.prepared, [q.item for q in scorable]) if scorable else []
        by_question = {id(q): a for q, a in zip(scorable, answers)}
        return [_generative_prediction(q, dataset, by_question.get(id(q)), loaded.failed.get(q.item.row_idx))
                for dataset, q in loaded.questions]
    scores = backend.score_prepared(loaded.prepared, [q.item for q in scorable]) if scorable else []
    by_question = {id(q): s for q, s in zip(scorable, scores)}
    return [_prediction(q, dataset, by_question.get(id(q)), loaded.failed.get(q.item.row_idx))
            for dataset, q in loaded.questions]


def prefetch(fn, items, workers: int, depth: int | None = None):
    """``map(fn, items)`` in order, computing up to ``depth`` results ahead in threads.
    Image decoding and resizing release the GIL, so they overlap the model's forward pass."""
    if workers <= 0:
        yield from map(fn, items)
        return
    depth = depth or 2 * workers
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mubench-load") as pool:
        pending = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _report_progress(tally: Tally, total_rows: int, since: float) -> None:
    elapsed = time.time() - since
    rate = tally.rows / elapsed if elapsed else 0.0
    eta = (total_rows - tally.rows) / rate if rate else float("nan")
    log.info("progress: %d/%d images (%.1f img/s, ETA %.0fs), %d questions, %d errors",
             tally.rows, total_rows, rate, eta, sum(tally.questions.values()), sum(tally.errors.values()))


def _score_json(spec, task, manifest, manifest_sha, tally: Tally, backend, seed, runner, timings) -> dict:
    per_qtype = {}
    for qtype in sorted(tally.questions):
        n, k, e = tally.questions[qtype], tally.correct[qtype], tally.errors[qtype]
        per_qtype[qtype] = {"group": question_group(qtype), "questions": n, "correct": k, "errors": e,
                            "accuracy": k / n if n else None}
        if tally.generative:
            per_qtype[qtype].update({"correct_parsed": tally.parsed_correct[qtype],
                                     "unparsable": tally.unparsable[qtype],
                                     "correct_constrained": tally.constrained_correct[qtype]})
    n, k, e = (sum(c.values()) for c in (tally.questions, tally.correct, tally.errors))
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "status": "ok",
        "model": spec.name,
        "task": task,
        "counts": {"rows": tally.rows, "questions": n, "correct": k, "errors": e,
                   "images_failed": tally.images_failed},
        # Errors count as wrong answers: a question the model could not see is not dropped.
        "accuracy": k / n if n else None,
        "accuracy_answered": k / (n - e) if n - e else None,
        "per_question_type": per_qtype,
        **({"metrics": _generative_metrics(tally)} if tally.generative else {}),
        "errors": {"by_kind": dict(tally.error_kinds), "examples": tally.error_examples},
        "timings": timings,
        "model_info": spec.provenance(),
        "task_info": {k: v for k, v in manifest["tasks"][task].items() if k != "shard"},
        "data": {"source": manifest["source"], "manifest_sha256": manifest_sha,
                 "include_extra_datasets": manifest.get("include_extra_datasets")},
        "resume": {"replayed_rows": tally.replayed_rows, "computed_rows": tally.rows - tally.replayed_rows},
        "settings": {"seed": seed, "batch_size": runner.requested_batch_size, "final_batch_size": runner.batch_cap,
                     "oom_retries": runner.oom_retries, "text_field": backend.text_field,
                     "scoring": backend.scoring, "texts_sha256": tally.texts_digest.hexdigest(),
                     **_text_stats(backend),
                     **backend.runtime_info()},
        "provenance": provenance(),
    }


def _generative_metrics(tally: Tally) -> dict:
    n = sum(tally.questions.values())
    answered = n - sum(tally.errors.values())
    unparsable = sum(tally.unparsable.values())
    return {
        "primary": "official",
        "official": {"correct": sum(tally.correct.values()), "accuracy": sum(tally.correct.values()) / n if n else None},
        "parsed": {"correct": sum(tally.parsed_correct.values()),
                   "accuracy": sum(tally.parsed_correct.values()) / n if n else None,
                   "unparsable": unparsable, "unparsable_rate": unparsable / answered if answered else None},
        "constrained": {"correct": sum(tally.constrained_correct.values()),
                        "accuracy": sum(tally.constrained_correct.values()) / n if n else None},
        "generated_tokens_per_question": {"official": tally.generated_tokens / answered if answered else None,
                                          "constrained": 1},
    }


def _text_stats(backend) -> dict:
    if not hasattr(backend, "texts_encoded"):
        return {}
    cache = getattr(backend, "text_cache", None)
    return {"texts_encoded": backend.texts_encoded, "text_cache_hits": cache.hits if cache else None}


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=2, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def record_failure(*, model: str, task: str, out_dir: str, exc: BaseException, catalog_path: str,
                   marker: str | None = None) -> dict:
    """Write a failed cell's score.json (status, reason) and an empty predictions.jsonl.

    ``marker`` (outside the workflow's outputs) gets a fresh failure id; the workflow passes it
    to the job as a parameter, so the next run sees a changed parameter and retries the cell."""
    try:
        spec_info = Catalog.load(catalog_path).get(model).provenance()
    except Exception:  # the catalog itself may be what failed
        spec_info = {"name": model, "display_name": model, "model_type": "unknown"}
    kind = "out_of_memory" if is_out_of_memory(exc) else type(exc).__name__
    error = {"kind": kind, "message": str(exc)[:2000]}
    score = {"schema_version": RESULTS_SCHEMA_VERSION, "status": "failed", "model": model, "task": task,
             "error": error, "model_info": spec_info, "provenance": provenance()}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "predictions.jsonl").write_text("")
    write_json_atomic(out / "score.json", score)
    if marker:
        Path(marker).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(Path(marker), {"failure_id": f"{time.time_ns()}-{os.getpid()}", **error})
    return score
