"""Where weights come from: local folders, or hub repos pinned to a revision.

Compute nodes are offline (HF_HUB_OFFLINE=1): a hub id then resolves only from the local cache,
and a miss fails at once with a message naming the model and what to stage.
"""

from __future__ import annotations

import os
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


def hub_snapshot(spec, repo_id: str, allow_patterns: list[str] | None = None) -> Path:
    """Local folder of ``repo_id`` at the pinned revision (download unless offline)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise WeightsError(f"model '{spec.name}': huggingface_hub is needed for {repo_id}") from exc
    try:
        return Path(snapshot_download(repo_id=repo_id, revision=spec.revision, allow_patterns=allow_patterns))
    except Exception as exc:  # hub errors have many types; all mean "not available here"
        raise WeightsError(
            f"model '{spec.name}': weights {repo_id}@{spec.revision or 'main'} are not available "
            f"({type(exc).__name__}: {exc}); {STAGE_HINT}, or point the catalog entry at a local folder."
        ) from exc


# ---- staging: compute nodes are offline, so the login node downloads everything first ----------

HUB_BACKENDS = ("open_clip", "transformers", "vllm", "transformers_generate")  # the others load nothing
STAGE_HINT = "run `snakemake stage` (or `mubench stage`) on a machine with internet first"


def hub_source(spec) -> tuple[str, list[str] | None] | None:
    """(hub repository, files or None for the whole snapshot) a catalog entry loads from; None when
    nothing comes from a hub (local folders, recipes built by the workflow, API models, baselines)."""
    weights = spec.weights or ""
    if spec.backend not in HUB_BACKENDS or spec.build or is_local(weights):
        return None
    if weights.startswith("hf-hub:"):
        return weights[len("hf-hub:"):], None
    if spec.backend == "open_clip":  # an architecture name plus a pretrained tag from open_clip's registry
        import open_clip

        config = open_clip.get_pretrained_cfg(weights, spec.pretrained or "")
        if not config.get("hf_hub"):
            raise WeightsError(f"model '{spec.name}': open_clip has no hub location for {weights}/"
                               f"{spec.pretrained}; stage it by hand and use a local-dir: entry")
        parts = config["hf_hub"].rstrip("/").split("/")
        # open_clip picks open_clip_model.safetensors or open_clip_pytorch_model.bin, whichever exists
        return "/".join(parts[:2]), ["/".join(parts[2:]) or "open_clip_*"]
    return weights, None


def stage(spec) -> dict:
    """Download a model's weights at its pinned revision into the hub cache; describe what is there."""
    source = hub_source(spec)
    if source is None:
        return {"model": spec.name, "staged": False, "reason": f"nothing to download ({spec.backend} "
                f"weights '{spec.weights}')"}
    repo_id, files = source
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo_id=repo_id, revision=spec.revision, allow_patterns=files))
    except Exception as exc:  # hub errors have many types; all mean "could not stage"
        raise WeightsError(f"model '{spec.name}': cannot download {repo_id}@{spec.revision or 'main'} "
                           f"({type(exc).__name__}: {exc})") from exc
    contents = sorted(p for p in folder.rglob("*") if p.is_file())
    return {"model": spec.name, "staged": True, "repo_id": repo_id, "revision": spec.revision,
            "commit": revision_of_snapshot(folder), "folder": str(folder),
            "files": len(contents), "bytes": sum(p.stat().st_size for p in contents)}


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def ensure_staged(spec) -> None:
    """Fail at once, naming the model, when its hub weights are not in the local cache (offline runs)."""
    source = hub_source(spec)
    if source is None:
        return
    repo_id, files = source
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(repo_id=repo_id, revision=spec.revision, allow_patterns=files, local_files_only=True)
    except Exception as exc:
        raise WeightsError(f"model '{spec.name}': weights {repo_id}@{spec.revision or 'main'} are not staged "
                           f"in the hub cache ({type(exc).__name__}); {STAGE_HINT}") from exc
