"""Accuracy against α for each weight-interpolation sweep, plus the paper's Fig. 4 view
(μ-Bench accuracy against pathology accuracy), as tables (CSV, Markdown) and a plot (PNG, SVG)."""

from __future__ import annotations

import re
from pathlib import Path

from mubench.merge import is_failed, load_scores
from mubench.protocol import PATHOLOGY_SLICE, question_group
from mubench.tables import markdown, write_csv

COLUMNS = ["interpolation", "alpha", "model", "tasks", "questions", "overall", "coarse", "fine", "pathology",
           "non_pathology", "failed_tasks"]


def task_domain(score: dict) -> str:
    """A μ-Bench dataset holds one domain; the majority guards against a stray row."""
    domains = score.get("task_info", {}).get("domain") or {}
    return max(domains, key=domains.get) if domains else "unknown"


def pathology_test(scores: list[dict]):
    """The paper's pathology slice (its task list) on μ-Bench; each task's domain on other data."""
    if any(s["task"] in PATHOLOGY_SLICE for s in scores):
        return lambda s: s["task"] in PATHOLOGY_SLICE
    return lambda s: task_domain(s) == "pathology"


def _pooled(pairs: list[tuple[int, int]]) -> float | None:
    correct, total = sum(c for c, _ in pairs), sum(t for _, t in pairs)
    return correct / total if total else None


def sweep_rows(scores: list[dict], pair_names: list[str]) -> list[dict]:
    rows = []
    is_pathology = pathology_test(scores)
    for pair in pair_names:
        pattern = re.compile(rf"^{re.escape(pair)}-a(\d+\.\d\d)$")
        by_alpha: dict[float, list[dict]] = {}
        for score in scores:
            match = pattern.match(score["model"])
            if match:
                by_alpha.setdefault(float(match.group(1)), []).append(score)
        for alpha in sorted(by_alpha):
            cells = by_alpha[alpha]
            ok = [s for s in cells if not is_failed(s)]
            group = {"coarse": [], "fine": []}
            for s in ok:
                for qtype, info in s["per_question_type"].items():
                    group.setdefault(question_group(qtype), []).append((info["correct"], info["questions"]))
            rows.append({
                "interpolation": pair, "alpha": alpha, "model": cells[0]["model"], "tasks": len(ok),
                "questions": sum(s["counts"]["questions"] for s in ok),
                "overall": _pooled([(s["counts"]["correct"], s["counts"]["questions"]) for s in ok]),
                "coarse": _pooled(group["coarse"]), "fine": _pooled(group["fine"]),
                "pathology": _pooled([(s["counts"]["correct"], s["counts"]["questions"]) for s in ok
                                      if is_pathology(s)]),
                "non_pathology": _pooled([(s["counts"]["correct"], s["counts"]["questions"]) for s in ok
                                          if not is_pathology(s)]),
                "failed_tasks": len(cells) - len(ok)})
    return rows


def _fmt(value):
    return "" if value is None else value  # CSV keeps full precision; the Markdown table rounds


def plot(rows: list[dict], stem: Path) -> list[Path]:
    from mubench.plots import new_figure, save_figure

    pairs = sorted({r["interpolation"] for r in rows})
    fig, axes = new_figure(len(pairs), 2, panel=(5.2, 3.8))
    for row_axes, pair in zip(axes, pairs):
        sweep = [r for r in rows if r["interpolation"] == pair]
        alphas = [r["alpha"] for r in sweep]
        left, right = row_axes
        for metric, style in (("overall", "-o"), ("coarse", "--s"), ("fine", ":^"), ("pathology", "-.d")):
            values = [r[metric] for r in sweep]
            if any(v is not None for v in values):
                left.plot(alphas, [float("nan") if v is None else v for v in values], style, label=metric)
        left.set(title=f"{pair}: accuracy against α", xlabel="α (0 = base, 1 = fine-tuned)",
                 ylabel="accuracy", ylim=(0, 1), xlim=(-0.03, 1.03))
        left.legend(fontsize=8, loc="best")
        points = [(r["pathology"], r["overall"], r["alpha"]) for r in sweep
                  if r["pathology"] is not None and r["overall"] is not None]
        if points:
            right.plot([p[0] for p in points], [p[1] for p in points], "-o", color="tab:purple")
            for x, y, alpha in points:
                right.annotate(f"α={alpha:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        else:
            right.text(0.5, 0.5, "no pathology task in this sweep", ha="center", va="center",
                       transform=right.transAxes)
        right.set(title=f"{pair}: μ-Bench vs pathology (paper Fig. 4)", xlabel="pathology accuracy",
                  ylabel="μ-Bench accuracy (all tasks)", xlim=(0, 1), ylim=(0, 1))
    return save_figure(fig, stem)


def interpolation_report(score_paths: list[str | Path], pair_names: list[str], tables_dir: str | Path,
                         plots_dir: str | Path) -> list[dict]:
    rows = sweep_rows(load_scores(score_paths), pair_names)
    tables_dir, plots_dir = Path(tables_dir), Path(plots_dir)
    tables_dir.mkdir(parents=True, exist_ok=True)
    write_csv(tables_dir / "interpolation.csv", [{k: _fmt(r[k]) for k in COLUMNS} for r in rows], COLUMNS)
    shown = [{k: (f"{r[k]:.2f}" if k == "alpha" else f"{100 * r[k]:.1f}" if isinstance(r[k], float) else _fmt(r[k]))
              for k in COLUMNS} for r in rows]
    (tables_dir / "interpolation.md").write_text(
        "Accuracy (%) of θ(α) = (1−α)·θ_base + α·θ_fine-tuned, pooled over tasks.\n\n"
        + markdown(shown, COLUMNS))
    plot(rows, plots_dir / "interpolation")
    return rows
