"""The μ-Bench row schema and its on-disk layouts.

The hub release is a ``datasets.save_to_disk`` folder: Arrow IPC *stream* shards plus
``state.json`` (shard order) and ``dataset_info.json``. Parquet files with the same columns
are accepted too. Everything here streams record batches; no reader holds a whole shard.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from mubench.errors import ChecksumError, DataError
from mubench.protocol import QUESTION_TYPES

QUESTION_STRUCT = pa.struct([
    ("question", pa.string()),
    ("options", pa.list_(pa.string())),
    ("answer", pa.string()),
    ("answer_idx", pa.int64()),
    ("id", pa.string()),
    ("name", pa.string()),
])
QUESTIONS_STRUCT = pa.struct([(qtype, QUESTION_STRUCT) for qtype in sorted(QUESTION_TYPES)])
IMAGE_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])

UBENCH_SCHEMA = pa.schema([
    ("image_id", pa.string()),
    ("image", IMAGE_STRUCT),
    ("label", pa.int64()),
    ("label_name", pa.string()),
    ("dataset", pa.string()),
    ("domain", pa.string()),
    ("institution", pa.string()),
    ("license", pa.string()),
    ("microns_per_pixel", pa.float64()),
    ("modality", pa.string()),
    ("ncbitaxon_id", pa.string()),
    ("ncbitaxon_name", pa.string()),
    ("pmid", pa.string()),
    ("split", pa.string()),
    ("stain", pa.string()),
    ("subdomain", pa.string()),
    ("submodality", pa.string()),
    ("synthetic", pa.bool_()),
    ("captions", QUESTIONS_STRUCT),
    ("questions", QUESTIONS_STRUCT),
    ("bbox", pa.list_(pa.float64())),
    ("polygon", pa.list_(pa.struct([("className", pa.string()),
                                     ("points", pa.list_(pa.list_(pa.float64())))]))),
])

REQUIRED_COLUMNS = ("image", "dataset", "stain", "questions", "captions")
SHA256SUMS = "sha256sums.txt"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_sha256sums(folder: Path) -> dict[str, str] | None:
    """``sha256sum``-format file beside the shards, if the copy ships one."""
    path = folder / SHA256SUMS
    if not path.exists():
        return None
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*").strip()] = digest.lower()
    return sums


def verify_shards(shards: list[Path], expected: dict[str, str]) -> dict[str, str]:
    """Check every shard against its expected SHA-256; stop naming the first bad one."""
    seen = {}
    for shard in shards:
        want = expected.get(shard.name)
        if want is None:
            raise ChecksumError(f"shard {shard} has no expected checksum (known: {sorted(expected)})")
        got = sha256_file(shard)
        if got != want:
            raise ChecksumError(
                f"checksum mismatch for shard {shard.name}: expected {want}, got {got}. "
                "The file is corrupt or from another revision; delete it and download it again."
            )
        seen[shard.name] = got
    return seen


def list_shards(folder: Path) -> list[Path]:
    """Shards of a save_to_disk folder in their recorded order, else Arrow/Parquet files by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data folder not found: {folder}")
    state = folder / "state.json"
    if state.exists():
        files = [folder / entry["filename"] for entry in json.loads(state.read_text())["_data_files"]]
    else:
        files = sorted(folder.glob("*.arrow")) or sorted(folder.glob("*.parquet"))
    if not files:
        raise DataError(f"no .arrow or .parquet shards in {folder}")
    missing = [f.name for f in files if not f.exists()]
    if missing:
        raise DataError(f"shards listed in {state} are missing: {missing}")
    return files


def iter_shard_batches(shard: Path, batch_rows: int = 256) -> Iterator[pa.RecordBatch]:
    """Record batches of one shard, at most ``batch_rows`` rows each (images are large)."""
    try:
        if shard.suffix == ".parquet":
            yield from pq.ParquetFile(shard).iter_batches(batch_size=batch_rows)
            return
        with pa.OSFile(str(shard), "rb") as source:
            reader = pa.ipc.open_stream(source)
            _check_columns(reader.schema, shard)
            for batch in reader:
                for start in range(0, batch.num_rows, batch_rows):
                    yield batch.slice(start, batch_rows)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot read shard {shard}: {exc} (truncated or not an Arrow stream?)") from exc


def _check_columns(schema: pa.Schema, shard: Path) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in schema.names]
    if missing:
        raise DataError(f"shard {shard} lacks μ-Bench columns {missing}; has {schema.names}")


class StreamWriter:
    """Arrow IPC stream file written under a temporary name and renamed when closed."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self.sink = pa.OSFile(str(self.tmp), "wb")
        self.writer = pa.ipc.new_stream(self.sink, schema)
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self.writer.write_batch(batch)
            self.rows += batch.num_rows

    def close(self) -> None:
        self.writer.close()
        self.sink.close()
        os.replace(self.tmp, self.path)


def write_save_to_disk_layout(folder: Path, shard_tables: list[pa.Table], split: str = "test") -> list[Path]:
    """Write tables as a save_to_disk folder (stream shards, state.json, sha256sums.txt)."""
    folder.mkdir(parents=True, exist_ok=True)
    count = len(shard_tables)
    paths = []
    for index, table in enumerate(shard_tables):
        path = folder / f"ubench-{split}-{index:05d}-of-{count:05d}.arrow"
        writer = StreamWriter(path, table.schema)
        for batch in table.to_batches(max_chunksize=64):
            writer.write(batch)
        writer.close()
        paths.append(path)
    state = {"_data_files": [{"filename": p.name} for p in paths], "_split": split,
             "_format_type": None, "_format_columns": None, "_format_kwargs": {},
             "_output_all_columns": False, "_fingerprint": None}
    (folder / "state.json").write_text(json.dumps(state, indent=2))
    (folder / "dataset_info.json").write_text(json.dumps({"description": "μ-Bench row schema", "splits": {
        split: {"name": split, "num_examples": sum(t.num_rows for t in shard_tables)}}}, indent=2))
    (folder / SHA256SUMS).write_text("".join(f"{sha256_file(p)}  {p.name}\n" for p in paths))
    return paths
