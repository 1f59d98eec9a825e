"""A per-model disk cache of text features, shared by all of that model's jobs.

Every task asks the same five coarse questions, so a sweep would otherwise encode the same
captions once per task. Entries are keyed by the model's fingerprint (catalog entry, resolved
revision, weight files, device and precision) and the text; each is one small .npy file written
atomically, so concurrent jobs on a shared filesystem can fill the cache safely.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np


def model_fingerprint(spec, runtime: dict, weights_dir: Path | None) -> str:
    parts = {"model": spec.provenance(), "runtime": {k: runtime.get(k) for k in ("device", "autocast_dtype",
                                                                                 "resolved_revision")}}
    if weights_dir is not None and weights_dir.is_dir():
        parts["files"] = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                                for p in weights_dir.iterdir() if p.is_file())
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


class TextFeatureCache:
    def __init__(self, folder: Path, fingerprint: str):
        self.folder = Path(folder) / fingerprint
        self.folder.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0

    def _path(self, text: str) -> Path:
        return self.folder / f"{hashlib.sha256(text.encode()).hexdigest()}.npy"

    def get(self, text: str) -> np.ndarray | None:
        try:
            value = np.load(self._path(text))
        except (OSError, ValueError):  # absent, or a partial file from a killed writer
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, text: str, features: np.ndarray) -> None:
        path = self._path(text)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as handle:
            np.save(handle, features.astype(np.float32))
        os.replace(tmp, path)
