import json
import subprocess
import sys
import time

import yaml

from mubench.journal import Journal
from mubench.status import journal_path, sweep_status
from tests.conftest import copy_workflow, workflow_env


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_status_reports_done_partial_failed_and_missing(tmp_path, repo):
    results = tmp_path / "results"
    _write(results / "data" / "manifest.json", {"source": {"kind": "demo"}, "tasks": {"demo_skimage_ihc": {"rows": 49},
                                                          "demo_stardist_he": {"rows": 45}}})
    _write(results / "random" / "demo_skimage_ihc" / "score.json", {"status": "ok", "accuracy": 0.3})
    _write(results / "demo-clip-tiny" / "demo_skimage_ihc" / "score.json",
           {"status": "failed", "error": {"kind": "WeightsError", "message": "weights missing"}})
    with Journal(journal_path(results, "random", "demo_stardist_he")) as journal:
        journal.resume({"f": 1})
        journal.append({"rows": 20, "images_failed": 0, "row_ids": list(range(20)), "predictions": []})
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"catalog": str(repo / "config" / "models.yaml"), "results_dir": str(results),
                                      "models": ["random", "demo-clip-tiny"],
                                      "tasks": ["demo_skimage_ihc", "demo_stardist_he"]}))
    report = sweep_status(results, str(config))
    cells = {(c["model"], c["task"]): c for c in report["cells"]}
    assert cells[("random", "demo_skimage_ihc")]["state"] == "done"
    assert cells[("random", "demo_stardist_he")]["state"] == "partial"
    assert cells[("random", "demo_stardist_he")]["rows_done"] == 20
    assert abs(cells[("random", "demo_stardist_he")]["progress"] - 20 / 45) < 1e-9
    assert cells[("demo-clip-tiny", "demo_skimage_ihc")] == {
        "model": "demo-clip-tiny", "task": "demo_skimage_ihc", "state": "failed",
        "reason": "WeightsError: weights missing"}
    assert cells[("demo-clip-tiny", "demo_stardist_he")]["state"] == "missing"
    assert report["counts"] == {"done": 1, "partial": 1, "failed": 1, "missing": 1}


def test_two_sweeps_on_one_results_directory(tmp_path, demo_sources):
    """The second sweep is refused by Snakemake's lock while the first one runs; the first
    finishes untouched."""
    workdir = copy_workflow(tmp_path)
    (workdir / "config" / "one.yaml").write_text(yaml.safe_dump({"models": ["demo-clip-tiny"]}))
    command = [sys.executable, "-m", "snakemake", "-c1", "--configfile", "config/one.yaml"]
    first = subprocess.Popen(command, cwd=workdir, env=workflow_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list((workdir / ".snakemake" / "locks").glob("*")):
        time.sleep(0.05)
    second = subprocess.run(command, cwd=workdir, env=workflow_env(), capture_output=True, text=True)
    output = first.communicate(timeout=600)[0]
    # Refused before touching anything: by the lock, or (when it looks first) because the running
    # sweep's outputs are marked incomplete.
    refusal = second.stdout + second.stderr
    assert second.returncode != 0 and ("cannot be locked" in refusal or "Incomplete files" in refusal)
    assert first.returncode == 0, output[-3000:]
    status = json.loads((workdir / "results" / "sweep_status.json").read_text())
    assert status["counts"] == {"done": 4}
