"""The random baseline: a uniform pick among the options, seeded per question.

Each question draws from its own generator keyed by (seed, row, question type), so the answer
does not depend on batching, job order or resumption.
"""

from __future__ import annotations

import zlib

import numpy as np

from mubench.backends.base import Backend, QuestionItem


class RandomBackend(Backend):
    text_field = "questions"

    def score_prepared(self, prepared, items: list[QuestionItem]) -> list[np.ndarray]:
        return [self._scores(item) for item in items]

    def _scores(self, item: QuestionItem) -> np.ndarray:
        key = zlib.crc32(item.question_type.encode())
        rng = np.random.default_rng([self.seed, item.row_idx, key])
        scores = np.zeros(len(item.options), dtype=np.float32)
        scores[rng.integers(len(item.options))] = 1.0
        return scores
