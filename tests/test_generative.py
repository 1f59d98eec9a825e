"""Generative models through vLLM's CPU build, checked against transformers on the same tiny
random-weight Qwen2-VL / Qwen2.5-VL checkpoints."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from mubench.backends import QuestionItem, backend_class
from mubench.catalog import ModelSpec
from mubench.evaluate import evaluate
from mubench.journal import read_progress
from mubench.prompt import LETTERS
from tests.conftest import write_catalog

QUESTIONS = [("What is the domain of this microscopy image?", ("biology", "pathology")),
             ("What microscopy modality was used to acquire this image?",
              ("light microscopy", "fluorescence microscopy", "electron microscopy")),
             ("Which of the following best describes this image?", tuple(f"class {i}" for i in range(8)))]


def _images(n):
    return [Image.fromarray((np.random.default_rng(i).random((56 + 9 * i, 70, 3)) * 255).astype(np.uint8))
            for i in range(n)]


def _items(n_images):
    return [QuestionItem(i * 10 + j, "q", i, question, options)
            for i in range(n_images) for j, (question, options) in enumerate(QUESTIONS)]


@pytest.mark.parametrize("kind", ["qwen2_vl_config", "qwen2_5_vl_config"])
def test_vllm_greedy_equals_transformers_greedy(kind, tiny_vlms):
    images, items = _images(4), _items(4)
    answers = {}
    for backend_name in ("vllm", "transformers_generate"):
        options = {"dtype": "float32", "max_new_tokens": 12}
        if backend_name == "vllm":
            options["max_model_len"] = 1024
        spec = ModelSpec(name=kind, backend=backend_name, display_name=kind, weights=f"local-dir:{tiny_vlms[kind]}",
                         options=options)
        backend = backend_class(backend_name)(spec, device="cpu")
        backend.load()
        answers[backend_name] = backend.generate_prepared(images, items)
    vllm_answers, reference = answers["vllm"], answers["transformers_generate"]
    # Token for token; the texts can differ only where a generation ends inside a multi-byte
    # character (vLLM's incremental detokenizer holds such bytes back).
    assert [a.token_ids for a in vllm_answers] == [a.token_ids for a in reference]
    assert [a.constrained for a in vllm_answers] == [a.constrained for a in reference]
    same_text = sum(a.response == b.response for a, b in zip(vllm_answers, reference))
    assert same_text >= len(reference) - 2
    assert all(a.response for a in reference)  # random weights still say something


def _vllm_entry(folder, batch_size=64):
    return {"backend": "vllm", "weights": f"local-dir:{folder}", "batch_size": batch_size,
            "options": {"dtype": "float32", "max_model_len": 1024, "max_new_tokens": 6}}


def test_constrained_answers_are_always_valid_letters(tiny_vlms, demo_data, tmp_path):
    catalog = write_catalog(tmp_path, {"vlm": _vllm_entry(tiny_vlms["qwen2_vl_config"])})
    score = evaluate(model="vlm", task="demo_stardist_he", catalog_path=catalog, data_dir=str(demo_data),
                     out_dir=str(tmp_path / "out"), device="cpu")
    predictions = [json.loads(l) for l in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == score["counts"]["questions"] == 45 * 6
    assert all(p["constrained"] in range(len(p["options"])) for p in predictions)
    assert all(isinstance(p["response"], str) for p in predictions)
    metrics = score["metrics"]
    assert metrics["primary"] == "official"
    assert metrics["constrained"]["correct"] == sum(p["constrained_correct"] for p in predictions)
    assert metrics["official"]["correct"] == score["counts"]["correct"] == sum(p["correct"] for p in predictions)
    assert metrics["parsed"]["unparsable"] == sum(p["parsed"] is None for p in predictions)
    assert score["settings"]["engine"] == "vllm" and len(score["settings"]["prompt_template_sha256"]) == 64


def test_vllm_job_killed_and_rerun_equals_uninterrupted(tiny_vlms, demo_data, tmp_path):
    catalog = write_catalog(tmp_path, {"vlm": _vllm_entry(tiny_vlms["qwen2_vl_config"], batch_size=3)})
    task = "demo_stardist_he"  # 45 rows → 15 batches
    reference = evaluate(model="vlm", task=task, catalog_path=catalog, data_dir=str(demo_data),
                         out_dir=str(tmp_path / "ref"), device="cpu")
    journal = tmp_path / "journal.jsonl"
    cmd = [sys.executable, "-m", "mubench.cli", "evaluate", "--catalog", catalog, "--model", "vlm", "--task", task,
           "--data", str(demo_data), "--out", str(tmp_path / "run"), "--journal", str(journal), "--device", "cpu"]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 4:
            break
        time.sleep(0.01)
    assert process.poll() is None, "the job finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    journaled = read_progress(journal)
    rerun = subprocess.run(cmd, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    score = json.loads((tmp_path / "run" / "score.json").read_text())
    assert score["resume"] == {"replayed_rows": journaled, "computed_rows": 45 - journaled}
    for key in ("counts", "per_question_type", "metrics", "errors"):
        assert score[key] == reference[key], key
    assert (tmp_path / "run" / "predictions.jsonl").read_text() == (tmp_path / "ref" / "predictions.jsonl").read_text()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(tiny_vlms, tmp_path_factory):
    """A real vLLM OpenAI-compatible server on 127.0.0.1 serving the tiny Qwen2-VL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    with open(log, "w") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_vlms["qwen2_vl_config"]),
             "--served-model-name", "tiny-qwen2-vl", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
             "--enforce-eager", "--max-model-len", "1024", "--limit-mm-per-prompt", '{"image": 1}'],
            stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 240
    while time.time() < deadline:
        if server.poll() is not None:
            pytest.fail(f"vLLM server exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                break
        except OSError:
            time.sleep(1)
    else:
        pytest.fail(f"vLLM server not ready: {log.read_text()[-3000:]}")
    yield url
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=60)


