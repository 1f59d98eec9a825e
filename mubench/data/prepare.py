"""``mubench prepare``: μ-Bench rows → one Arrow shard per task plus a manifest.

Applies the protocol's normalisation (docs/protocol.md): Held et al. rows are named from their
stain, the datasets outside the paper are excluded unless asked for, null questions are not
counted, and every row is keyed by its index in the source (``image_id`` is not unique).
Rows are streamed batch by batch, so memory stays bounded whatever the size of the release.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from mubench import __version__
from mubench.data.layout import iter_shard_batches, list_shards, read_sha256sums, verify_shards, StreamWriter
from mubench.errors import DataError
from mubench.protocol import (EXTRA_DATASETS, HUB_REPO_ID, HUB_REVISION, HUB_SHARD_SHA256, QUESTION_TYPES,
                              dataset_from_stain)

log = logging.getLogger(__name__)
MANIFEST_VERSION = 1


@dataclass
class TaskStats:
    rows: int = 0
    questions: Counter = field(default_factory=Counter)
    domain: Counter = field(default_factory=Counter)
    modality: Counter = field(default_factory=Counter)
    submodality: Counter = field(default_factory=Counter)

    def as_dict(self, shard: str) -> dict:
        return {"rows": self.rows, "shard": shard, "questions": dict(sorted(self.questions.items())),
                "domain": dict(self.domain), "modality": dict(self.modality),
                "submodality": dict(self.submodality)}


def fetch_hub_snapshot(revision: str = HUB_REVISION, cache_dir: str | None = None) -> Path:
    """Download the release at a pinned revision (login node only; compute nodes run offline)."""
    from huggingface_hub import snapshot_download

    folder = snapshot_download(repo_id=HUB_REPO_ID, repo_type="dataset", revision=revision,
                               allow_patterns=["*.arrow", "*.json"], cache_dir=cache_dir)
    return Path(folder)


def resolve_source(source: str, path: str | None, revision: str) -> tuple[Path, dict[str, str] | None]:
    """Folder of shards and the checksums they must match (None: nothing to verify against)."""
    if source == "hub":
        folder = Path(path) if path else fetch_hub_snapshot(revision)
        return folder, (HUB_SHARD_SHA256 if revision == HUB_REVISION else None)
    if source in ("local", "parquet", "demo"):
        if not path:
            raise DataError(f"data source '{source}' needs a path")
        return Path(path), read_sha256sums(Path(path))
    raise DataError(f"unknown data source '{source}' (expected hub, local, parquet or demo)")


def prepare(source: str, path: str | None, out_dir: Path, revision: str = HUB_REVISION,
            include_extra: bool = False, verify: bool = True, batch_rows: int = 256) -> dict:
    started = time.time()
    folder, expected = resolve_source(source, path, revision)
    shards = list_shards(folder)
    checksums = verify_shards(shards, expected) if (verify and expected) else {}
    if verify and source == "hub" and not expected:
        log.warning("no published checksums for revision %s; shards not verified", revision)

    out_dir = Path(out_dir)
    tasks_dir = out_dir / "tasks"
    if tasks_dir.exists():
        shutil.rmtree(tasks_dir)
    tasks_dir.mkdir(parents=True)

    writers: dict[str, StreamWriter] = {}
    stats: dict[str, TaskStats] = defaultdict(TaskStats)
    dropped = Counter()
    held_resolved = 0
    unknown_qtypes = Counter()
    row_offset = 0
    for shard in shards:
        for batch in iter_shard_batches(shard, batch_rows):
            keys, held = _resolve_keys(batch)
            held_resolved += held
            batch = _with_row_index(batch, row_offset, keys)
            row_offset += batch.num_rows
            for key in sorted(set(keys), key=lambda k: (k is None, k or "")):
                if key is None:
                    dropped["unresolved_dataset"] += keys.count(None)
                    continue
                if key in EXTRA_DATASETS and not include_extra:
                    dropped[key] += keys.count(key)
                    continue
                part = batch.filter(pa.array([k == key for k in keys]))
                if key not in writers:
                    writers[key] = StreamWriter(tasks_dir / f"{key}.arrow", part.schema)
                writers[key].write(part)
                _count(part, stats[key], unknown_qtypes)
    for writer in writers.values():
        writer.close()

    if unknown_qtypes:
        log.warning("unknown question types (not scored, counted in the manifest): %s", dict(unknown_qtypes))
    manifest = _manifest(source, folder, revision, shards, checksums, row_offset, stats, dropped,
                         held_resolved, unknown_qtypes, include_extra, time.time() - started)
    tmp = out_dir / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    tmp.replace(out_dir / "manifest.json")
    return manifest


def _resolve_keys(batch: pa.RecordBatch) -> tuple[list[str | None], int]:
    datasets = batch.column("dataset").to_pylist()
    stains = batch.column("stain").to_pylist()
    keys, held = [], 0
    for dataset, stain in zip(datasets, stains):
        if dataset is None:
            dataset = dataset_from_stain(stain)
            held += dataset is not None
        keys.append(dataset)
    return keys, held


def _with_row_index(batch: pa.RecordBatch, offset: int, keys: list[str | None]) -> pa.RecordBatch:
    """Add ``row_idx`` (the row's position in the release) and write back resolved keys.
    Columns are reused, not copied: the image column is most of the bytes."""
    names = [n for n in batch.schema.names if n != "row_idx"]
    arrays = [pa.array(keys, pa.string()) if n == "dataset" else batch.column(n) for n in names]
    fields = [batch.schema.field(n).with_type(pa.string()) if n == "dataset" else batch.schema.field(n) for n in names]
    row_idx = pa.array(range(offset, offset + batch.num_rows), pa.int64())
    return pa.RecordBatch.from_arrays(arrays + [row_idx], schema=pa.schema(fields + [pa.field("row_idx", pa.int64())]))


def _count(part: pa.RecordBatch, stats: TaskStats, unknown_qtypes: Counter) -> None:
    stats.rows += part.num_rows
    questions = part.column("questions")
    for qtype in questions.type:
        name = qtype.name
        column = pc.struct_field(questions, name)
        n_present = len(column) - column.null_count
        if name in QUESTION_TYPES:
            stats.questions[name] += n_present
        elif n_present:
            unknown_qtypes[name] += n_present
    for attr in ("domain", "modality", "submodality"):
        if attr in part.schema.names:
            getattr(stats, attr).update(v for v in part.column(attr).to_pylist() if v is not None)


def _manifest(source, folder, revision, shards, checksums, rows_read, stats, dropped, held_resolved,
              unknown_qtypes, include_extra, seconds) -> dict:
    per_qtype = Counter()
    for task_stats in stats.values():
        per_qtype.update(task_stats.questions)
    coarse = sum(n for q, n in per_qtype.items() if q != "classification")
    return {
        "manifest_version": MANIFEST_VERSION,
        "mubench_version": __version__,
        "source": {"kind": source, "path": str(folder), "revision": revision if source == "hub" else None,
                   "shards": [s.name for s in shards]},
        "checksums_verified": checksums,
        "include_extra_datasets": include_extra,
        "rows_read": rows_read,
        "rows_kept": sum(s.rows for s in stats.values()),
        "rows_dropped": dict(sorted(dropped.items())),
        "held_rows_named_from_stain": held_resolved,
        "questions": dict(sorted(per_qtype.items())),
        "coarse_questions": coarse,
        "fine_questions": per_qtype.get("classification", 0),
        "unknown_question_types": dict(unknown_qtypes),
        "tasks": {key: stats[key].as_dict(f"tasks/{key}.arrow") for key in sorted(stats)},
        "seconds": round(seconds, 3),
    }


def load_manifest(data_dir: Path) -> dict:
    path = Path(data_dir) / "manifest.json"
    if not path.exists():
        raise DataError(f"no manifest at {path}: run `mubench prepare` first")
    return json.loads(path.read_text())
