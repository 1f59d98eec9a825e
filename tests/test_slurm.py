"""The workflow on a real single-node SLURM cluster (scripts/slurm-cluster.sh; started by
scripts/test.sh and CI): every model × task job is an sbatch job with its catalog GPU request."""

import csv
import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO, copy_workflow, workflow_env


@pytest.fixture(scope="module")
def slurm():
    if shutil.which("sinfo") is None or subprocess.run(["sinfo"], capture_output=True).returncode != 0:
        pytest.fail("no SLURM cluster: run `bash scripts/slurm-cluster.sh start` (scripts/test.sh does)")


def _slurm_workflow(tmp_path, gpus: dict[str, int], tasks: list[str]):
    workdir = copy_workflow(tmp_path)
    shutil.copytree(REPO / "profiles", workdir / "profiles")
    catalog = yaml.safe_load((workdir / "config" / "models.yaml").read_text())
    for model, count in gpus.items():
        catalog["models"][model]["resources"]["gpus"] = count
    (workdir / "config" / "models-test.yaml").write_text(yaml.safe_dump(catalog))
    config = {"catalog": "config/models-test.yaml", "models": list(gpus), "tasks": tasks}
    (workdir / "config" / "slurm-test.yaml").write_text(yaml.safe_dump(config))
    return workdir


def _jobs_by_comment() -> dict[str, list[dict]]:
    """Every job slurmctld still remembers (MinJobAge=600), keyed by Snakemake's job comment."""
    out = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True).stdout
    jobs = {}
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        jobs.setdefault(fields.get("Comment", ""), []).append(fields)
    return jobs


def test_demo_sweep_runs_as_sbatch_jobs_with_gpu_requests(slurm, tmp_path, demo_sources):
    gpus = {"random": 1, "demo-openclip-tiny": 2}
    tasks = ["demo_skimage_ihc", "demo_stardist_he"]
    workdir = _slurm_workflow(tmp_path, gpus, tasks)
    result = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", "--configfile",
                             "config/slurm-test.yaml", "--slurm-init-seconds-before-status-checks", "1"],
                            cwd=workdir, env=workflow_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    submitted = dict(re.findall(r"rule_evaluate_wildcards_(\S+?)_(demo_\w+)", result.stdout + result.stderr))
    jobs = _jobs_by_comment()
    for model, count in gpus.items():
        for task in tasks:
            records = jobs.get(f"rule_evaluate_wildcards_{model}_{task}")
            assert records, f"no sbatch job for {model} × {task} (submitted: {submitted})"
            record = records[-1]
            assert record["JobState"] == "COMPLETED"
            assert record.get("TresPerJob") == f"gres:gpu:{count}", record
    table = list(csv.DictReader(open(workdir / "results" / "tables" / "task_by_question_type.csv")))
    assert {(r["key"], r["task"]) for r in table} == {(m, t) for m in gpus for t in tasks}


def test_sigint_cancels_jobs_and_a_rerun_finishes_only_what_is_missing(slurm, tmp_path, demo_sources):
    import os
    import signal
    import time

    gpus = {"demo-openclip-tiny": 1, "demo-clip-tiny": 1}
    tasks = ["demo_dsb2018_nuclei", "demo_skimage_cell", "demo_skimage_ihc", "demo_stardist_he"]
    workdir = _slurm_workflow(tmp_path, gpus, tasks)
    command = [sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", "--configfile",
               "config/slurm-test.yaml", "--slurm-init-seconds-before-status-checks", "1"]
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(command, cwd=workdir, env=workflow_env(), stdout=log, stderr=subprocess.STDOUT)
    scores = lambda: sorted(workdir.glob("results/*/*/score.json"))  # noqa: E731
    deadline = time.time() + 600
    while time.time() < deadline and first.poll() is None and not scores():
        time.sleep(0.5)
    assert first.poll() is None and scores(), "no evaluation job finished before the deadline"
    done_before = set(scores())
    os.kill(first.pid, signal.SIGINT)
    first.wait(timeout=300)
    log.close()
    time.sleep(2)
    queue = subprocess.run(["squeue", "-h", "-o", "%k"], capture_output=True, text=True).stdout
    assert "rule_evaluate" not in queue, f"jobs left running after SIGINT:\n{queue}"
    done_at_interrupt = set(scores())
    assert len(done_at_interrupt) < len(gpus) * len(tasks)

    rerun = subprocess.run(command, cwd=workdir, env=workflow_env(), capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-3000:]
    output = rerun.stdout + rerun.stderr
    resubmitted = set(re.findall(r"rule_evaluate_wildcards_(\S+?_demo_\w+?)[\s/]", output))
    finished = {f"{p.parent.parent.name}_{p.parent.name}" for p in done_before}
    assert not resubmitted & finished, f"finished cells were recomputed: {resubmitted & finished}"
    assert len(set(scores())) == len(gpus) * len(tasks)


