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


def test_core_definition_installs_mubench():
    """spython parses only docker bootstraps; core.def (debootstrap) is read by the SIF builder's parser."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("sif_builder", REPO / "scripts" / "build_sif_without_apptainer.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    header, sections = builder.parse_definition(REPO / "containers" / "core.def")
    assert header["bootstrap"] == "debootstrap" and "python3" in header["include"]
    copied = {line.split()[0] for line in sections["files"] if line.strip()}
    assert {"mubench", "pyproject.toml"} <= copied
    post = "\n".join(sections["post"])
    assert "pip install" in post and "/opt/mubench[hub,demo]" in post and "/usr/local/bin/mubench" in post
    assert "HF_HUB_OFFLINE=1" in "\n".join(sections["environment"])
    assert "org.mubench.runtime core" in "\n".join(sections["labels"])


# ---- the containerised path, run for real through a SIF image -------------------------------------
# Apptainer itself cannot be installed here: the image is built with
# scripts/build_sif_without_apptainer.py and run by tests/doubles/apptainer, a TEST DOUBLE that
# implements the two calls Snakemake makes (`apptainer --version`, `apptainer exec`) with bubblewrap.

import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import yaml  # noqa: E402

from tests.conftest import copy_workflow, workflow_env  # noqa: E402

DOUBLES = REPO / "tests" / "doubles"


def _image_inputs_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted([REPO / "containers" / "core.def", REPO / "pyproject.toml",
                        REPO / "scripts" / "build_sif_without_apptainer.py", *REPO.glob("mubench/**/*.py"),
                        *REPO.glob("mubench/schemas/*.yaml")]):
        digest.update(path.relative_to(REPO).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:12]


@pytest.fixture(scope="session")
def core_sif() -> Path:
    """containers/core.def as a real SIF image (rebuilt when mubench or the definition changes)."""
    image = REPO / ".cache" / "containers" / f"core-{_image_inputs_hash()}.sif"
    if not image.exists():
        for old in image.parent.glob("core-*.sif"):
            old.unlink()
        subprocess.run([sys.executable, str(REPO / "scripts" / "build_sif_without_apptainer.py"),
                        str(REPO / "containers" / "core.def"), str(image), "--pip-cache",
                        str(REPO / ".cache" / "pip-sif")], check=True, capture_output=True, timeout=1200)
    return image


def test_the_sif_image_holds_the_definition_and_a_squashfs_root(core_sif):
    listing = subprocess.run(["siftool", "list", str(core_sif)], capture_output=True, text=True, check=True).stdout
    assert "Def.FILE" in listing and "FS (Squashfs/*System/amd64)" in listing
    definition = subprocess.run(["siftool", "dump", "1", str(core_sif)], capture_output=True, text=True,
                                check=True).stdout
    assert definition == (REPO / "containers" / "core.def").read_text()


def test_the_apptainer_double_runs_commands_inside_the_image(core_sif, tmp_path):
    env = {**os.environ, "PATH": f"{DOUBLES}:{os.environ['PATH']}"}
    version = subprocess.run(["apptainer", "--version"], env=env, capture_output=True, text=True, check=True)
    assert version.stdout.strip().split()[-1] == "1.3.6"
    probe = ("echo $(readlink -f $(command -v mubench)) $HF_HUB_OFFLINE; mubench --version; "
             "/opt/venv/bin/python -c 'import torch' 2>/dev/null || echo no-torch; echo x > written")
    result = subprocess.run(["apptainer", "exec", "--home", str(tmp_path), str(core_sif), "bash", "-c", probe],
                            cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[0] == "/opt/venv/bin/mubench 1"  # the image's mubench and its %environment
    assert lines[1].startswith("mubench ") and lines[2] == "no-torch"
    assert (tmp_path / "written").read_text() == "x\n"  # the home/working directory is bound read-write
    refused = subprocess.run(["apptainer", "build", "x.sif", "x.def"], env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "test double" in refused.stderr


def _containerised_workflow(tmp_path, image: Path) -> Path:
    workdir = copy_workflow(tmp_path)
    shutil.copytree(REPO / "profiles", workdir / "profiles")
    config = {"models": ["random"], "tasks": ["demo_skimage_ihc", "demo_stardist_he"],
              "containers": {"core": str(image)}}
    (workdir / "config" / "container-test.yaml").write_text(yaml.safe_dump(config))
    return workdir


@pytest.mark.parametrize("executor", ["local", "slurm"])
def test_workflow_rules_run_inside_the_image(core_sif, tmp_path, demo_sources, executor):
    """Every rule of the sweep runs in the SIF through Snakemake's apptainer mode, locally and as sbatch jobs."""
    if executor == "slurm" and subprocess.run(["sinfo"], capture_output=True).returncode != 0:
        pytest.fail("no SLURM cluster: run `bash scripts/slurm-cluster.sh start` (scripts/test.sh does)")
    workdir = _containerised_workflow(tmp_path, core_sif)
    env = workflow_env()
    env["PATH"] = f"{DOUBLES}:{env['PATH']}"
    mode = (["--profile", "profiles/slurm", "--slurm-init-seconds-before-status-checks", "1"]
            if executor == "slurm" else ["-c2"])
    # the demo sources are a symlink into the checkout: bind its target like any shared data folder
    command = [sys.executable, "-m", "snakemake", *mode, "--configfile", "config/container-test.yaml",
               "--sdm", "apptainer", "--apptainer-args", f"--bind {demo_sources.resolve()}"]
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    scores = sorted(workdir.glob("results/random/*/score.json"))
    assert len(scores) == 2
    for path in scores:
        provenance = json.loads(path.read_text())["provenance"]
        assert provenance["container"] == str(core_sif)
        assert provenance["container_runtime"] == "apptainer-test-double"
        assert "torch" not in provenance["libraries"]  # the image's environment, not the host venv's
        assert (provenance["slurm_job_id"] is not None) == (executor == "slurm")
    summary = json.loads((workdir / "results" / "tables" / "summary.json").read_text())
    assert summary["jobs"] == 2
