"""Paired, image-clustered significance tests at sweep scale, side by side in one run.

  shared : mubench.significance.compare_models. One set of image resamples serves every model, so
           all pairs cost one matrix product per chunk of resamples.
  per-pair: the same clustered bootstrap with its own resamples for each pair (the straightforward
           way). It is run on a subset of pairs and scaled up to all pairs.
Synthetic μ-Bench-sized data: 17,000 questions on 2,900 images (about 6 per image).
Run: .venv/bin/python bench/significance.py [--models 50] [--resamples 9999]
"""

from __future__ import annotations

import argparse
import sys
from itertools import combinations
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.common import timed  # noqa: E402
from mubench.significance import bootstrap_accuracies, cluster_sums, compare_models  # noqa: E402


def per_pair(models, correct, clusters, n_resamples, pairs):
    sums, sizes = cluster_sums(correct.astype(np.float64), clusters)
    for seed, (a, b) in enumerate(pairs):
        resampled = bootstrap_accuracies(sums[:, [a, b]], sizes, n_resamples, seed)
        np.quantile(resampled[:, 0] - resampled[:, 1], [0.025, 0.975])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--resamples", type=int, default=9999)
    parser.add_argument("--sample-pairs", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = np.repeat(np.arange(2900), 6)[:17000]
    skill = rng.uniform(0.2, 0.6, size=args.models)
    correct = (rng.random((len(images), args.models)) < skill).astype(np.uint8)
    models = [f"m{i}" for i in range(args.models)]
    all_pairs = list(combinations(range(args.models), 2))
    shared_s, comparisons = timed(compare_models, models, correct, images, n_resamples=args.resamples)
    sample = all_pairs[:args.sample_pairs]
    sample_s, _ = timed(per_pair, models, correct, images, args.resamples, sample)
    per_pair_s = sample_s / len(sample) * len(all_pairs)
    print(f"{args.models} models, {len(all_pairs)} pairs, {len(images)} questions, {args.resamples} resamples")
    print(f"shared resamples : {shared_s:8.1f} s for all pairs")
    print(f"per-pair         : {per_pair_s:8.1f} s for all pairs (measured {sample_s:.1f} s on {len(sample)})")
    print(f"ratio per-pair / shared: {per_pair_s / shared_s:.0f}x")
    assert len(comparisons) == len(all_pairs)


if __name__ == "__main__":
    main()
