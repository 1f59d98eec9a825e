import json
import subprocess
import sys

import pytest
import yaml

from mubench.config import validate_config
from mubench.errors import ConfigError
from mubench.workflow import plan_from_config
from tests.conftest import copy_workflow, workflow_env


def test_schema_fills_defaults():
    config = validate_config({"models": ["random"]})
    assert config["data"]["source"] == "demo"
    assert config["data"]["include_extra_datasets"] is False
    assert config["tasks"] == "all"
    assert config["bootstrap"] == {"n_resamples": 9999, "confidence_level": 0.95, "seed": 0, "engine": "binomial"}


@pytest.mark.parametrize("config,culprit", [
    ({"models": ["random"], "modles": ["x"]}, "modles"),
    ({"models": ["random"], "data": {"source": "s3"}}, "data/source"),
    ({"models": ["random"], "bootstrap": {"n_resamples": 5}}, "bootstrap/n_resamples"),
    ({"models": ["random"], "tasks": "some"}, "tasks"),
])
def test_schema_errors_name_the_key(config, culprit):
    with pytest.raises(ConfigError, match=culprit):
        validate_config(config)


def test_unknown_model_and_task_are_named(repo, monkeypatch):
    monkeypatch.chdir(repo)
    with pytest.raises(ConfigError, match="'no-such-model'"):
        plan_from_config({"models": ["random", "no-such-model"]})
    with pytest.raises(ConfigError, match="kather_et_al_2099"):
        plan_from_config({"models": ["random"], "data": {"source": "hub"}, "tasks": ["kather_et_al_2099"]})


def test_unknown_backend_is_named(tmp_path):
    catalog = tmp_path / "models.yaml"
    catalog.write_text(yaml.safe_dump({"models": {"m": {"backend": "tensorflow", "weights": "x"}}}))
    with pytest.raises(ConfigError, match="'tensorflow'"):
        plan_from_config({"models": ["m"], "catalog": str(catalog)})


def test_snakemake_refuses_a_bad_config_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path)
    (workdir / "config" / "bad.yaml").write_text(yaml.safe_dump({"models": ["random", "clip-vit-b99"]}))
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", "config/bad.yaml", "-c1"],
                            cwd=workdir, env=workflow_env(), capture_output=True, text=True)
    assert result.returncode != 0
    assert "clip-vit-b99" in result.stdout + result.stderr
    assert not (workdir / "results").exists()


def test_cli_validate_reports_the_plan(repo):
    result = subprocess.run([sys.executable, "-m", "mubench.cli", "validate", "config/config.yaml",
                             "--set", "tasks=[demo_skimage_ihc, demo_stardist_he]"], cwd=repo,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    models = yaml.safe_load((repo / "config" / "config.yaml").read_text())["models"]
    assert json.loads(result.stdout)["jobs"] == 2 * len(models)
    bad = subprocess.run([sys.executable, "-m", "mubench.cli", "validate", "config/config.yaml",
                          "--set", "tasks=[demo_nope]"], cwd=repo, capture_output=True, text=True)
    assert bad.returncode == 2 and "demo_nope" in bad.stderr and "Traceback" not in bad.stderr


def test_catalog_covers_the_papers_models(repo):
    from mubench.catalog import Catalog

    catalog = Catalog.load(repo / "config" / "models.yaml")
    paper = {spec.paper_name for spec in catalog.models.values() if spec.paper_name}
    assert {"CLIP", "OpenCLIP", "BiomedCLIP", "PLIP", "QuiltNet", "CONCH", "ALIGN", "Random", "GPT-4o",
            "PaliGemma"} <= paper
    for spec in catalog.models.values():
        if spec.model_type == "generative" and spec.backend in ("vllm", "transformers_generate") and not spec.build:
            assert spec.resources["gpus"] >= 1, spec.name
            assert "/" in spec.weights, spec.name  # a hub id: ORG/NAME
    assert catalog.get("gpt-4o").options["api_key_env"] == "OPENAI_API_KEY"  # the key itself is never stored
