"""Contrastive throughput, side by side in one run, same model and images.

  mubench    : `mubench evaluate` end to end (Arrow shard → decode → batched model → JSONL/score.json)
  bare       : the bare model-forward loop (preprocessed pixels in batches, texts encoded once)
  original   : one image per call and the texts re-encoded for every question, as the original code

Prints efficiency = bare / mubench time (goal ≥ 0.85) and speedup = mubench / original
throughput in images/s (goal ≥ 5). The original loop is so slow that by default it runs on the
first --original-rows images only (its cost per image is constant: one call per image and per
question). Every variant is warmed up once before timing; repeats are interleaved.
Run: .venv/bin/python bench/contrastive_throughput.py [--arch vit-b-32|tiny] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

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

ARCHS = {  # ViT-B-32 is open_clip's own config: the compute of the paper's CLIP/OpenCLIP/QuiltNet
    "vit-b-32": {"embed_dim": 512,
                 "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
                 "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}},
    "tiny": {},
}


def load_rows(data_dir: Path, manifest: dict) -> list[dict]:
    rows = []
    for info in manifest["tasks"].values():
        for batch in iter_shard_batches(data_dir / info["shard"]):
            rows.extend(batch.to_pylist())
    return rows


def run_mubench(catalog, data_dir, out_dir, tasks, batch_size) -> float:
    total = 0.0
    for task in tasks:
        # As the workflow runs it: one job per task, the model's text cache shared by its jobs.
        score = evaluate(model="bench", task=task, catalog_path=catalog, data_dir=str(data_dir),
                         out_dir=str(out_dir / task), device="cpu", batch_size=batch_size,
                         text_cache_dir=str(out_dir / "text-cache"))  # fresh for each timed run
        total += score["timings"]["inference_s"]
    return total


def run_bare(backend, pixels: list[torch.Tensor], texts: list[str], batch_size: int) -> None:
    model, tokenizer = backend.model, backend.tokenizer
    with torch.inference_mode():
        text_features = model.encode_text(tokenizer(texts))
        text_features = text_features / text_features.norm(dim=-1, keepdim=True)
        for start in range(0, len(pixels), batch_size):
            features = model.encode_image(torch.stack(pixels[start:start + batch_size]))
            features = features / features.norm(dim=-1, keepdim=True)
            (features @ text_features.T).argmax(dim=-1)


def run_original(backend, rows: list[dict]) -> None:
    model, tokenizer, preprocess = backend.model, backend.tokenizer, backend.preprocess
    with torch.inference_mode():
        for row in rows:
            image = preprocess(decode_image(row["image"])).unsqueeze(0)
            for question in questions_of_row(row, 0, "captions"):
                image_features = model.encode_image(image)
                text_features = model.encode_text(tokenizer(list(question.item.options)))
                (image_features @ text_features.T).argmax(dim=-1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", choices=sorted(ARCHS), default="vit-b-32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sources", default=".cache/demo-sources")
    parser.add_argument("--original-rows", type=int, default=48, help="0 = all images")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mubench-bench-"))
    build_demo(work / "ubench", Path(args.sources))
    manifest = prepare("demo", str(work / "ubench"), work / "data")
    spec = ModelSpec(name="bench", backend="open_clip", display_name="bench", weights=f"local-dir:{work}/model",
                     build={"kind": "open_clip_config", "seed": 0, "config": ARCHS[args.arch]})
    build_model(spec)
    catalog = work / "models.yaml"
    catalog.write_text(json.dumps({"models": {"bench": {"backend": "open_clip", "weights": spec.weights}}}))
    backend = backend_class("open_clip")(spec, device="cpu")
    backend.load()
    rows = load_rows(work / "data", manifest)
    pixels = [backend.preprocess(decode_image(row["image"])) for row in rows]
    texts = sorted({t for row in rows for q in questions_of_row(row, 0, "captions") for t in q.item.options})
    n_questions = sum(len(questions_of_row(row, 0, "captions")) for row in rows)

    original_rows = rows[:args.original_rows] if args.original_rows else rows
    tasks = sorted(manifest["tasks"])
    variants = {
        "mubench": lambda tag: run_mubench(str(catalog), work / "data", work / f"out-{tag}", tasks, args.batch_size),
        "bare": lambda tag: timed(run_bare, backend, pixels, texts, args.batch_size)[0],
        "original": lambda tag: timed(run_original, backend, original_rows[:4] if tag == "warm" else original_rows)[0],
    }
    for run in variants.values():
        run("warm")
    results = {name: [] for name in variants}
    for repeat in range(args.repeats):  # interleaved, so machine noise hits all three alike
        for name, run in variants.items():
            results[name].append(run(str(repeat)))
    t = {k: median(v) for k, v in results.items()}
    n_images = {"mubench": len(rows), "bare": len(rows), "original": len(original_rows)}
    rate = {k: n_images[k] / v for k, v in t.items()}
    report = {
        "arch": args.arch, "images": len(rows), "questions": n_questions, "distinct_texts": len(texts),
        "torch_threads": torch.get_num_threads(), "repeats": args.repeats, "batch_size": args.batch_size,
        "images_timed": n_images,
        "seconds": {k: round(v, 3) for k, v in t.items()},
        "images_per_s": {k: round(v, 2) for k, v in rate.items()},
        "efficiency_vs_bare": round(rate["mubench"] / rate["bare"], 3),
        "speedup_vs_original": round(rate["mubench"] / rate["original"], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
