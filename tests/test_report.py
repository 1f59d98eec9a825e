"""Paper-grade tables, significance tests and figures, checked against numbers computed by hand from
a fixture small enough to count on one's fingers."""

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from mubench import plots
from mubench.merge import BootstrapSettings
from mubench.report import build_report
from mubench.significance import clustered_mcnemar, compare_models

# Two tasks, two images each, two questions per image (domain: coarse; classification: fine).
META = {"kather_et_al_2016": ("pathology", "light microscopy", "brightfield", "hematoxylin and eosin (H&E)"),
        "held_et_al_2010_h2b": ("biology", "fluorescence microscopy", "epifluorescence", "H2B-mCherry")}
ROWS = {"kather_et_al_2016": [(0, "k0"), (1, "k1")], "held_et_al_2010_h2b": [(2, "h0"), (3, "h1")]}
# correctness per image: (domain, classification)
CORRECT = {"model-a": {"k0": (1, 1), "k1": (1, 0), "h0": (1, 1), "h1": (0, 0)},
           "model-b": {"k0": (0, 1), "k1": (0, 0), "h0": (1, 0), "h1": (0, 0)}}
INFO = {"model-a": {"display_name": "Model A", "paper_name": "CLIP", "model_type": "contrastive", "params_m": 151},
        "model-b": {"display_name": "Model B", "paper_name": "Random", "model_type": "baseline", "params_m": 10}}


def _write_fixture(root: Path, cognition: bool = False) -> list[Path]:
    """With ``cognition``, a user-supplied cognition task: one image, A right and B wrong."""
    rows_by_task = {**ROWS, **({"user_cognition": [(4, "c0")]} if cognition else {})}
    meta = {**META, "user_cognition": ("biology", "light microscopy", "brightfield", "unstained")}
    correct = {model: {**by_image, "c0": (None, int(model == "model-a"))} for model, by_image in CORRECT.items()}
    data = root / "data"
    (data / "tasks").mkdir(parents=True)
    manifest = {"tasks": {}, "source": {"kind": "fixture"}}
    for task, rows in rows_by_task.items():
        domain, modality, submodality, stain = meta[task]
        pq.write_table(pa.table({"row_idx": [r for r, _ in rows], "domain": [domain] * len(rows),
                                 "modality": [modality] * len(rows), "submodality": [submodality] * len(rows),
                                 "stain": [stain] * len(rows)}), data / "tasks" / f"{task}.parquet")
        manifest["tasks"][task] = {"shard": f"tasks/{task}.parquet", "rows": len(rows), "domain": {domain: len(rows)}}
    (data / "manifest.json").write_text(json.dumps(manifest))
    paths = []
    for model, by_image in correct.items():
        for task, rows in rows_by_task.items():
            folder = root / "results" / model / task
            folder.mkdir(parents=True)
            lines, per_qtype = [], {}
            for row_idx, image in rows:
                for qtype, right in zip(("domain", "classification"), by_image[image]):
                    if right is None:
                        continue
                    lines.append(json.dumps({"row_idx": row_idx, "image_id": image, "question_type": qtype,
                                             "correct": bool(right)}))
                    cell = per_qtype.setdefault(qtype, {"questions": 0, "correct": 0, "errors": 0})
                    cell["questions"] += 1
                    cell["correct"] += right
            (folder / "predictions.jsonl").write_text("\n".join(lines) + "\n")
            score = {"model": model, "task": task, "status": "ok", "model_info": INFO[model],
                     "counts": {"questions": len(lines), "correct": sum(c["correct"] for c in per_qtype.values())},
                     "per_question_type": per_qtype, "task_info": manifest["tasks"][task],
                     "timings": {"total_s": 1.5}, "provenance": {"hostname": "node1", "git_hash": "abc"}}
            (folder / "score.json").write_text(json.dumps(score))
            paths.append(folder / "score.json")
    return paths


def _csv(path: Path) -> dict[str, dict]:
    return {row.get("model") or row.get("key"): row for row in csv.DictReader(open(path))}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    paths = _write_fixture(root)
    index = build_report(paths, root / "data", root / "report", BootstrapSettings(n_resamples=999))
    return root / "report", index


