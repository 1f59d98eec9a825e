"""Offline staging: `snakemake stage` fills the hub cache on the login node; evaluation jobs run with
the hub offline and fail at once, naming the model, when a model was not staged."""

import re
import subprocess
import sys

import yaml

from mubench.catalog import ModelSpec
from mubench.weights import ensure_staged, hub_source, stage
from tests.conftest import REPO, copy_workflow, workflow_env, write_catalog

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _hub_spec(name="hubby", repo="mubench-test/tiny-clip", revision=COMMIT):
    return ModelSpec(name=name, backend="transformers", display_name=name, weights=repo, revision=revision)


def _fake_cache(hf_home, repo="mubench-test/tiny-clip", commit=COMMIT):
    """A hub cache laid out as huggingface_hub writes it (what `snakemake stage` leaves behind)."""
    folder = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    return snapshot


def test_hub_sources_come_from_the_catalog_entry():
    assert hub_source(_hub_spec()) == ("mubench-test/tiny-clip", None)
    openclip = ModelSpec(name="oc", backend="open_clip", display_name="oc", weights="ViT-B-32",
                         pretrained="laion2b_s34b_b79k")
    assert hub_source(openclip) == ("laion/CLIP-ViT-B-32-laion2B-s34B-b79K", ["open_clip_*"])
    biomed = ModelSpec(name="b", backend="open_clip", display_name="b", weights="hf-hub:org/biomed")
    assert hub_source(biomed) == ("org/biomed", None)
    for local in (ModelSpec(name="r", backend="random", display_name="r", weights="none"),
                  ModelSpec(name="l", backend="open_clip", display_name="l", weights="local-dir:/x"),
                  ModelSpec(name="g", backend="openai", display_name="g", weights="gpt-4o")):
        assert hub_source(local) is None


def test_staged_weights_resolve_offline_and_are_described(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _fake_cache(tmp_path)
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    record = stage(_hub_spec())
    assert record["staged"] and record["commit"] == COMMIT and record["files"] == 1
    ensure_staged(_hub_spec())  # does not raise


def test_an_unstaged_model_fails_at_once_naming_it(tmp_path):
    catalog = write_catalog(tmp_path, {"hubby": {"backend": "transformers", "weights": "mubench-test/missing",
                                                 "revision": COMMIT, "display_name": "Hubby"}})
    env = {**workflow_env(), "HF_HOME": str(tmp_path / "empty-cache"), "HF_HUB_OFFLINE": "1"}
    # The data folder does not exist either: the staging check comes first, before any data or model load.
    result = subprocess.run([sys.executable, "-m", "mubench.cli", "evaluate", "--catalog", catalog,
                             "--model", "hubby", "--task", "any", "--data", str(tmp_path / "no-data"),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "model 'hubby'" in result.stderr and "mubench-test/missing@" + COMMIT in result.stderr
    assert "snakemake stage" in result.stderr
    assert not (tmp_path / "out" / "score.json").exists()


def test_stage_target_plans_data_and_every_models_weights(tmp_path):
    workdir = copy_workflow(tmp_path)
    (workdir / "profiles").symlink_to(REPO / "profiles")
    config = {"data": {"source": "hub"}, "models": ["clip-vit-b32", "openclip-vit-b32-laion2b", "random"],
              "tasks": ["kather_et_al_2016"]}
    (workdir / "config" / "stage.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--profile", "profiles/slurm",
                             "stage", "--configfile", "config/stage.yaml"], cwd=workdir, env=workflow_env(),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))
    assert counts.get("stage_weights") == "3" and counts.get("prepare") == "1"
    assert "evaluate" not in counts  # staging downloads; it evaluates nothing
