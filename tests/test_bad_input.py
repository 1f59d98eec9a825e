"""Bad input never crashes a job or silently changes a score: each case below is either a clear
error naming the culprit or a counted, named per-question error in score.json."""

import copy
import io
import json

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from mubench.data.layout import QUESTION_STRUCT, UBENCH_SCHEMA, write_save_to_disk_layout
from mubench.data.prepare import prepare
from mubench.data.rows import rows_to_table
from mubench.evaluate import evaluate
from mubench.images import ImageError, decode_image
from tests.fixtures import fixture_rows


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


GRADIENT = np.linspace(0, 1, 48 * 40).reshape(40, 48)
IMAGES = {
    "grayscale": _png(Image.fromarray((GRADIENT * 255).astype(np.uint8), mode="L")),
    "uint16": _png(Image.fromarray((GRADIENT * 65535).astype(np.uint16))),
    "rgba": _png(Image.fromarray((np.dstack([GRADIENT] * 4) * 255).astype(np.uint8), mode="RGBA")),
    "huge": _png(Image.new("1", (20_000, 12_000))),  # 240 megapixels, a few kB of PNG
    "truncated": _png(Image.fromarray((GRADIENT * 255).astype(np.uint8)))[:60],
}


def test_unusual_pixel_formats_decode_to_rgb():
    for name in ("grayscale", "uint16", "rgba"):
        image = decode_image({"bytes": IMAGES[name]})
        assert image.mode == "RGB" and image.size == (48, 40), name
    # 16-bit data is rescaled, not clipped to white
    assert np.asarray(decode_image({"bytes": IMAGES["uint16"]}))[..., 0].max() == 255
    assert np.asarray(decode_image({"bytes": IMAGES["uint16"]}))[..., 0].min() == 0


@pytest.mark.parametrize("name,message", [("huge", "too large"), ("truncated", "cannot decode")])
def test_broken_images_raise_a_named_error(name, message):
    with pytest.raises(ImageError, match=message):
        decode_image({"bytes": IMAGES[name]})


def _bad_rows() -> list[dict]:
    template = fixture_rows()[0]
    rows = []

    def variant(image=None, **edits):
        row = copy.deepcopy(template)
        row["image_id"] = f"v{len(rows)}"
        if image is not None:
            row["image"] = {"bytes": image, "path": "x.png"}
        for field in ("questions", "captions"):
            for qtype, change in edits.items():
                change(row[field][qtype])
        rows.append(row)

    variant(IMAGES["grayscale"])
    variant(IMAGES["uint16"])
    variant(IMAGES["rgba"])
    variant(IMAGES["huge"])                                                         # 6 image errors
    variant(domain=lambda q: q.update(options=[]))                                  # no options
    variant(classification=lambda q: q.update(options=q["options"] + ["extra"]))    # 9 options
    variant(stain=lambda q: q.update(answer="not an option"))                       # answer mismatch
    variant(modality=lambda q: q.update(answer_idx=7))                              # index out of range
    rows.append(dict(copy.deepcopy(template), image=None, image_id="v8"))           # 6 image errors
    return rows


@pytest.fixture()
def bad_data(tmp_path):
    write_save_to_disk_layout(tmp_path / "ubench", [rows_to_table(_bad_rows())])
    prepare("local", str(tmp_path / "ubench"), tmp_path / "data")
    return tmp_path / "data"


@pytest.mark.parametrize("model", ["random", "open_clip"])
def test_bad_rows_become_counted_errors(model, bad_data, tmp_path, tiny_models):
    entry = {"backend": "random", "weights": "none"} if model == "random" else {
        "backend": "open_clip", "weights": tiny_models["open_clip"].weights}
    catalog = tmp_path / "models.yaml"
    catalog.write_text(json.dumps({"models": {"m": entry}}))
    score = evaluate(model="m", task="acevedo_et_al_2020", catalog_path=str(catalog), data_dir=str(bad_data),
                     out_dir=str(tmp_path / "out"), device="cpu", batch_size=4)
    assert score["counts"]["rows"] == 9 and score["counts"]["questions"] == 54
    assert score["errors"]["by_kind"] == {"image_error": 12, "no_options": 1, "too_many_options": 1,
                                          "answer_mismatch": 1, "bad_answer_idx": 1}
    assert score["counts"]["errors"] == 16 and score["counts"]["images_failed"] == 2
    by_type = score["per_question_type"]
    assert by_type["domain"]["errors"] == 3 and by_type["classification"]["errors"] == 3
    # the well-formed questions of odd-format images were scored
    predictions = [json.loads(l) for l in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert sum(p["prediction"] is not None for p in predictions) == 54 - 16


def test_unknown_question_type_is_counted_at_prepare(tmp_path):
    rows = fixture_rows()[:3]
    questions_type = pa.struct(list(UBENCH_SCHEMA.field("questions").type) + [pa.field("organism", QUESTION_STRUCT)])
    schema = UBENCH_SCHEMA.set(UBENCH_SCHEMA.get_field_index("questions"), pa.field("questions", questions_type))
    for row in rows:
        row["questions"]["organism"] = dict(row["questions"]["domain"], name="organism")
    write_save_to_disk_layout(tmp_path / "ubench", [pa.Table.from_pylist(rows, schema=schema)])
    manifest = prepare("local", str(tmp_path / "ubench"), tmp_path / "data")
    assert manifest["unknown_question_types"] == {"organism": 3}
    assert "organism" not in manifest["questions"]


def test_shard_without_mubench_columns_is_named(tmp_path):
    folder = tmp_path / "ubench"
    folder.mkdir()
    with pa.OSFile(str(folder / "data.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, pa.schema([("x", pa.int64())])) as writer:
            writer.write_table(pa.table({"x": [1]}))
    from mubench.errors import DataError

    with pytest.raises(DataError, match=r"data\.arrow lacks μ-Bench columns"):
        prepare("local", str(folder), tmp_path / "data")
