"""Weight interpolation θ(α) on tiny random models: the ends reproduce their parents exactly, the
middle differs from both, and pairs that cannot be interpolated are refused before any evaluation."""

import csv
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file, save_file

from mubench.build import build_model
from mubench.catalog import Catalog
from mubench.errors import ConfigError
from mubench.evaluate import evaluate
from mubench.interpolate import InterpolationError, check_compatible, interpolate, pair_from_config
from tests.conftest import copy_workflow, workflow_env, write_catalog

RECIPES = {"open_clip": ("open_clip_config", "open_clip_model.safetensors"),
           "transformers": ("transformers_clip_config", "model.safetensors")}


def _entries(root: Path, backend: str, config: dict | None = None, ft_config: dict | None = None) -> dict:
    kind = RECIPES[backend][0]
    return {name: {"backend": backend, "display_name": name, "weights": f"local-dir:{root}/{name}",
                   "build": {"kind": kind, "seed": seed, "config": cfg or {}}}
            for name, seed, cfg in (("base", 0, config), ("ft", 3, ft_config))}


def _built_catalog(root: Path, entries: dict) -> Catalog:
    root.mkdir(parents=True, exist_ok=True)
    path = write_catalog(root, entries)
    catalog = Catalog.load(path)
    for name in entries:
        build_model(catalog.get(name))
    return catalog


