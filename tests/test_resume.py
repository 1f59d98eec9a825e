"""Resumable, fault-tolerant jobs: kill -9 and rerun, fingerprints, out-of-memory retries."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from mubench.backends import register_backend
from mubench.backends.random_baseline import RandomBackend
from mubench.evaluate import evaluate
from mubench.journal import Journal, JournalLocked, read_progress
from tests.conftest import write_catalog


def _comparable(score):
    return {k: score[k] for k in ("status", "counts", "accuracy", "per_question_type", "errors")} | {
        "texts_sha256": score["settings"]["texts_sha256"]}


def _evaluate_cmd(catalog, model, task, data, out, journal, batch_size):
    return [sys.executable, "-m", "mubench.cli", "evaluate", "--catalog", catalog, "--model", model, "--task", task,
            "--data", str(data), "--out", str(out), "--journal", str(journal), "--batch-size", str(batch_size),
            "--device", "cpu"]


@pytest.mark.parametrize("kind", ["open_clip", "transformers"])
def test_kill_9_then_rerun_equals_an_uninterrupted_run(kind, tiny_models, demo_data, tmp_path):
    spec = tiny_models[kind]
    catalog = write_catalog(tmp_path, {spec.name: {"backend": spec.backend, "weights": spec.weights}})
    task = "demo_skimage_cell"  # 63 rows → 32 batches of 2
    reference = evaluate(model=spec.name, task=task, catalog_path=catalog, data_dir=str(demo_data),
                         out_dir=str(tmp_path / "ref"), device="cpu", batch_size=2)

    journal = tmp_path / "journal" / f"{task}.jsonl"
    cmd = _evaluate_cmd(catalog, spec.name, task, demo_data, tmp_path / "run", journal, 2)
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 6:  # header + 5 batches
            break
        time.sleep(0.005)
    assert process.poll() is None, "the job finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "run" / "score.json").exists()
    journaled = read_progress(journal)
    assert 10 <= journaled < 63

    rerun = subprocess.run(cmd, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    score = json.loads((tmp_path / "run" / "score.json").read_text())
    # Nothing journaled is recomputed; only the rows the killed process had not journaled are.
    assert score["resume"] == {"replayed_rows": journaled, "computed_rows": 63 - journaled}
    assert _comparable(score) == _comparable(reference)
    assert (tmp_path / "run" / "predictions.jsonl").read_text() == (tmp_path / "ref" / "predictions.jsonl").read_text()
    assert not journal.exists()  # finished: the outputs hold everything


def test_half_written_batch_is_recomputed(demo_data, tmp_path, monkeypatch):
    catalog = write_catalog(tmp_path, {"random": {"backend": "random", "weights": "none"}})
    journal = tmp_path / "j.jsonl"
    common = dict(model="random", task="demo_stardist_he", catalog_path=catalog, data_dir=str(demo_data),
                  device="cpu", batch_size=5, journal_path=str(journal))
    with monkeypatch.context() as patch:  # keep the journal a finished run would remove
        patch.setattr(Journal, "finish", lambda self: self._handle.close())
        reference = evaluate(out_dir=str(tmp_path / "ref"), **common)
    lines = journal.read_text().splitlines(keepends=True)
    assert len(lines) == 1 + 9  # header + 45 rows in batches of 5
    # As if killed while writing batch 4: three whole batches, then half a line.
    journal.write_text("".join(lines[:4]) + lines[4][: len(lines[4]) // 2])
    score = evaluate(out_dir=str(tmp_path / "resumed"), **common)
    assert score["resume"] == {"replayed_rows": 15, "computed_rows": 30}
    assert _comparable(score) == _comparable(reference)
    assert (tmp_path / "resumed" / "predictions.jsonl").read_text() == (tmp_path / "ref" / "predictions.jsonl").read_text()


def test_changed_fingerprint_starts_fresh(demo_data, tmp_path):
    catalog = write_catalog(tmp_path, {"random": {"backend": "random", "weights": "none"}})
    journal = tmp_path / "j.jsonl"
    common = dict(model="random", task="demo_stardist_he", catalog_path=catalog, data_dir=str(demo_data),
                  device="cpu", batch_size=5, journal_path=str(journal))
    # Leave a journal behind from seed 1: run, then put back the journal the run removed.
    evaluate(out_dir=str(tmp_path / "s1"), seed=1, **common)
    assert not journal.exists()
    with Journal(journal) as stale:
        stale.resume({"some": "other job"})
        stale.append({"rows": 45, "images_failed": 0, "row_ids": list(range(45)), "predictions": []})
    score = evaluate(out_dir=str(tmp_path / "s2"), seed=2, **common)
    assert score["resume"]["replayed_rows"] == 0  # never mixes another configuration's answers
    assert score["counts"]["questions"] == 45 * 6
    assert list(tmp_path.glob("j.jsonl.stale-*"))


def test_a_second_process_on_the_same_cell_is_refused(tmp_path):
    with Journal(tmp_path / "j.jsonl") as first:
        first.resume({"a": 1})
        with pytest.raises(JournalLocked, match="another process"):
            with Journal(tmp_path / "j.jsonl"):
                pass


class OutOfMemoryDouble(RandomBackend):
    """Test double for an accelerator running out of memory: the random baseline, except that
    batches of more than 4 images raise the error CUDA raises. (No GPU on the CI machines.)"""

    def score_prepared(self, prepared, items):
        if prepared is not None and len(prepared) > 4:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().score_prepared(prepared, items)


def test_out_of_memory_retries_with_smaller_batches(demo_data, tmp_path):
    register_backend("oom-double", f"{__name__}:OutOfMemoryDouble")
    catalog = write_catalog(tmp_path, {"random": {"backend": "random", "weights": "none"},
                                  "oom": {"backend": "oom-double", "weights": "none"}})
    common = dict(task="demo_dsb2018_nuclei", catalog_path=catalog, data_dir=str(demo_data), device="cpu",
                  batch_size=16, seed=3)
    reference = evaluate(model="random", out_dir=str(tmp_path / "ref"), **common)
    score = evaluate(model="oom", out_dir=str(tmp_path / "oom"), **common)
    assert score["settings"]["oom_retries"] >= 1
    assert score["settings"]["final_batch_size"] <= 4
    assert _comparable(score) == _comparable(reference)
