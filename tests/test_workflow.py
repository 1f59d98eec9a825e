"""The workflow through the real `snakemake` command: the demo end to end, and the plan of a
50-model × 22-task sweep."""

import csv
import json
import re
import subprocess
import sys

import yaml

from mubench.data.demo import DEMO_TASKS
from mubench.protocol import PAPER_DATASETS
from tests.conftest import copy_workflow


def _snakemake(workdir, *args, timeout=900):
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, capture_output=True,
                          text=True, timeout=timeout)


def test_demo_runs_end_to_end(tmp_path, demo_sources):
    workdir = copy_workflow(tmp_path)
    result = _snakemake(workdir, "-c2")
    assert result.returncode == 0, result.stderr[-3000:]
    models = yaml.safe_load((workdir / "config" / "config.yaml").read_text())["models"]
    table = list(csv.DictReader(open(workdir / "results" / "tables" / "task_by_question_type.csv")))
    assert {(r["key"], r["task"]) for r in table} == {(m, t) for m in models for t in DEMO_TASKS}
    table1 = list(csv.DictReader(open(workdir / "results" / "tables" / "table1.csv")))
    assert [r["key"] for r in table1] == models
    manifest = json.loads((workdir / "results" / "data" / "manifest.json").read_text())
    for row in table1:  # every question of the demo is counted once per model
        assert int(row["coarse_questions"]) == manifest["coarse_questions"]
        assert int(row["fine_questions"]) == manifest["fine_questions"]
    for model in models:
        for task in DEMO_TASKS:
            assert (workdir / "results" / "logs" / "evaluate" / model / f"{task}.log").exists()
    # A rerun has nothing to do: finished jobs are never recomputed.
    again = _snakemake(workdir, "-c2", "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_dry_run_plans_a_50_model_by_22_task_sweep(tmp_path):
    workdir = copy_workflow(tmp_path)
    catalog = {"models": {f"model-{i:02d}": {"backend": "open_clip", "weights": "ViT-B-32",
                                             "pretrained": "laion2b_s34b_b79k"} for i in range(50)}}
    (workdir / "config" / "sweep-models.yaml").write_text(yaml.safe_dump(catalog))
    tasks = [t for t in PAPER_DATASETS if t != "held_et_al_2010_mt"]
    assert len(tasks) == 22
    config = {"catalog": "config/sweep-models.yaml", "models": sorted(catalog["models"]), "tasks": tasks,
              "data": {"source": "local", "path": "/data/ubench"}}
    (workdir / "config" / "sweep.yaml").write_text(yaml.safe_dump(config))
    result = _snakemake(workdir, "-n", "--configfile", "config/sweep.yaml", "-c1")
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))
    assert counts["evaluate"] == "1100"
    assert counts["merge"] == "1" and counts["prepare"] == "1"
