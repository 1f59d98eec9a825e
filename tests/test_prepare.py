import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mubench.data.layout import iter_shard_batches, list_shards
from mubench.data.prepare import prepare
from mubench.errors import ChecksumError, DataError
from tests.fixtures import EXPECTED_DEFAULT, EXPECTED_WITH_EXTRA, build_fixture


@pytest.fixture()
def fixture_dir(tmp_path):
    build_fixture(tmp_path / "ubench")
    return tmp_path / "ubench"


def _task_rows(out, key):
    return [row for shard in [out / "tasks" / f"{key}.arrow"] for batch in iter_shard_batches(shard)
            for row in batch.to_pylist()]


def test_prepare_applies_protocol_normalisation(fixture_dir, tmp_path):
    manifest = prepare("local", str(fixture_dir), tmp_path / "out")
    for key in ("rows_read", "rows_kept", "rows_dropped", "held_rows_named_from_stain", "fine_questions",
                "coarse_questions"):
        assert manifest[key] == EXPECTED_DEFAULT[key], key
    assert {k: v["rows"] for k, v in manifest["tasks"].items()} == EXPECTED_DEFAULT["tasks"]
    assert manifest["tasks"]["nirschl_unpub_fluorescence"]["questions"].get("stain", 0) == 0
    assert manifest["checksums_verified"]  # the copy ships sha256sums.txt


def test_rows_are_keyed_by_row_index_not_image_id(fixture_dir, tmp_path):
    prepare("local", str(fixture_dir), tmp_path / "out")
    rows = _task_rows(tmp_path / "out", "acevedo_et_al_2020")
    assert [r["image_id"] for r in rows] == ["a0", "a0", "a1", "a1"]
    assert [r["row_idx"] for r in rows] == [0, 1, 2, 3]
    held = _task_rows(tmp_path / "out", "held_et_al_2010_galt")
    assert [r["row_idx"] for r in held] == [7, 8]  # indices survive the shard boundary
    assert {r["dataset"] for r in held} == {"held_et_al_2010_galt"}


def test_extra_datasets_are_a_config_switch(fixture_dir, tmp_path):
    manifest = prepare("local", str(fixture_dir), tmp_path / "out", include_extra=True)
    for key, value in EXPECTED_WITH_EXTRA.items():
        assert manifest[key] == value, key
    assert manifest["tasks"]["opencell"]["rows"] == 2


def test_parquet_source_gives_the_same_manifest(fixture_dir, tmp_path):
    parquet_dir = tmp_path / "parquet"
    parquet_dir.mkdir()
    for index, shard in enumerate(list_shards(fixture_dir)):
        table = pa.Table.from_batches(list(iter_shard_batches(shard)))
        pq.write_table(table, parquet_dir / f"part-{index}.parquet")
    from_arrow = prepare("local", str(fixture_dir), tmp_path / "a")
    from_parquet = prepare("parquet", str(parquet_dir), tmp_path / "b")
    for key in ("rows_kept", "tasks", "questions", "rows_dropped"):
        assert from_parquet[key] == from_arrow[key]


def test_tampered_shard_fails_checksum_naming_it(fixture_dir, tmp_path):
    shard = list_shards(fixture_dir)[1]
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=shard.name):
        prepare("local", str(fixture_dir), tmp_path / "out")


def test_truncated_shard_is_a_clear_error(fixture_dir, tmp_path):
    shard = list_shards(fixture_dir)[0]
    shard.write_bytes(shard.read_bytes()[:-500])
    with pytest.raises(DataError, match=shard.name):
        prepare("local", str(fixture_dir), tmp_path / "out", verify=False)


def test_prepare_streams_with_bounded_memory(tmp_path):
    """80 MB of images go through while Arrow's pool holds only a few source batches at a time."""
    build = f"""
import numpy as np, pathlib
from mubench.data.layout import write_save_to_disk_layout
from mubench.data.rows import rows_to_table
from tests.fixtures import fixture_rows
rng = np.random.default_rng(0)
template = fixture_rows()[0]
rows = [dict(template, image={{"bytes": rng.bytes(200_000), "path": "x.png"}}) for _ in range(400)]
table = rows_to_table(rows)
write_save_to_disk_layout(pathlib.Path("{tmp_path}/big"), [table.slice(0, 200), table.slice(200)])
"""
    measure = f"""
import json, pyarrow as pa
from mubench.data.prepare import prepare
prepare("local", "{tmp_path}/big", "{tmp_path}/out", batch_rows=16)
print(json.dumps({{"peak": pa.default_memory_pool().max_memory()}}))
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    for script in (build, measure):
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr
    peak = json.loads(result.stdout.strip().splitlines()[-1])["peak"]
    # Source batches hold 64 rows (12.8 MB); the peak must not grow with the 80 MB dataset.
    assert peak < 30_000_000, f"peak Arrow memory {peak} bytes for an 80 MB dataset"
