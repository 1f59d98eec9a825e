"""Shared figure plumbing: headless matplotlib, every figure written as PNG and SVG, reproducibly."""

from __future__ import annotations

from pathlib import Path


def new_figure(rows: int, cols: int, panel: tuple[float, float] = (5.0, 3.6)):
    """A grid of panels sized per panel, so figures stay readable as rows are added."""
    import matplotlib

    matplotlib.use("Agg")  # compute nodes and CI have no display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(panel[0] * cols, panel[1] * rows), squeeze=False,
                             layout="constrained")
    return fig, axes


def save_figure(fig, stem: Path) -> list[Path]:
    import matplotlib
    import matplotlib.pyplot as plt

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    # No timestamps, a fixed SVG id salt: the same results give byte-identical figures.
    matplotlib.rcParams["svg.hashsalt"] = "mubench"
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: searchable, and checked by the tests
    fig.savefig(paths[0], dpi=150, metadata={"Software": None})
    fig.savefig(paths[1], metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return paths


def _short(label: str, limit: int = 40) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "…"


def heatmap(by_task, stem: Path) -> list[Path]:
    return save_figure(heatmap_figure(by_task), stem)


def heatmap_figure(by_task):
    """Model × task accuracy (the by_task table); values printed in cells while they stay legible."""
    import numpy as np

    tasks = by_task.columns[1:]
    models = [row["model"] for row in by_task.rows]
    values = np.array([[row.get(task) if row.get(task) is not None else np.nan for task in tasks]
                       for row in by_task.raw], dtype=float)
    fig, axes = new_figure(1, 1, panel=(4.5 + 0.42 * len(tasks), 1.8 + 0.28 * len(models)))
    ax = axes[0][0]
    image = ax.imshow(values * 100, vmin=0, vmax=100, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(tasks)), [_short(t, 32) for t in tasks], rotation=90, fontsize=8)
    ax.set_yticks(range(len(models)), [_short(m) for m in models], fontsize=8)
    if len(models) * len(tasks) <= 400:
        for (i, j), value in np.ndenumerate(values):
            if value == value:
                ax.text(j, i, f"{100 * value:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if value < 0.6 else "black")
    ax.set_title("Accuracy (%) per model and task")
    fig.colorbar(image, ax=ax, label="accuracy (%)", shrink=0.8)
    return fig


def bars_with_ci(table1_rows: list[dict], stem: Path) -> list[Path]:
    return save_figure(bars_figure(table1_rows), stem)


def bars_figure(table1_rows: list[dict]):
    """Coarse and fine accuracy per model with their bootstrap CIs, best coarse first."""
    rows = [r for r in table1_rows if r.get("coarse_questions") or r.get("fine_questions")]
    rows.sort(key=lambda r: float(r.get("coarse_accuracy") or 0))
    fig, axes = new_figure(1, 1, panel=(7.5, 1.2 + 0.36 * max(len(rows), 1)))
    ax = axes[0][0]
    height = 0.38
    for offset, group, color in ((-height / 2, "coarse", "tab:blue"), (height / 2, "fine", "tab:orange")):
        accuracy = [float(r[f"{group}_accuracy"] or "nan") for r in rows]
        low = [a - float(r[f"{group}_ci_low"] or "nan") for a, r in zip(accuracy, rows)]
        high = [float(r[f"{group}_ci_high"] or "nan") - a for a, r in zip(accuracy, rows)]
        ax.barh([i + offset for i in range(len(rows))], accuracy, height=height, xerr=[low, high],
                color=color, label=group, capsize=2, error_kw={"elinewidth": 0.8})
    ax.set_yticks(range(len(rows)), [_short(r["model"]) for r in rows], fontsize=8)
    ax.set(xlabel="accuracy (%) with 95% bootstrap CI", xlim=(0, 100), title="Coarse and fine accuracy")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def accuracy_vs_size(table1_rows: list[dict], params_m: dict, stem: Path) -> list[Path]:
    return save_figure(size_figure(table1_rows, params_m), stem)


def size_figure(table1_rows: list[dict], params_m: dict):
    """Accuracy against parameter count (catalog `params_m`); models without a size are left out."""
    rows = [r for r in table1_rows if params_m.get(r["key"])]
    fig, axes = new_figure(1, 1, panel=(7.0, 4.6))
    ax = axes[0][0]
    if not rows:
        ax.text(0.5, 0.5, "no model in this sweep has a size (catalog params_m)", ha="center", va="center",
                transform=ax.transAxes)
    for group, marker in (("coarse", "o"), ("fine", "s")):
        points = [(params_m[r["key"]], float(r[f"{group}_accuracy"])) for r in rows if r.get(f"{group}_accuracy")]
        if points:
            ax.scatter(*zip(*points), marker=marker, label=group, alpha=0.8)
    if rows and len(rows) <= 20:  # beyond that, names would cover the points
        for r in rows:
            if r.get("coarse_accuracy"):
                ax.annotate(_short(r["model"], 20), (params_m[r["key"]], float(r["coarse_accuracy"])),
                            textcoords="offset points", xytext=(4, 3), fontsize=7)
    if rows:
        ax.set_xscale("log")
        ax.legend(fontsize=8)
    ax.set(xlabel="parameters (millions, log scale)", ylabel="accuracy (%)", ylim=(0, 100),
           title="Accuracy against model size")
    return fig


def overlapping_tick_labels(fig) -> list[tuple[str, str]]:
    """Pairs of tick labels (same axis) whose drawn boxes intersect: unreadable labels."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    clashes = []
    for ax in fig.axes:
        for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels if t.get_text()]
            for i, (name_a, a) in enumerate(boxes):
                for name_b, b in boxes[i + 1:]:
                    if a.overlaps(b) and a.intersection(a, b).width > 1 and a.intersection(a, b).height > 1:
                        clashes.append((name_a, name_b))
    return clashes
