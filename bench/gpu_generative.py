"""GPU benchmark for the generative path, for any CUDA GPU (H100/H200 class).

A full-size architecture with random weights (vLLM's load_format="dummy": the same compute and
memory as the real model, no download) runs through exactly the path a sweep uses:
`mubench evaluate` with the vllm backend on the demo data, official answer + constrained letter.
Reports images/s, questions/s, model-load time and peak GPU memory.

Run on a GPU node with vLLM's CUDA build installed:
  .venv/bin/python bench/gpu_generative.py --arch qwen2.5-vl-7b [--repeat-data 8]
Not run in CI (no GPU there); its figures go to docs/benchmarks.md when measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mubench.build import build_model  # noqa: E402
from mubench.catalog import ModelSpec  # noqa: E402
from mubench.data.demo import demo_rows  # noqa: E402
from mubench.data.layout import write_save_to_disk_layout  # noqa: E402
from mubench.data.prepare import prepare  # noqa: E402
from mubench.data.rows import rows_to_table  # noqa: E402
from mubench.evaluate import evaluate  # noqa: E402

# Published dimensions of the real checkpoints' config.json.
ARCHS = {
    "qwen2.5-vl-7b": ("qwen2_5_vl_config", {
        "text_config": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                        "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
                        "max_position_embeddings": 128000},
        "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                          "out_hidden_size": 3584, "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31]}}),
    "qwen2.5-vl-3b": ("qwen2_5_vl_config", {
        "text_config": {"hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36,
                        "num_attention_heads": 16, "num_key_value_heads": 2, "vocab_size": 151936,
                        "max_position_embeddings": 128000},
        "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                          "out_hidden_size": 2048, "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31]}}),
}


def full_size_folder(work: Path, arch: str) -> Path:
    """Full-size config.json, the tiny builder's tokenizer and processor, and no weights."""
    kind, dims = ARCHS[arch]
    folder = work / arch
    build_model(ModelSpec(name=arch, backend="vllm", display_name=arch, weights=f"local-dir:{folder}",
                          build={"kind": kind, "seed": 0, "config": {**dims, "config_only": True}}))
    return folder


def gpu_memory_mib() -> list[int]:
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True)
    return [int(v) for v in out.stdout.split()] if out.returncode == 0 else []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", choices=sorted(ARCHS), default="qwen2.5-vl-7b")
    parser.add_argument("--repeat-data", type=int, default=8, help="copies of the 206 demo images")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--sources", default=".cache/demo-sources")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mubench-gpubench-"))
    rows = demo_rows(Path(args.sources)) * args.repeat_data
    write_save_to_disk_layout(work / "ubench", [rows_to_table(rows)])
    manifest = prepare("local", str(work / "ubench"), work / "data")
    folder = full_size_folder(work, args.arch)
    catalog = work / "models.yaml"
    catalog.write_text(json.dumps({"models": {"bench": {
        "backend": "vllm", "weights": f"local-dir:{folder}", "batch_size": args.batch_size,
        "options": {"dtype": "bfloat16", "load_format": "dummy", "max_model_len": 4096, "max_new_tokens": 32,
                    "gpu_memory_utilization": 0.9}}}}))
    results = []
    for task in sorted(manifest["tasks"]):
        score = evaluate(model="bench", task=task, catalog_path=str(catalog), data_dir=str(work / "data"),
                         out_dir=str(work / "out" / task), device="cuda")
        results.append(score)
        memory = gpu_memory_mib()
    inference = sum(s["timings"]["inference_s"] for s in results)
    images = sum(s["counts"]["rows"] for s in results)
    questions = sum(s["counts"]["questions"] for s in results)
    print(json.dumps({
        "arch": args.arch, "weights": "random (vLLM load_format=dummy), full size", "images": images,
        "questions": questions, "images_per_s": round(images / inference, 2),
        "questions_per_s": round(questions / inference, 2),
        "model_load_s": [s["timings"]["load_s"] for s in results],
        "gpu_memory_used_mib": memory, "vllm": results[0]["settings"].get("vllm_version"),
        "tokens_per_question": results[0]["metrics"]["generated_tokens_per_question"],
    }, indent=2))


if __name__ == "__main__":
    main()