def test_breakdowns_match_hand_counts(report):
    out, _ = report
    t1 = {r["key"]: r for r in csv.DictReader(open(out / "tables" / "table1.csv"))}
    assert (t1["model-a"]["coarse_accuracy"], t1["model-a"]["fine_accuracy"]) == ("75.00", "50.00")  # 3/4, 2/4
    assert (t1["model-b"]["coarse_accuracy"], t1["model-b"]["fine_accuracy"]) == ("25.00", "25.00")  # 1/4, 1/4
    expected = {  # table: {model: {column: accuracy}}
        "by_question_type": {"model-a": {"domain": 0.75, "classification": 0.5},
                             "model-b": {"domain": 0.25, "classification": 0.25}},
        "by_task": {"model-a": {"kather_et_al_2016": 0.75, "held_et_al_2010_h2b": 0.5},
                    "model-b": {"kather_et_al_2016": 0.25, "held_et_al_2010_h2b": 0.25}},
        "by_domain": {"model-a": {"pathology": 0.75, "biology": 0.5}, "model-b": {"pathology": 0.25, "biology": 0.25}},
        "by_submodality": {"model-a": {"brightfield": 0.75, "epifluorescence": 0.5}},
        # kather_et_al_2016 is in both of the paper's slices; held is in neither
        "slices": {"model-a": {"pathology coarse": 1.0, "pathology fine": 0.5, "pathology overall": 0.75,
                               "H&E coarse": 1.0, "H&E fine": 0.5, "H&E overall": 0.75},
                   "model-b": {"pathology coarse": 0.0, "pathology fine": 0.5, "pathology overall": 0.25}},
    }
    for table, by_model in expected.items():
        rows = _csv(out / "tables" / f"{table}.csv")
        for model, values in by_model.items():
            for column, accuracy in values.items():
                assert float(rows[model][column]) == pytest.approx(accuracy), (table, model, column)
                low, high = float(rows[model][f"{column} ci_low"]), float(rows[model][f"{column} ci_high"])
                assert low <= accuracy <= high
    assert "biology" not in _csv(out / "tables" / "slices.csv")["model-a"]


def test_every_table_in_four_formats(report):
    out, index = report
    for name in index["tables"]:
        for ext in ("csv", "md", "tex", "html"):
            assert (out / "tables" / f"{name}.{ext}").stat().st_size > 0, f"{name}.{ext}"
    tex = (out / "tables" / "slices.tex").read_text()
    assert r"\toprule" in tex and r"H\&E coarse" in tex and r"$\pm$" in tex
    html = (out / "tables" / "slices.html").read_text()
    assert "<th>H&amp;E coarse</th>" in html and "<td>Model A</td>" in html
    assert "| Model A | 100.00 ± " in (out / "tables" / "slices.md").read_text()


def test_paper_comparison_and_ci_overlap(report):
    out, _ = report
    rows = {r["paper_name"]: r for r in csv.DictReader(open(out / "tables" / "paper_comparison.csv"))}
    clip = rows["CLIP"]  # 75.00 against the paper's 35.41 ± 0.34: far outside
    assert clip["coarse_paper"] == "35.41 ± 0.34" and clip["coarse_difference"] == "+39.59"
    assert clip["coarse_ci_overlap"] == "no"
    random = rows["Random"]  # 25.00 from 4 questions: a wide CI that reaches 18.34 ± 0.27
    assert random["coarse_difference"] == "+6.66" and random["coarse_ci_overlap"] == "yes"


def test_significance_is_paired_and_clustered_by_image(report):
    out, _ = report
    (row,) = list(csv.DictReader(open(out / "tables" / "significance.csv")))
    assert (row["model_a"], row["model_b"]) == ("model-a", "model-b")  # better model first
    assert (int(row["questions"]), int(row["images"])) == (8, 4)
    assert float(row["difference"]) == pytest.approx(5 / 8 - 2 / 8)
    # per image d = A − B correct: k0 1, k1 1, h0 1, h1 0 → X² = (Σd)² / Σd² = 9 / 3
    assert float(row["mcnemar_chi2"]) == pytest.approx(3.0)
    assert float(row["p_value"]) == pytest.approx(0.08326, abs=1e-4)  # χ²(1) tail at 3.0
    assert float(row["ci_low"]) <= 0.375 <= float(row["ci_high"])


