"""Accuracy pooled over questions and its bootstrap confidence interval (the paper's stats).

The paper calls ``scipy.stats.bootstrap((is_correct,), np.mean, confidence_level=0.95,
method='basic')`` on the pooled 0/1 vector and prints ``|high − mean|`` as "±". For 0/1 data
the bootstrap distribution of the mean depends only on (n, k): a resample's mean is
Binomial(n, k/n)/n. The ``binomial`` engine draws exactly that distribution (milliseconds for
80,000 questions instead of seconds); the ``scipy`` engine makes the paper's call literally.
Both are seeded, which the original was not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ENGINES = ("binomial", "scipy")


@dataclass(frozen=True)
class Interval:
    accuracy: float
    low: float
    high: float

    @property
    def plus_minus(self) -> float:
        """What the paper prints after "±": |high − mean|."""
        return abs(self.high - self.accuracy)


def pooled_accuracy(correct: int, total: int) -> float:
    return correct / total if total else float("nan")


def bootstrap_ci(correct: int, total: int, *, n_resamples: int = 9999, confidence_level: float = 0.95,
                 seed: int = 0, engine: str = "binomial") -> Interval:
    if total == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    if not 0 <= correct <= total:
        raise ValueError(f"correct={correct} outside 0..{total}")
    mean = correct / total
    rng = np.random.default_rng(seed)
    if engine == "scipy":
        from scipy import stats

        data = np.concatenate([np.ones(correct), np.zeros(total - correct)])
        result = stats.bootstrap((data,), np.mean, confidence_level=confidence_level, method="basic",
                                 n_resamples=n_resamples, rng=rng, batch=max(1, 20_000_000 // total))
        low, high = result.confidence_interval
        return Interval(mean, float(low), float(high))
    if engine != "binomial":
        raise ValueError(f"unknown bootstrap engine '{engine}' (expected one of {ENGINES})")
    means = rng.binomial(total, mean, size=n_resamples) / total
    alpha = (1 - confidence_level) / 2
    # 'basic' (reverse percentile) interval, as scipy computes it.
    upper_q, lower_q = np.percentile(means, [100 * (1 - alpha), 100 * alpha])
    return Interval(mean, float(2 * mean - upper_q), float(2 * mean - lower_q))