def test_openai_backend_against_a_real_vllm_server(vllm_server, tiny_vlms, demo_data, tmp_path, monkeypatch):
    monkeypatch.setenv("MUBENCH_TEST_API_KEY", "sk-test-secret-value")
    entry = {"backend": "openai", "weights": "tiny-qwen2-vl", "batch_size": 16,
             "options": {"base_url": f"{vllm_server}/v1", "api_key_env": "MUBENCH_TEST_API_KEY",
                         "max_new_tokens": 6, "concurrency": 4, "cache_dir": str(tmp_path / "cache")}}
    catalog = write_catalog(tmp_path, {"api": entry})
    common = dict(model="api", task="demo_stardist_he", catalog_path=catalog, data_dir=str(demo_data), device="cpu")
    first = evaluate(out_dir=str(tmp_path / "first"), **common)
    requests = first["settings"]["requests"]
    assert requests["sent"] == 2 * 45 * 6 and requests["cache_hits"] == 0  # answer + constrained letter
    second = evaluate(out_dir=str(tmp_path / "second"), **common)
    assert second["settings"]["requests"] == {"sent": 0, "cache_hits": 2 * 45 * 6, "retries": 0}
    assert (tmp_path / "first" / "predictions.jsonl").read_text() == (tmp_path / "second" / "predictions.jsonl").read_text()
    predictions = [json.loads(l) for l in (tmp_path / "first" / "predictions.jsonl").read_text().splitlines()]
    assert all(p["response"] is not None for p in predictions)
    # the secret is never written anywhere
    for path in [tmp_path / "first" / "score.json", tmp_path / "first" / "predictions.jsonl",
                 *(tmp_path / "cache").rglob("*.json")]:
        assert "sk-test-secret-value" not in path.read_text()


def test_served_answers_match_the_offline_engine(vllm_server, tiny_vlms, tmp_path):
    """The same prompts through the server and through the offline engine give the same text."""
    images, items = _images(2), _items(2)
    offline = backend_class("vllm")(ModelSpec(name="v", backend="vllm", display_name="v",
                                              weights=f"local-dir:{tiny_vlms['qwen2_vl_config']}",
                                              options={"dtype": "float32", "max_model_len": 1024,
                                                       "max_new_tokens": 6}), device="cpu")
    offline.load()
    served = backend_class("openai")(ModelSpec(name="s", backend="openai", display_name="s", weights="tiny-qwen2-vl",
                                               options={"base_url": f"{vllm_server}/v1", "max_new_tokens": 6,
                                                        "cache_dir": str(tmp_path / "c"), "constrained": False}))
    served.load()
    assert [a.response for a in served.generate_prepared(images, items)] == \
        [a.response for a in offline.generate_prepared(images, items)]  # both detokenize in vLLM
    assert set(LETTERS) >= {LETTERS[a.constrained] for a in offline.generate_prepared(images, items)}


def test_config_only_model_runs_with_dummy_weights(demo_data, tmp_path):
    """The GPU benchmark's path (bench/gpu_generative.py): a config without weights, loaded by
    vLLM with load_format=dummy, here at tiny size on the CPU."""
    from mubench.build import build_model

    folder = tmp_path / "config-only"
    build_model(ModelSpec(name="c", backend="vllm", display_name="c", weights=f"local-dir:{folder}",
                          build={"kind": "qwen2_5_vl_config", "seed": 0, "config": {"config_only": True}}))
    assert not list(folder.glob("*.safetensors"))
    entry = _vllm_entry(folder)
    entry["options"]["load_format"] = "dummy"
    score = evaluate(model="c", task="demo_skimage_ihc", catalog_path=write_catalog(tmp_path, {"c": entry}),
                     data_dir=str(demo_data), out_dir=str(tmp_path / "out"), device="cpu")
    assert score["counts"]["questions"] == 49 * 6 and score["counts"]["errors"] == 0
