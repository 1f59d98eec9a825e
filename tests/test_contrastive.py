import json

import numpy as np
import pytest
from PIL import Image

from mubench.backends import QuestionItem, backend_class
from mubench.data.prepare import prepare
from mubench.evaluate import evaluate
from tests.conftest import write_catalog
from tests.fixtures import build_fixture


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray((rng.random((60 + 7 * i, 80, 3)) * 255).astype(np.uint8)) for i in range(n)]


def _items(n):
    options = [("A microscopy image from biology.", "A microscopy image from pathology."),
               ("An image acquired with light microscopy.", "An image acquired with fluorescence microscopy.",
                "An image acquired with electron microscopy.")]
    return [QuestionItem(i, "q", i, "", options[i % 2]) for i in range(n)]


@pytest.mark.parametrize("kind", ["open_clip", "transformers"])
def test_batched_equals_one_image_at_a_time(tiny_models, kind):
    spec = tiny_models[kind]
    backend = backend_class(spec.backend)(spec)
    backend.load()
    images, items = _images(6), _items(6)
    batched = backend.score(images, items)
    single = [backend.score([image], [QuestionItem(it.row_idx, it.question_type, 0, "", it.options)])[0]
              for image, it in zip(images, items)]
    assert [int(np.argmax(s)) for s in batched] == [int(np.argmax(s)) for s in single]
    for a, b in zip(batched, single):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_each_distinct_text_is_encoded_once(tiny_models):
    spec = tiny_models["open_clip"]
    backend = backend_class(spec.backend)(spec)
    backend.load()
    encoded = []
    original = backend._encode_texts
    backend._encode_texts = lambda texts: (encoded.extend(texts), original(texts))[1]
    for _ in range(3):
        backend.score(_images(4), _items(4))
    assert sorted(encoded) == sorted({t for item in _items(4) for t in item.options})


def test_random_baseline_is_seeded_and_order_free():
    from mubench.catalog import ModelSpec

    spec = ModelSpec(name="random", backend="random", weights="none", display_name="Random")
    items = [QuestionItem(i, "domain", 0, "", tuple("abcdefgh")) for i in range(400)]
    first = backend_class("random")(spec, seed=3).score([], items)
    again = backend_class("random")(spec, seed=3).score([], list(reversed(items)))[::-1]
    other = backend_class("random")(spec, seed=4).score([], items)
    picks = [int(np.argmax(s)) for s in first]
    assert picks == [int(np.argmax(s)) for s in again]
    assert picks != [int(np.argmax(s)) for s in other]
    assert set(picks) == set(range(8))  # uniform over all options, H included


@pytest.fixture()
def prepared_fixture(tmp_path):
    build_fixture(tmp_path / "ubench")
    prepare("local", str(tmp_path / "ubench"), tmp_path / "data")
    return tmp_path / "data"


def _catalog(tmp_path, spec):
    return write_catalog(tmp_path, {spec.name: {"backend": spec.backend, "weights": spec.weights}})


def test_corrupt_image_is_a_counted_error_not_a_crash(tiny_models, prepared_fixture, tmp_path):
    spec = tiny_models["open_clip"]
    score = evaluate(model=spec.name, task="acevedo_et_al_2020", catalog_path=_catalog(tmp_path, spec),
                     data_dir=str(prepared_fixture), out_dir=str(tmp_path / "out"), device="cpu", batch_size=3)
    # 4 rows × 6 questions − 1 null = 23; row 3 (corrupt image) has 5 questions → 5 errors
    assert score["counts"] == {"rows": 4, "questions": 23, "correct": score["counts"]["correct"], "errors": 5,
                               "images_failed": 1}
    assert score["errors"]["by_kind"] == {"image_error": 5}
    assert {e["row_idx"] for e in score["errors"]["examples"]} == {3}
    lines = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert len(lines) == 23
    bad = [p for p in lines if p["error"]]
    assert len(bad) == 5 and all(not p["correct"] and p["prediction"] is None for p in bad)
    good = [p for p in lines if not p["error"]]
    assert all(len(p["scores"]) == len(p["options"]) and p["prediction"] == int(np.argmax(p["scores"])) for p in good)
    assert score["accuracy"] == pytest.approx(score["counts"]["correct"] / 23)


def test_score_json_is_self_describing(tiny_models, prepared_fixture, tmp_path):
    spec = tiny_models["transformers"]
    score = evaluate(model=spec.name, task="held_et_al_2010_h2b", catalog_path=_catalog(tmp_path, spec),
                     data_dir=str(prepared_fixture), out_dir=str(tmp_path / "out"), device="cpu", seed=5)
    assert score["schema_version"] >= 1
    assert score["settings"]["seed"] == 5 and score["settings"]["text_field"] == "captions"
    assert len(score["settings"]["texts_sha256"]) == 64
    assert score["model_info"]["weights"] == spec.weights
    for key in ("mubench_version", "git_hash", "libraries", "python"):
        assert score["provenance"][key]
    assert {"torch", "transformers", "open_clip_torch", "pyarrow"} <= set(score["provenance"]["libraries"])
    assert score["timings"]["inference_s"] >= 0 and score["timings"]["load_s"] > 0
    assert score["counts"]["questions"] == 18


def test_missing_weights_name_the_model(tmp_path, prepared_fixture):
    from mubench.errors import WeightsError

    catalog = tmp_path / "models.yaml"
    catalog.write_text(json.dumps({"models": {"ghost": {"backend": "open_clip", "weights": f"local-dir:{tmp_path}/nope"}}}))
    with pytest.raises(WeightsError, match="ghost"):
        evaluate(model="ghost", task="acevedo_et_al_2020", catalog_path=str(catalog),
                 data_dir=str(prepared_fixture), out_dir=str(tmp_path / "out"), device="cpu")


def test_text_cache_is_shared_across_jobs_without_changing_results(tiny_models, prepared_fixture, tmp_path):
    spec = tiny_models["open_clip"]
    catalog = _catalog(tmp_path, spec)
    common = dict(model=spec.name, catalog_path=catalog, data_dir=str(prepared_fixture), device="cpu")
    cache = str(tmp_path / "cache")
    first = evaluate(task="held_et_al_2010_h2b", out_dir=str(tmp_path / "a"), text_cache_dir=cache, **common)
    second = evaluate(task="held_et_al_2010_galt", out_dir=str(tmp_path / "b"), text_cache_dir=cache, **common)
    plain = evaluate(task="held_et_al_2010_galt", out_dir=str(tmp_path / "c"), **common)
    # Both tasks ask the same questions with the same captions: the second job encodes nothing.
    assert first["settings"]["texts_encoded"] > 0
    assert second["settings"]["texts_encoded"] == 0
    assert second["settings"]["text_cache_hits"] == first["settings"]["texts_encoded"]
    cached_lines = (tmp_path / "b" / "predictions.jsonl").read_text()
    assert cached_lines == (tmp_path / "c" / "predictions.jsonl").read_text()
    assert plain["settings"]["texts_encoded"] == first["settings"]["texts_encoded"]
