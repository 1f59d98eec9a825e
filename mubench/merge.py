"""Merge per-job score.json files into the paper's tables.

Table 1 pools every question of a group (coarse = the five coarse question types, fine =
classification) across tasks, exactly as the paper does, with the seeded bootstrap CI. The
counts in score.json are all that pooling needs, so merging never rereads predictions.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from mubench.errors import DataError
from mubench.metrics import bootstrap_ci
from mubench.protocol import COARSE_QUESTION_TYPES, QUESTION_TYPES, question_group
from mubench.tables import markdown, pct, write_csv


@dataclass
class BootstrapSettings:
    n_resamples: int = 9999
    confidence_level: float = 0.95
    seed: int = 0
    engine: str = "binomial"


def load_scores(paths: list[str | Path]) -> list[dict]:
    scores = []
    for path in paths:
        try:
            scores.append(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read job result {path}: {exc}") from exc
    return scores


def table1(scores: list[dict], boot: BootstrapSettings, cognition_tasks=frozenset()) -> list[dict]:
    """One row per model: pooled coarse and fine accuracy ± CI, in first-seen model order. Questions
    of ``cognition_tasks`` (a user-supplied cognition set; the paper's is not public) form a third
    group, "cognition", instead of counting as coarse or fine."""
    # per model and group: [official correct, questions, parsed correct, constrained correct, unparsable]
    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0, 0]))
    generative = set()
    info, tasks, failed = {}, defaultdict(set), defaultdict(list)
    for score in scores:
        model = score["model"]
        info.setdefault(model, score["model_info"])
        groups[model]  # keep first-seen order, even for a model whose every cell failed
        if is_failed(score):
            failed[model].append(score["task"])
            continue
        tasks[model].add(score["task"])
        for qtype, counts in score["per_question_type"].items():
            cell = groups[model]["cognition" if score["task"] in cognition_tasks else question_group(qtype)]
            cell[0] += counts["correct"]
            cell[1] += counts["questions"]
            if "correct_constrained" in counts:
                generative.add(model)
                cell[2] += counts["correct_parsed"]
                cell[3] += counts["correct_constrained"]
                cell[4] += counts["unparsable"]
    rows = []
    for model, by_group in groups.items():
        row = {"model": info[model]["display_name"], "key": model, "type": info[model]["model_type"],
               "tasks": len(tasks[model]), "failed_tasks": len(failed[model]),
               "status": f"{len(failed[model])} task(s) failed: {', '.join(sorted(failed[model]))}"
               if failed[model] else "ok"}
        for group in ("coarse", "fine", *(("cognition",) if cognition_tasks else ())):
            correct, total, parsed, constrained, unparsable = by_group.get(group, (0, 0, 0, 0, 0))
            if model in generative and total:
                row.update({f"{group}_parsed": pct(parsed / total), f"{group}_constrained": pct(constrained / total),
                            f"{group}_unparsable_rate": pct(unparsable / total)})
            ci = bootstrap_ci(correct, total, n_resamples=boot.n_resamples,
                              confidence_level=boot.confidence_level, seed=boot.seed, engine=boot.engine)
            row.update({f"{group}_questions": total, f"{group}_correct": correct,
                        f"{group}_accuracy": pct(ci.accuracy), f"{group}_ci_low": pct(ci.low),
                        f"{group}_ci_high": pct(ci.high), f"{group}_pm": pct(ci.plus_minus),
                        group: f"{pct(ci.accuracy)} ± {pct(ci.plus_minus)}" if total else "n/a"})
        rows.append(row)
    return rows


def is_failed(score: dict) -> bool:
    return score.get("status") == "failed"


def task_by_question_type(scores: list[dict]) -> list[dict]:
    rows = []
    for score in scores:
        if is_failed(score):
            rows.append({"model": score["model_info"]["display_name"], "key": score["model"], "task": score["task"],
                         "status": "failed", "reason": f"{score['error']['kind']}: {score['error']['message']}"[:300]})
            continue
        row = {"model": score["model_info"]["display_name"], "key": score["model"], "task": score["task"],
               "questions": score["counts"]["questions"], "errors": score["counts"]["errors"],
               "overall": pct(score["accuracy"]), "status": "ok", "reason": ""}
        for qtype in QUESTION_TYPES:
            counts = score["per_question_type"].get(qtype)
            row[qtype] = pct(counts["accuracy"]) if counts else ""
        rows.append(row)
    return rows


TABLE1_CSV = ["model", "key", "type", "status", "tasks", "failed_tasks", "coarse_accuracy", "coarse_pm", "coarse_ci_low",
              "coarse_ci_high", "coarse_questions", "coarse_correct", "fine_accuracy", "fine_pm", "fine_ci_low",
              "fine_ci_high", "fine_questions", "fine_correct",
              # generative models only: the extra, clearly named metrics beside the official one
              "coarse_parsed", "fine_parsed", "coarse_constrained", "fine_constrained", "coarse_unparsable_rate",
              "fine_unparsable_rate",
              # only with a user-supplied cognition set (config cognition_tasks)
              "cognition_accuracy", "cognition_pm", "cognition_ci_low", "cognition_ci_high", "cognition_questions",
              "cognition_correct"]
TASK_COLUMNS = ["model", "key", "task", "status", "questions", "errors", "overall", *QUESTION_TYPES, "reason"]


def merge(score_paths: list[str | Path], out_dir: str | Path, boot: BootstrapSettings | None = None,
          cognition_tasks=frozenset()) -> dict:
    boot = boot or BootstrapSettings()
    scores = load_scores(score_paths)
    if not scores:
        raise DataError("nothing to merge: no score.json given")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t1 = table1(scores, boot, frozenset(cognition_tasks))
    write_csv(out / "table1.csv", t1, TABLE1_CSV)
    caption = (f"Pooled accuracy (%) ± half-width of the {int(boot.confidence_level * 100)}% bootstrap CI "
               f"(basic, {boot.n_resamples} resamples, seed {boot.seed}, engine {boot.engine}). "
               f"Coarse = {', '.join(COARSE_QUESTION_TYPES)}; fine = classification.\n\n")
    columns, headers = ["model", "type", "coarse", "fine", "tasks"], ["Model", "Type", "Coarse", "Fine", "Tasks"]
    if cognition_tasks:
        columns.insert(4, "cognition")
        headers.insert(4, "Cognition")
        caption += f"Cognition = the user-supplied set ({', '.join(sorted(cognition_tasks))}).\n\n"
    if any("coarse_constrained" in row for row in t1):
        caption += ("Coarse and Fine are the paper's official check for every model. For generative models, "
                    "'parsed' uses a robust letter/option parser (unparsable answers count as wrong; their rate "
                    "is shown) and 'constrained' restricts the answer to the option letters.\n\n")
        columns += ["coarse_parsed", "fine_parsed", "coarse_constrained", "fine_constrained", "coarse_unparsable_rate"]
        headers += ["Coarse (parsed)", "Fine (parsed)", "Coarse (constrained)", "Fine (constrained)",
                    "Unparsable % (coarse)"]
    if any(row["failed_tasks"] for row in t1):
        caption += "Pooled numbers of a model with failed tasks cover only its finished tasks.\n\n"
        columns, headers = columns + ["status"], headers + ["Status"]
    (out / "table1.md").write_text(caption + markdown(t1, columns, headers))
    per_task = task_by_question_type(scores)
    write_csv(out / "task_by_question_type.csv", per_task, TASK_COLUMNS)
    (out / "task_by_question_type.md").write_text(
        "Accuracy (%) per model, task and question type.\n\n" + markdown(per_task, [c for c in TASK_COLUMNS if c != "key"]))
    summary = {"bootstrap": vars(boot), "table1": t1, "jobs": len(scores),
               "failed": [{"model": s["model"], "task": s["task"], **s["error"]} for s in scores if is_failed(s)],
               "models": sorted({s["model"] for s in scores}), "tasks": sorted({s["task"] for s in scores})}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
