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

from mubench import RESULTS_SCHEMA_VERSION
from mubench.backends import QuestionItem, backend_class
from mubench.backends.base import resolve_device
from mubench.catalog import Catalog
from mubench.data.layout import iter_shard_batches, sha256_file
from mubench.data.prepare import load_manifest
from mubench.errors import DataError
from mubench.images import ImageError, decode_image
from mubench.protocol import QUESTION_TYPES, question_group
from mubench.provenance import provenance
from mubench.text_cache import TextFeatureCache, model_fingerprint
from mubench.weights import strip_local_prefix

log = logging.getLogger(__name__)
MAX_ERROR_EXAMPLES = 50


@dataclass
class Tally:
    questions: Counter = field(default_factory=Counter)
    correct: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    error_kinds: Counter = field(default_factory=Counter)
    error_examples: list = field(default_factory=list)
    rows: int = 0
    images_failed: int = 0

    def record(self, prediction: dict) -> None:
        qtype = prediction["question_type"]
        self.questions[qtype] += 1
        self.correct[qtype] += int(prediction["correct"])
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
        elif gold is None or not 0 <= gold < len(options):
            error, gold = f"bad_answer_idx: {gold} for {len(options)} options", None
        elif entry.get("answer") is not None and options[gold] != entry["answer"]:
            error = "answer_mismatch: options[answer_idx] differs from answer"
        item = QuestionItem(row["row_idx"], qtype, image_index, entry.get("question") or "", options)
        out.append(Question(item, row.get("image_id"), gold, error))
    return out


def _prediction(question: Question, dataset: str, scores: np.ndarray | None, error: str | None) -> dict:
    item = question.item
    error = error or question.error
    predicted = int(np.argmax(scores)) if (scores is not None and not error) else None
    return {
        "row_idx": item.row_idx, "image_id": question.image_id, "dataset": dataset,
        "question_type": item.question_type, "options": list(item.options), "gold": question.gold,
        "prediction": predicted, "correct": predicted is not None and predicted == question.gold,
        "scores": None if scores is None or error else [round(float(s), 6) for s in scores],
        "error": error,
    }


def evaluate(*, model: str, task: str, catalog_path: str, data_dir: str, out_dir: str, seed: int = 0,
             device: str = "auto", batch_size: int | None = None, progress_every_s: float = 30.0,
             loader_workers: int | None = None, text_cache_dir: str | None = None) -> dict:
    started = time.time()
    catalog = Catalog.load(catalog_path)
    spec = catalog.get(model)
    manifest = load_manifest(Path(data_dir))
    if task not in manifest["tasks"]:
        raise DataError(f"unknown task '{task}': not in the prepared data {data_dir} "
                        f"(tasks found: {', '.join(sorted(manifest['tasks']))})")
    task_info = manifest["tasks"][task]
    shard = Path(data_dir) / task_info["shard"]
    batch_size = batch_size or spec.batch_size
    device = resolve_device(device)
    if loader_workers is None:
        loader_workers = min(4, os.cpu_count() or 1)

    backend = backend_class(spec.backend)(spec, device=device, seed=seed)
    backend.load()
    if text_cache_dir and hasattr(backend, "text_cache"):
        weights_dir = Path(strip_local_prefix(spec.weights))
        backend.text_cache = TextFeatureCache(
            Path(text_cache_dir), model_fingerprint(spec, backend.runtime_info(), weights_dir))
    load_seconds = time.time() - started
    log.info("%s loaded on %s in %.1fs; %s: %d rows", model, device, load_seconds, task, task_info["rows"])

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp_predictions = out / f".predictions.jsonl.tmp-{os.getpid()}"
    tally, texts_digest = Tally(), hashlib.sha256()
    inference_started = last_report = time.time()
    with open(tmp_predictions, "w") as sink:
        batches = iter_shard_batches(shard, batch_size)
        for loaded in prefetch(lambda b: load_batch(b, backend), batches, workers=loader_workers):
            for prediction in score_batch(loaded, backend, tally, texts_digest):
                sink.write(json.dumps(prediction) + "\n")
                tally.record(prediction)
            if time.time() - last_report > progress_every_s:
                _report_progress(tally, task_info["rows"], inference_started)
                last_report = time.time()
    inference_seconds = time.time() - inference_started
    _report_progress(tally, task_info["rows"], inference_started)

    score = _score_json(spec, task, manifest, data_dir, tally, backend, seed, batch_size, texts_digest,
                        {"load_s": round(load_seconds, 3), "inference_s": round(inference_seconds, 3),
                         "total_s": round(time.time() - started, 3),
                         "images_per_s": round(tally.rows / inference_seconds, 3) if inference_seconds else None})
    os.replace(tmp_predictions, out / "predictions.jsonl")
    write_json_atomic(out / "score.json", score)
    return score


@dataclass
class LoadedBatch:
    """A batch after the CPU-side work: decoded images, preprocessed pixels, its questions."""
    rows: int
    questions: list[tuple[str, Question]]
    failed: dict[int, str]
    prepared: object


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
    return LoadedBatch(len(rows), questions, failed, prepared)


def score_batch(loaded: LoadedBatch, backend, tally: Tally, texts_digest) -> list[dict]:
    tally.rows += loaded.rows
    tally.images_failed += len(loaded.failed)
    scorable = [q for _, q in loaded.questions if q.item.row_idx not in loaded.failed and q.error is None]
    for question in scorable:
        texts_digest.update("\x1f".join(question.item.options).encode())
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


def _score_json(spec, task, manifest, data_dir, tally: Tally, backend, seed, batch_size, texts_digest, timings) -> dict:
    per_qtype = {}
    for qtype in sorted(tally.questions):
        n, k, e = tally.questions[qtype], tally.correct[qtype], tally.errors[qtype]
        per_qtype[qtype] = {"group": question_group(qtype), "questions": n, "correct": k, "errors": e,
                            "accuracy": k / n if n else None}
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
        "errors": {"by_kind": dict(tally.error_kinds), "examples": tally.error_examples},
        "timings": timings,
        "model_info": spec.provenance(),
        "task_info": {k: v for k, v in manifest["tasks"][task].items() if k != "shard"},
        "data": {"source": manifest["source"], "manifest_sha256": sha256_file(Path(data_dir) / "manifest.json"),
                 "include_extra_datasets": manifest.get("include_extra_datasets")},
        "settings": {"seed": seed, "batch_size": batch_size, "text_field": backend.text_field,
                     "scoring": "argmax over option scores", "texts_sha256": texts_digest.hexdigest(),
                     **_text_stats(backend),
                     **backend.runtime_info()},
        "provenance": provenance(),
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
