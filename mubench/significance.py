"""Paired comparison of models on the same questions, clustered by image.

Up to six questions share one image, and their answers are correlated. Resampling questions one by
one would understate the uncertainty, so both tests here treat the image as the unit:

- Paired cluster bootstrap of the accuracy difference. Images are resampled with replacement, and
  every model sees the same resample, so each pair's difference is paired. The CI is a percentile CI.
- Clustered McNemar test (Durkalski et al. 2003, Statistics in Medicine 22:2417). For image k let
  d_k = (questions only A got right) − (questions only B got right) = correct_A,k − correct_B,k. Then
  X² = (Σ d_k)² / Σ d_k², which follows χ²(1) under "same accuracy".
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np


@dataclass
class Comparison:
    model_a: str
    model_b: str
    questions: int
    images: int
    accuracy_a: float
    accuracy_b: float
    difference: float
    ci_low: float
    ci_high: float
    mcnemar_chi2: float
    p_value: float

    @property
    def ci_excludes_zero(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


def cluster_sums(correct: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image correct counts (images × models) and question counts (images)."""
    _, index = np.unique(clusters, return_inverse=True)
    sums = np.zeros((index.max() + 1, correct.shape[1]), dtype=np.float64)
    np.add.at(sums, index, correct)
    return sums, np.bincount(index).astype(np.float64)


def bootstrap_accuracies(sums: np.ndarray, sizes: np.ndarray, n_resamples: int, seed: int,
                         chunk: int = 256) -> np.ndarray:
    """Accuracy of every model under each image resample (resamples × models), all models paired."""
    rng = np.random.default_rng(seed)
    images = len(sizes)
    out = np.empty((n_resamples, sums.shape[1]))
    for start in range(0, n_resamples, chunk):
        rows = min(chunk, n_resamples - start)
        draws = rng.integers(0, images, size=(rows, images))
        weights = np.bincount((draws + images * np.arange(rows)[:, None]).ravel(),
                              minlength=rows * images).reshape(rows, images).astype(np.float64)
        out[start:start + rows] = (weights @ sums) / (weights @ sizes)[:, None]
    return out


def clustered_mcnemar(d: np.ndarray) -> tuple[float, float]:
    from scipy.stats import chi2

    denominator = float(np.sum(d ** 2))
    if denominator == 0:
        return 0.0, 1.0
    statistic = float(np.sum(d)) ** 2 / denominator
    return statistic, float(chi2.sf(statistic, df=1))


def compare_models(models: list[str], correct: np.ndarray, clusters: np.ndarray, *, n_resamples: int = 9999,
                   confidence_level: float = 0.95, seed: int = 0) -> list[Comparison]:
    """Every pair of ``models`` (columns of ``correct``, one row per shared question), better first."""
    sums, sizes = cluster_sums(correct.astype(np.float64), clusters)
    accuracy = correct.mean(axis=0)
    resampled = bootstrap_accuracies(sums, sizes, n_resamples, seed)
    tail = (1 - confidence_level) / 2
    comparisons = []
    for i, j in combinations(range(len(models)), 2):
        a, b = (i, j) if accuracy[i] >= accuracy[j] else (j, i)
        low, high = np.quantile(resampled[:, a] - resampled[:, b], [tail, 1 - tail])
        chi2_stat, p = clustered_mcnemar(sums[:, a] - sums[:, b])
        comparisons.append(Comparison(models[a], models[b], int(correct.shape[0]), len(sizes),
                                      float(accuracy[a]), float(accuracy[b]), float(accuracy[a] - accuracy[b]),
                                      float(low), float(high), chi2_stat, p))
    return sorted(comparisons, key=lambda c: (-c.accuracy_a, -c.accuracy_b))