def test_clustering_widens_the_interval():
    """Questions of one image answered alike: resampling images must not pretend they are independent."""
    rng = np.random.default_rng(0)
    per_image = rng.integers(0, 2, size=(200, 2))  # one outcome per image and model …
    correct = np.repeat(per_image, 6, axis=0)  # … shared by its six questions
    images = np.repeat(np.arange(200), 6)
    clustered = compare_models(["a", "b"], correct, images, n_resamples=2000)[0]
    naive = compare_models(["a", "b"], correct, np.arange(len(images)), n_resamples=2000)[0]
    assert (clustered.ci_high - clustered.ci_low) > 2 * (naive.ci_high - naive.ci_low)
    assert clustered_mcnemar(np.array([0, 0]))[1] == 1.0  # no discordant answers: no evidence


def test_figures_are_valid_images_naming_models_and_tasks(report):
    out, _ = report
    for name in ("heatmap", "bars", "size"):
        image = Image.open(out / "plots" / f"{name}.png")
        image.verify()
        text = " ".join(ET.parse(out / "plots" / f"{name}.svg").getroot().itertext())
        assert "Model A" in text and "Model B" in text, name
    heatmap_text = " ".join(ET.parse(out / "plots" / "heatmap.svg").getroot().itertext())
    assert "kather_et_al_2016" in heatmap_text and "held_et_al_2010_h2b" in heatmap_text


@pytest.mark.parametrize("n_models", [5, 50])
def test_figures_stay_readable_from_5_to_50_models(n_models):
    from mubench.tables import Table

    rng = np.random.default_rng(n_models)
    tasks = [f"dataset_{i:02d}_with_a_long_key" for i in range(22)]
    names = [f"model {i:02d} with a fairly long display name" for i in range(n_models)]
    raw = [{"model": n, **{t: float(rng.uniform(0.1, 0.9)) for t in tasks}} for n in names]
    table = Table("by_task", "", ["model", *tasks], ["Model", *tasks], [{"model": n} for n in names], raw)
    t1_rows = [{"model": n, "key": n, "coarse_questions": 100, "fine_questions": 50,
                **{f"{g}_{k}": f"{v:.2f}" for g in ("coarse", "fine")
                   for k, v in (("accuracy", 50.0), ("ci_low", 45.0), ("ci_high", 55.0))}} for n in names]
    for fig in (plots.heatmap_figure(table), plots.bars_figure(t1_rows),
                plots.size_figure(t1_rows, {n: 10 + i for i, n in enumerate(names)})):
        assert plots.overlapping_tick_labels(fig) == []
        height = fig.get_size_inches()[1]
        assert height < 25  # grows with the models, within what a page or screen shows


def test_a_user_supplied_cognition_set_forms_its_own_column(tmp_path):
    paths = _write_fixture(tmp_path, cognition=True)
    build_report(paths, tmp_path / "data", tmp_path / "report", BootstrapSettings(n_resamples=999),
                 cognition_tasks={"user_cognition"})
    t1 = {r["key"]: r for r in csv.DictReader(open(tmp_path / "report" / "tables" / "table1.csv"))}
    assert (t1["model-a"]["cognition_accuracy"], t1["model-b"]["cognition_accuracy"]) == ("100.00", "0.00")
    assert (t1["model-a"]["coarse_accuracy"], t1["model-a"]["fine_accuracy"]) == ("75.00", "50.00")  # unchanged
    assert "| Cognition |" in (tmp_path / "report" / "tables" / "table1.md").read_text()
    comparison = {r["paper_name"]: r for r in csv.DictReader(open(tmp_path / "report" / "tables" /
                                                                   "paper_comparison.csv"))}
    assert comparison["CLIP"]["cognition_paper"] == "28.00 ± 9.00"
    assert comparison["CLIP"]["cognition_difference"] == "+72.00"
