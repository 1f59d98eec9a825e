"""Where weights come from: local folders, or hub repos pinned to a revision.

Compute nodes are offline (HF_HUB_OFFLINE=1): a hub id then resolves only from the local cache,
and a miss fails at once with a message naming the model and what to stage.
"""

from __future__ import annotations

from pathlib import Path

from mubench.errors import WeightsError


LOCAL_PREFIX = "local-dir:"


def is_local(weights: str) -> bool:
    return weights.startswith((LOCAL_PREFIX, "/", "./", "../")) or Path(weights).exists()


def strip_local_prefix(weights: str) -> str:
    return weights[len(LOCAL_PREFIX):] if weights.startswith(LOCAL_PREFIX) else weights


def revision_of_snapshot(folder: Path) -> str | None:
    """Hub snapshots live in .../snapshots/<commit>/: the commit actually loaded."""
    return folder.name if folder.parent.name == "snapshots" else None


def local_path(spec, path: str) -> Path:
    folder = Path(path)
    if not folder.exists():
        hint = " (it is built by the workflow's build_model rule)" if spec.build else ""
        raise WeightsError(f"model '{spec.name}': weights folder {folder} does not exist{hint}")
    return folder


def hub_snapshot(spec, repo_id: str) -> Path:
    """Local folder of ``repo_id`` at the pinned revision (download unless offline)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise WeightsError(f"model '{spec.name}': huggingface_hub is needed for {repo_id}") from exc
    try:
        return Path(snapshot_download(repo_id=repo_id, revision=spec.revision))
    except Exception as exc:  # hub errors have many types; all mean "not available here"
        raise WeightsError(
            f"model '{spec.name}': weights {repo_id}@{spec.revision or 'main'} are not available "
            f"({type(exc).__name__}: {exc}). Stage them on a machine with internet first "
            "(`huggingface-cli download`), or point the catalog entry at a local folder."
        ) from exc