def _predictions(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("backend", sorted(RECIPES))
def test_alpha_ends_reproduce_their_parents_exactly(backend, tmp_path, demo_data):
    catalog = _built_catalog(tmp_path, _entries(tmp_path, backend))
    pair = pair_from_config({"name": "mix", "base": "base", "finetuned": "ft", "alphas": [0, 0.5, 1]}, catalog)
    weights_file = RECIPES[backend][1]
    results = {}
    for alpha in pair.alphas:
        folder = tmp_path / pair.derived_name(alpha)
        manifest = interpolate(pair, alpha, folder)
        assert manifest["alpha"] == alpha and manifest["parents"]["base"]["model"] == "base"
        assert (folder / "catalog.yaml").exists() and (folder / weights_file).exists()
        results[alpha] = folder
    base_state = load_file(str(tmp_path / "base" / weights_file))
    ft_state = load_file(str(tmp_path / "ft" / weights_file))
    mid_state = load_file(str(results[0.5] / weights_file))
    assert all(torch.equal(base_state[k], t) for k, t in load_file(str(results[0.0] / weights_file)).items())
    assert all(torch.equal(ft_state[k], t) for k, t in load_file(str(results[1.0] / weights_file)).items())
    floats = [k for k, t in base_state.items() if t.is_floating_point()]
    torch.testing.assert_close(mid_state[floats[0]], (base_state[floats[0]] + ft_state[floats[0]]) / 2)

    task = "demo_skimage_ihc"
    runs = {}
    for name, catalog_path in [("base", str(tmp_path / "models.yaml")), ("ft", str(tmp_path / "models.yaml"))] + [
            (pair.derived_name(a), str(results[a] / "catalog.yaml")) for a in pair.alphas]:
        out = tmp_path / "runs" / name
        evaluate(model=name, task=task, catalog_path=catalog_path, data_dir=str(demo_data), out_dir=str(out),
                 device="cpu")
        runs[name] = _predictions(out)
    assert runs["mix-a0.00"] == runs["base"]  # predictions and every option score, exactly
    assert runs["mix-a1.00"] == runs["ft"]
    assert runs["base"] != runs["ft"]
    middle_scores = [p["scores"] for p in runs["mix-a0.50"]]
    assert middle_scores != [p["scores"] for p in runs["base"]]
    assert middle_scores != [p["scores"] for p in runs["ft"]]


def test_pairs_in_different_formats_are_refused_with_the_reason(tmp_path):
    entries = {"oc": {"backend": "open_clip", "display_name": "oc", "weights": "local-dir:/x"},
               "hf": {"backend": "transformers", "display_name": "hf", "weights": "local-dir:/y"},
               "rnd": {"backend": "random", "display_name": "rnd", "weights": "none"}}
    catalog = Catalog.load(write_catalog(tmp_path, entries))
    with pytest.raises(ConfigError, match=r"open_clip format .* transformers format.*not implemented"):
        pair_from_config({"name": "p", "base": "oc", "finetuned": "hf", "alphas": [0.5]}, catalog)
    with pytest.raises(ConfigError, match="backend 'random'"):
        pair_from_config({"name": "p", "base": "rnd", "finetuned": "oc", "alphas": [0.5]}, catalog)


def test_mismatched_architectures_keys_and_shapes_are_refused(tmp_path):
    wider = {"text_cfg": {"width": 96}}
    catalog = _built_catalog(tmp_path / "arch", _entries(tmp_path / "arch", "open_clip", ft_config=wider))
    with pytest.raises(InterpolationError, match=r"architectures differ .*text_cfg"):
        check_compatible(catalog.get("base"), catalog.get("ft"))

    catalog = _built_catalog(tmp_path / "keys", _entries(tmp_path / "keys", "transformers"))
    weights = tmp_path / "keys" / "ft" / "model.safetensors"
    state = load_file(str(weights))
    dropped = sorted(state)[0]
    save_file({k: v for k, v in state.items() if k != dropped}, str(weights))
    with pytest.raises(InterpolationError, match=rf"parameter names differ \(only in base: \['{dropped}'\]"):
        check_compatible(catalog.get("base"), catalog.get("ft"))

    reshaped = {k: (v.flatten() if k == dropped else v) for k, v in state.items()}
    save_file(reshaped, str(weights))
    with pytest.raises(InterpolationError, match=rf"1 tensors differ in dtype or shape \({dropped}"):
        check_compatible(catalog.get("base"), catalog.get("ft"))


def _interpolation_workflow(tmp_path, pair: dict, models: list[str]) -> Path:
    workdir = copy_workflow(tmp_path)
    catalog = yaml.safe_load((workdir / "config" / "models.yaml").read_text())
    catalog["models"]["demo-openclip-tiny-wide"] = {
        **catalog["models"]["demo-openclip-tiny"], "weights": "local-dir:resources/models/demo-openclip-tiny-wide",
        "build": {"kind": "open_clip_config", "seed": 9, "config": {"vision_cfg": {"width": 96}}}}
    (workdir / "config" / "models.yaml").write_text(yaml.safe_dump(catalog))
    config = {"models": models, "tasks": ["demo_skimage_ihc"], "interpolations": [pair]}
    (workdir / "config" / "interpolation.yaml").write_text(yaml.safe_dump(config))
    return workdir


def _snakemake(workdir):
    return subprocess.run([sys.executable, "-m", "snakemake", "-c2", "--configfile", "config/interpolation.yaml"],
                          cwd=workdir, env=workflow_env(), capture_output=True, text=True, timeout=900)


def test_workflow_sweeps_alpha_and_reports_it(tmp_path, demo_sources):
    pair = {"name": "tiny-mix", "base": "demo-openclip-tiny", "finetuned": "demo-openclip-tiny-ft",
            "alphas": [0, 0.5, 1]}
    workdir = _interpolation_workflow(tmp_path, pair, ["demo-openclip-tiny", "demo-openclip-tiny-ft"])
    result = _snakemake(workdir)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    results = workdir / "results"
    task = "demo_skimage_ihc"
    read = lambda model: (results / model / task / "predictions.jsonl").read_bytes()  # noqa: E731
    assert read("tiny-mix-a0.00") == read("demo-openclip-tiny")
    assert read("tiny-mix-a1.00") == read("demo-openclip-tiny-ft")
    assert read("tiny-mix-a0.50") not in (read("demo-openclip-tiny"), read("demo-openclip-tiny-ft"))
    manifest = json.loads((workdir / "resources" / "interpolated" / "tiny-mix-a0.50" / "interpolation.json").read_text())
    assert manifest["parents"]["finetuned"]["model"] == "demo-openclip-tiny-ft" and manifest["alpha"] == 0.5

    rows = list(csv.DictReader(open(results / "tables" / "interpolation.csv")))
    assert [(r["interpolation"], float(r["alpha"])) for r in rows] == [("tiny-mix", 0.0), ("tiny-mix", 0.5),
                                                                       ("tiny-mix", 1.0)]
    for row in rows:  # the table's numbers are the pooled counts of the job's own score.json
        score = json.loads((results / row["model"] / task / "score.json").read_text())
        assert float(row["overall"]) == pytest.approx(score["counts"]["correct"] / score["counts"]["questions"])
        assert float(row["pathology"]) == pytest.approx(float(row["overall"]))  # an H&E task: pathology
    image = Image.open(results / "plots" / "interpolation.png")
    assert image.format == "PNG" and image.size[0] > 1000
    svg_text = " ".join(t for t in ET.parse(results / "plots" / "interpolation.svg").getroot().itertext())
    assert "tiny-mix" in svg_text or "tiny-mix" in (results / "plots" / "interpolation.svg").read_text()


def test_workflow_refuses_a_mismatched_pair_before_any_evaluation(tmp_path, demo_sources):
    pair = {"name": "bad-mix", "base": "demo-openclip-tiny", "finetuned": "demo-openclip-tiny-wide",
            "alphas": [0.5]}
    workdir = _interpolation_workflow(tmp_path, pair, ["random"])
    result = _snakemake(workdir)
    assert result.returncode != 0
    log = (workdir / "results" / "logs" / "interpolation" / "bad-mix" / "check.log").read_text()
    assert "refused, the architectures differ" in log and "vision_cfg" in log
    assert not list((workdir / "results").glob("*/*/score.json"))  # not even the random baseline ran


def test_sweep_rows_pool_counts_by_hand():
    from mubench.interpolation_report import sweep_rows

    def score(model, task, coarse, fine):  # (correct, questions) per group
        return {"model": model, "task": task, "status": "ok",
                "counts": {"correct": coarse[0] + fine[0], "questions": coarse[1] + fine[1]},
                "per_question_type": {"domain": {"correct": coarse[0], "questions": coarse[1]},
                                      "classification": {"correct": fine[0], "questions": fine[1]}}}

    scores = [score("p-a0.00", "kather_et_al_2016", (3, 4), (1, 2)), score("p-a0.00", "held_et_al_2010_h2b", (1, 4), (0, 2)),
              score("p-a1.00", "kather_et_al_2016", (4, 4), (2, 2)), score("p-a1.00", "held_et_al_2010_h2b", (0, 4), (0, 2)),
              score("other-a0.50", "kather_et_al_2016", (0, 4), (0, 2))]
    rows = {r["alpha"]: r for r in sweep_rows(scores, ["p"])}
    assert sorted(rows) == [0.0, 1.0]  # another sweep's models are not mixed in
    assert rows[0.0]["overall"] == pytest.approx(5 / 12) and rows[0.0]["coarse"] == pytest.approx(4 / 8)
    assert rows[0.0]["fine"] == pytest.approx(1 / 4) and rows[0.0]["pathology"] == pytest.approx(4 / 6)
    assert rows[1.0]["pathology"] == pytest.approx(1.0) and rows[1.0]["non_pathology"] == pytest.approx(0.0)
