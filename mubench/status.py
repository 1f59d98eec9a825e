"""`mubench status`: the state of every model × task cell of a results directory.

done     score.json with status ok
failed   score.json with status failed (the reason is shown)
partial  a journal exists: the cell was started and stopped (progress = rows journaled / rows)
missing  planned by the config but not started
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from mubench.journal import read_progress

JOURNAL_DIR = ".journal"


def journal_path(results: Path, model: str, task: str) -> Path:
    return Path(results) / JOURNAL_DIR / model / f"{task}.jsonl"


def _planned(config_path: str | None, results: Path) -> set[tuple[str, str]]:
    if not config_path:
        return set()
    from mubench.workflow import load_workflow_config

    config, plan = load_workflow_config(config_path)
    tasks = plan.tasks
    manifest = results / "data" / "manifest.json"
    if tasks is None and manifest.exists():
        tasks = sorted(json.loads(manifest.read_text())["tasks"])
    return set(plan.jobs(tasks or []))


def sweep_status(results: Path, config_path: str | None = None) -> dict:
    results = Path(results)
    manifest_path = results / "data" / "manifest.json"
    rows = json.loads(manifest_path.read_text())["tasks"] if manifest_path.exists() else {}
    cells = {}
    for score_path in results.glob("*/*/score.json"):
        try:
            score = json.loads(score_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        key = (score_path.parent.parent.name, score_path.parent.name)
        if score.get("status") == "failed":
            cells[key] = {"state": "failed", "reason": f"{score['error']['kind']}: {score['error']['message']}"}
        else:
            cells[key] = {"state": "done", "accuracy": score.get("accuracy")}
    for journal in (results / JOURNAL_DIR).glob("*/*.jsonl"):
        key = (journal.parent.name, journal.stem)
        total = rows.get(key[1], {}).get("rows") or 0
        progress = {"rows_done": read_progress(journal), "rows": total}
        progress["progress"] = progress["rows_done"] / total if total else 0.0
        if key in cells and cells[key]["state"] == "failed":
            cells[key].update(progress)  # failed part-way: a retry resumes from here
        elif key not in cells:
            cells[key] = {"state": "partial", **progress}
    for key in _planned(config_path, results) - set(cells):
        cells[key] = {"state": "missing"}
    ordered = [{"model": m, "task": t, **cells[(m, t)]} for m, t in sorted(cells)]
    return {"results": str(results), "cells": ordered, "counts": dict(Counter(c["state"] for c in ordered))}
