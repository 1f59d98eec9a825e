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
from tests.conftest import copy_workflow, workflow_env


def _snakemake(workdir, *args, timeout=900):
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, env=workflow_env(), capture_output=True,
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
    # The generative demo model shows all three metrics; the others only the official one.
    by_type = {r["type"]: r for r in table1}
    assert by_type["generative"]["coarse_constrained"] != "" and by_type["generative"]["fine_parsed"] != ""
    assert by_type["baseline"]["coarse_constrained"] == ""
    # A rerun has nothing to do: finished jobs are never recomputed.
    again = _snakemake(workdir, "-c2", "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    # The report: every table in four formats, the figures, then one self-contained HTML file.
    index = json.loads((workdir / "results" / "report" / "index.json").read_text())
    assert {"table1", "generative", "significance", "slices", "provenance", "runtimes"} <= set(index["tables"])
    assert index["models"] == models
    significance = list(csv.DictReader(open(workdir / "results" / "report" / "tables" / "significance.csv")))
    assert len(significance) == len(models) * (len(models) - 1) // 2
    report = _snakemake(workdir, "--report", "report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    html = (workdir / "report.html").read_text()
    assert "<script src=\"http" not in html  # self-contained: nothing fetched when opened
    for name in ("table1.html", "paper_comparison.html", "provenance.html", "runtimes.html", "heatmap.png",
                 "bars.png", "size.png"):
        assert name in html, name


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


def test_a_failing_model_fails_only_its_cells(tmp_path, demo_sources):
    workdir = copy_workflow(tmp_path)
    catalog = yaml.safe_load((workdir / "config" / "models.yaml").read_text())
    catalog["models"]["broken"] = {"backend": "open_clip", "weights": "local-dir:/nonexistent/weights",
                                   "display_name": "Broken"}
    (workdir / "config" / "models.yaml").write_text(yaml.safe_dump(catalog))
    config = {"models": ["random", "broken"], "tasks": ["demo_skimage_ihc", "demo_stardist_he"]}
    (workdir / "config" / "failing.yaml").write_text(yaml.safe_dump(config))

    result = _snakemake(workdir, "-c2", "--configfile", "config/failing.yaml")
    assert result.returncode != 0  # the sweep says something failed …
    tables = workdir / "results" / "tables"
    rows = {r["key"]: r for r in csv.DictReader(open(tables / "table1.csv"))}
    assert rows["random"]["status"] == "ok" and rows["random"]["tasks"] == "2"  # … the rest finished
    assert rows["broken"]["failed_tasks"] == "2" and "demo_skimage_ihc" in rows["broken"]["status"]
    cells = list(csv.DictReader(open(tables / "task_by_question_type.csv")))
    broken = [c for c in cells if c["key"] == "broken"]
    assert len(broken) == 2 and all(c["status"] == "failed" and "does not exist" in c["reason"] for c in broken)
    assert "Broken" in (tables / "table1.md").read_text()

    status = subprocess.run([sys.executable, "-m", "mubench.cli", "status", "results", "--config",
                             "config/failing.yaml"], cwd=workdir, capture_output=True, text=True, env=workflow_env())
    assert "done=2" in status.stdout and "failed=2" in status.stdout
    assert re.search(r"failed\s+broken\s+demo_skimage_ihc\s+WeightsError: model 'broken'", status.stdout)

    # The next run retries exactly the failed cells, and succeeds once the weights are there.
    plan = _snakemake(workdir, "-n", "--configfile", "config/failing.yaml")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", plan.stdout, flags=re.M))
    assert counts.get("evaluate") == "2"
    assert "results/random/" not in "".join(l for l in plan.stdout.splitlines() if "output:" in l)
    catalog["models"]["broken"] = {"backend": "random", "weights": "none", "display_name": "Broken"}
    (workdir / "config" / "models.yaml").write_text(yaml.safe_dump(catalog))
    fixed = _snakemake(workdir, "-c2", "--configfile", "config/failing.yaml")
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    rows = {r["key"]: r for r in csv.DictReader(open(tables / "table1.csv"))}
    assert rows["broken"]["status"] == "ok" and rows["broken"]["tasks"] == "2"
