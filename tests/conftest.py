import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from mubench.catalog import ModelSpec

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, ModelSpec]:
    """Real open_clip and transformers CLIP architectures with random weights, built offline."""
    from mubench.build import build_model

    root = tmp_path_factory.mktemp("models")
    specs = {
        "open_clip": ModelSpec(name="tiny-openclip", backend="open_clip", display_name="tiny open_clip",
                               weights=f"local-dir:{root}/tiny-openclip",
                               build={"kind": "open_clip_config", "seed": 0, "config": {}}),
        "transformers": ModelSpec(name="tiny-clip", backend="transformers", display_name="tiny CLIP",
                                  weights=f"local-dir:{root}/tiny-clip",
                                  build={"kind": "transformers_clip_config", "seed": 1, "config": {}}),
    }
    for spec in specs.values():
        build_model(spec)
    return specs


@pytest.fixture(scope="session")
def tiny_vlms(tmp_path_factory) -> dict[str, Path]:
    """Tiny Qwen2-VL and Qwen2.5-VL checkpoints (random weights, locally trained tokenizer)."""
    from mubench.build import build_model

    root = tmp_path_factory.mktemp("vlms")
    folders = {}
    for kind in ("qwen2_vl_config", "qwen2_5_vl_config"):
        spec = ModelSpec(name=kind, backend="vllm", display_name=kind, weights=f"local-dir:{root}/{kind}",
                         build={"kind": kind, "seed": 0, "config": {}})
        folders[kind] = build_model(spec)
    return folders


def write_catalog(folder: Path, entries: dict) -> str:
    """A model catalog holding just ``entries``; returns its path."""
    path = Path(folder) / "models.yaml"
    path.write_text(json.dumps({"models": entries}))
    return str(path)


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory, demo_sources) -> Path:
    """The demo dataset, built and prepared once per test session."""
    from mubench.data.demo import build_demo
    from mubench.data.prepare import prepare

    root = tmp_path_factory.mktemp("demo")
    build_demo(root / "ubench", demo_sources)
    prepare("demo", str(root / "ubench"), root / "data")
    return root / "data"


@pytest.fixture(scope="session")
def demo_sources() -> Path:
    folder = REPO / ".cache" / "demo-sources"
    if not list(folder.glob("stardist-*.whl")):
        pytest.fail(f"{folder} has no stardist wheel: run scripts/setup-env.sh first")
    return folder


def workflow_env() -> dict:
    """The environment Snakemake runs rules in: this interpreter's scripts (`mubench`) first on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}


def copy_workflow(dest: Path) -> Path:
    """A fresh copy of the workflow (Snakefile, rules, config) to run Snakemake in isolation."""
    for name in ("Snakefile", "rules", "config"):
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, dest / name)
    (dest / ".cache").mkdir()
    (dest / ".cache" / "demo-sources").symlink_to(REPO / ".cache" / "demo-sources")
    return dest


# A skipped test is not a passed test: any skip fails the run (CI must exercise every suite).
_SKIPPED = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if _SKIPPED and session.exitstatus == 0:
        print(f"\nmubench: {len(_SKIPPED)} test(s) skipped, which this project counts as failure: {_SKIPPED}")
        session.exitstatus = 1
