"""Planning and merging at sweep scale, side by side in one run.

  plan   : `snakemake -n` for 50 models × 22 tasks (1,100 evaluation jobs) vs 1 model × 1 task
           (goal: the sweep plans in < 10 s)
  merge  : `mubench merge` of 1,100 score.json files with realistic μ-Bench question counts,
           binomial bootstrap engine (goal < 5 s); beside it, the paper's literal scipy call on
           the same pooled counts for a subset of models, to show what the engine saves.
Run: .venv/bin/python bench/plan_and_merge.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.common import timed  # noqa: E402
from mubench.merge import BootstrapSettings, merge  # noqa: E402
from mubench.metrics import bootstrap_ci  # noqa: E402
from mubench.protocol import COARSE_QUESTION_TYPES, PAPER_DATASETS, QUESTION_TYPES  # noqa: E402
from tests.conftest import copy_workflow, workflow_env  # noqa: E402

TASKS = [t for t in PAPER_DATASETS if t != "held_et_al_2010_mt"]


def plan_seconds(workdir: Path, n_models: int, tasks: list[str]) -> float:
    catalog = {"models": {f"model-{i:02d}": {"backend": "open_clip", "weights": "ViT-B-32",
                                             "pretrained": "laion2b_s34b_b79k"} for i in range(n_models)}}
    name = f"sweep-{n_models}x{len(tasks)}"
    (workdir / "config" / f"{name}-models.yaml").write_text(yaml.safe_dump(catalog))
    config = {"catalog": f"config/{name}-models.yaml", "models": sorted(catalog["models"]), "tasks": tasks,
              "data": {"source": "local", "path": "/data/ubench"}}
    (workdir / "config" / f"{name}.yaml").write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-q", "--configfile", f"config/{name}.yaml",
                             "-c1"], cwd=workdir, env=workflow_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(result.stderr[-2000:])
    return elapsed


def synthetic_scores(folder: Path, n_models: int) -> list[Path]:
    """score.json files shaped like real ones: ≈733 rows per task, ≈3,620 coarse questions."""
    rng = np.random.default_rng(0)
    paths = []
    for m in range(n_models):
        skill = rng.uniform(0.2, 0.6)
        for task in TASKS:
            rows = int(rng.integers(400, 1100))
            per_qtype = {}
            for qtype in QUESTION_TYPES:
                n = rows if qtype != "stain" or task != "nirschl_unpub_fluorescence" else 0
                k = int(rng.binomial(n, skill)) if n else 0
                if n:
                    per_qtype[qtype] = {"group": "coarse" if qtype in COARSE_QUESTION_TYPES else "fine",
                                        "questions": n, "correct": k, "errors": 0, "accuracy": k / n}
            n_total = sum(v["questions"] for v in per_qtype.values())
            k_total = sum(v["correct"] for v in per_qtype.values())
            score = {"model": f"model-{m:02d}", "task": task, "accuracy": k_total / n_total,
                     "counts": {"questions": n_total, "correct": k_total, "errors": 0},
                     "per_question_type": per_qtype,
                     "model_info": {"display_name": f"Model {m:02d}", "model_type": "contrastive"}}
            path = folder / f"model-{m:02d}" / task / "score.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(score))
            paths.append(path)
    return paths


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="mubench-bench-"))
    workdir = work / "wf"
    workdir.mkdir()
    copy_workflow(workdir)
    plan_small = min(plan_seconds(workdir, 1, TASKS[:1]) for _ in range(2))
    plan_sweep = min(plan_seconds(workdir, 50, TASKS) for _ in range(2))

    paths = synthetic_scores(work / "results", 50)
    merge_seconds, summary = timed(merge, paths, work / "tables", BootstrapSettings(engine="binomial"))
    pooled = [(r["coarse_correct"], r["coarse_questions"]) for r in summary["table1"][:3]]
    binomial_s, _ = timed(lambda: [bootstrap_ci(k, n, engine="binomial") for k, n in pooled])
    scipy_s, _ = timed(lambda: [bootstrap_ci(k, n, engine="scipy") for k, n in pooled])
    print(json.dumps({
        "plan_seconds": {"1x1": round(plan_small, 2), "50x22": round(plan_sweep, 2)},
        "plan_ratio_sweep_vs_single": round(plan_sweep / plan_small, 2),
        "merge_jobs": len(paths),
        "merge_seconds_binomial": round(merge_seconds, 2),
        "coarse_questions_per_model": pooled[0][1],
        "ci_seconds_3_models": {"binomial": round(binomial_s, 3), "scipy": round(scipy_s, 2)},
        "ci_speedup_binomial_vs_scipy": round(scipy_s / binomial_s, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
