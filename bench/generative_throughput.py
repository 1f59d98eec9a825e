"""Generative throughput on CPU, side by side in one run, same tiny model and questions.

  mubench-vllm   : `mubench evaluate` with the vllm backend (every question of a batch in one
                   generate call, greedy, official answer + constrained letter)
  transformers   : one question at a time through transformers `generate` (the original code's
                   approach), official answer + constrained letter, on the first --reference-rows
                   images (its cost per question is constant)

Prints questions/s for both and the ratio (goal ≥ 5× on CPU), and generated tokens per question
for the official answer vs the constrained one.
Run: .venv/bin/python bench/generative_throughput.py [--hidden 256 --layers 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import median, timed  # noqa: E402
from mubench.backends import backend_class  # noqa: E402
from mubench.build import build_model  # noqa: E402
from mubench.catalog import ModelSpec  # noqa: E402
from mubench.data.demo import build_demo  # noqa: E402
from mubench.data.layout import iter_shard_batches  # noqa: E402
from mubench.data.prepare import prepare  # noqa: E402
from mubench.evaluate import evaluate, questions_of_row  # noqa: E402
from mubench.images import decode_image  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--task", default="demo_stardist_he")
    parser.add_argument("--reference-rows", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sources", default=".cache/demo-sources")
    parser.add_argument("--engine-options", default="{}", help="JSON: extra vllm.LLM options for the catalog entry")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mubench-genbench-"))
    build_demo(work / "ubench", Path(args.sources))
    manifest = prepare("demo", str(work / "ubench"), work / "data")
    text = {"hidden_size": args.hidden, "intermediate_size": 2 * args.hidden, "num_hidden_layers": args.layers}
    folder = work / "model"
    build_model(ModelSpec(name="bench", backend="vllm", display_name="bench", weights=f"local-dir:{folder}",
                          build={"kind": "qwen2_vl_config", "seed": 0, "config": {"text_config": text}}))
    options = {"dtype": "float32", "max_new_tokens": args.max_new_tokens}
    catalog = work / "models.yaml"
    catalog.write_text(json.dumps({"models": {"bench": {"backend": "vllm", "weights": f"local-dir:{folder}",
                                                        "batch_size": 64,
                                                        "options": {**options, "max_model_len": 1024,
                                                                    **json.loads(args.engine_options)}}}}))

    rows = [r for b in iter_shard_batches(work / "data" / manifest["tasks"][args.task]["shard"]) for r in b.to_pylist()]
    reference_rows = rows[:args.reference_rows]
    images = [decode_image(r["image"]) for r in reference_rows]
    items = [q.item for i, r in enumerate(reference_rows) for q in questions_of_row(r, i, "questions")]
    reference = backend_class("transformers_generate")(
        ModelSpec(name="ref", backend="transformers_generate", display_name="ref", weights=f"local-dir:{folder}",
                  options=options), device="cpu")
    reference.load()

    def run_mubench(tag):
        score = evaluate(model="bench", task=args.task, catalog_path=str(catalog), data_dir=str(work / "data"),
                         out_dir=str(work / f"out-{tag}"), device="cpu")
        return score

    def run_reference():
        return reference.generate_prepared(images, items)

    reference.generate_prepared(images[:1], items[:1])  # warm-up
    seconds = {"mubench-vllm": [], "transformers": []}
    score = None
    for repeat in range(args.repeats):
        score = run_mubench(repeat)
        seconds["mubench-vllm"].append(score["timings"]["inference_s"])
        seconds["transformers"].append(timed(run_reference)[0])
    questions = {"mubench-vllm": score["counts"]["questions"], "transformers": len(items)}
    rate = {k: questions[k] / median(v) for k, v in seconds.items()}
    print(json.dumps({
        "model": f"Qwen2-VL tiny (hidden {args.hidden}, {args.layers} layers, random weights)",
        "task": args.task, "questions_timed": questions, "repeats": args.repeats,
        "seconds_median": {k: round(median(v), 3) for k, v in seconds.items()},
        "questions_per_s": {k: round(v, 2) for k, v in rate.items()},
        "speedup_vllm_vs_one_at_a_time": round(rate["mubench-vllm"] / rate["transformers"], 2),
        "vllm_engine_load_s": score["timings"]["load_s"],
        "generated_tokens_per_question": score["metrics"]["generated_tokens_per_question"],
    }, indent=2))


if __name__ == "__main__":
    main()
