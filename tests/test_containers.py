"""Apptainer definition files: parsed with spython (Apptainer itself cannot be installed on the
CI machines), each must install mubench and its runtime family's backend."""

from pathlib import Path

import pytest
from spython.main.parse.parsers import SingularityParser

REPO = Path(__file__).resolve().parents[1]
FAMILIES = {"contrastive": ["open_clip", "transformers"], "generative": ["vllm", "transformers"]}


def _recipe(family):
    return SingularityParser(str(REPO / "containers" / f"{family}.def")).recipe["spython-base"]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_definition_installs_mubench_and_its_backends(family):
    recipe = _recipe(family)
    assert recipe.fromHeader, "no base image"
    copied = {entry.split()[0] for entry in recipe.files}
    assert {"mubench", "pyproject.toml", "envs/requirements.txt"} <= copied
    install = "\n".join(recipe.install)
    assert "-r /opt/mubench/envs/requirements.txt" in install and "pip install" in install
    assert "/opt/mubench" in install.replace("-r /opt/mubench/envs/requirements.txt", "")
    requirements = (REPO / "envs" / "requirements.txt").read_text()
    for module in FAMILIES[family]:
        # the backend comes from the base image (vllm) or the requirements (the others)
        assert module in recipe.fromHeader or module.replace("_", "-") in requirements, module
        # spython folds %test into /tests.sh lines at the end of the install steps
        tests = "\n".join(line for line in recipe.install if "/tests.sh" in line)
        assert module in tests, f"the image's %test does not import {module}"
    assert "HF_HUB_OFFLINE=1" in " ".join(recipe.environ)  # compute nodes run offline
    assert f"org.mubench.runtime {family}" in recipe.labels