def test_stage_runs_on_the_login_node_not_as_sbatch_jobs(slurm, tmp_path, demo_sources):
    workdir = _slurm_workflow(tmp_path, {"random": 1, "demo-openclip-tiny": 1}, ["demo_skimage_ihc"])
    result = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", "stage",
                             "--configfile", "config/slurm-test.yaml"],
                            cwd=workdir, env=workflow_env(), capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    for rule in ("stage_weights", "prepare", "build_demo_data"):
        assert re.search(rf"^local(rule|checkpoint) {rule}:", output, flags=re.M), rule
    assert not any("stage" in comment or "prepare" in comment for comment in _jobs_by_comment())
    staged = json.loads((workdir / "results" / ".staged" / "demo-openclip-tiny.json").read_text())
    assert staged["staged"] is False and "nothing to download" in staged["reason"]  # built by the workflow
    assert (workdir / "results" / "data" / "manifest.json").exists()


def test_a_failing_cell_keeps_its_log_and_the_others_finish(slurm, tmp_path, demo_sources):
    tasks = ["demo_skimage_ihc", "demo_stardist_he"]
    workdir = _slurm_workflow(tmp_path, {"random": 1}, tasks)
    catalog = yaml.safe_load((workdir / "config" / "models-test.yaml").read_text())
    catalog["models"]["broken"] = {"backend": "open_clip", "weights": "local-dir:/nonexistent/weights",
                                   "display_name": "Broken", "resources": {"gpus": 1}}
    (workdir / "config" / "models-test.yaml").write_text(yaml.safe_dump(catalog))
    config = yaml.safe_load((workdir / "config" / "slurm-test.yaml").read_text())
    config["models"] = ["random", "broken"]
    (workdir / "config" / "slurm-test.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", "--configfile",
                             "config/slurm-test.yaml", "--slurm-init-seconds-before-status-checks", "1"],
                            cwd=workdir, env=workflow_env(), capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode != 0  # the sweep reports the failure …
    assert "Error in rule sweep_status" in output and "results/logs/sweep_status.log" in output
    status_log = (workdir / "results" / "logs" / "sweep_status.log").read_text()
    assert re.search(r"failed\s+broken\s+demo_skimage_ihc\s+WeightsError", status_log)
    # SLURM's log of the failed job is kept (the plugin deletes only successful jobs' logs)
    slurm_logs = list((workdir / ".snakemake" / "slurm_logs" / "rule_sweep_status").glob("*.log"))
    assert slurm_logs and all("Error in rule sweep_status" in p.read_text() for p in slurm_logs)
    jobs = _jobs_by_comment()
    for task in tasks:
        # … each failing cell's own log holds the traceback …
        log = (workdir / "results" / "logs" / "evaluate" / "broken" / f"{task}.log").read_text()
        assert "Traceback" in log and "/nonexistent/weights" in log
        # … and with keep-going the healthy cells still ran as their own jobs
        record = jobs[f"rule_evaluate_wildcards_random_{task}"][-1]
        assert record["JobState"] == "COMPLETED"
        assert json.loads((workdir / "results" / "random" / task / "score.json").read_text())["status"] == "ok"


def test_small_jobs_pack_into_one_allocation(slurm, tmp_path, demo_sources):
    """Job packing (profiles/slurm/config.yaml, PACKING): four cells, one sbatch job with one GPU."""
    tasks = ["demo_dsb2018_nuclei", "demo_skimage_cell", "demo_skimage_ihc", "demo_stardist_he"]
    workdir = _slurm_workflow(tmp_path, {"random": 1}, tasks)
    packing = ["--groups", "evaluate=pack", "--group-components", "pack=4", "--resources", "gpu=1",
               "--set-resource-scopes", "gpu=local"]
    result = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", "--configfile",
                             "config/slurm-test.yaml", "--slurm-init-seconds-before-status-checks", "1", *packing],
                            cwd=workdir, env=workflow_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    job_ids = {json.loads((workdir / "results" / "random" / task / "score.json").read_text())["provenance"]
               ["slurm_job_id"] for task in tasks}
    assert len(job_ids) == 1 and None not in job_ids, job_ids
    out = subprocess.run(["scontrol", "show", "job", job_ids.pop(), "--oneliner"], capture_output=True,
                         text=True).stdout
    assert "TresPerJob=gres:gpu:1" in out, out
