"""Helpers shared by the benchmarks: timing and a side-by-side report."""

from __future__ import annotations

import statistics
import time


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def median(values: list[float]) -> float:
    return statistics.median(values)
