"""What every backend implements: load once, then score batches of questions."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuestionItem:
    """One question of one image. ``options`` are the texts this backend scores (captions for
    contrastive models, the plain options for the others)."""
    row_idx: int
    question_type: str
    image_index: int  # position of its image in the batch
    question: str
    options: tuple[str, ...]


class Backend(ABC):
    #: "scores" (one score per option, argmax) or "generative" (free text, see generative.py)
    kind = "scores"
    #: which column of the row holds the texts scored: "captions" or "questions"
    text_field = "questions"
    scoring = "argmax over option scores"

    def __init__(self, spec, device: str = "cpu", seed: int = 0):
        self.spec = spec
        self.device = device
        self.seed = seed

    def load(self) -> None:
        """Load weights (may raise WeightsError naming what is missing)."""

    def prepare_texts(self, texts: list[str]) -> None:
        """Called once per job with every distinct text it will score."""

    def preprocess_images(self, images: list):
        """CPU-side work on a batch's images (resize, normalise). Runs in worker threads, ahead
        of the model, so it must not touch model state."""
        return images

    @abstractmethod
    def score_prepared(self, prepared, items: list[QuestionItem]) -> list[np.ndarray]:
        """One score per option for each item (the prediction is the argmax), given what
        ``preprocess_images`` returned for the batch."""

    def score(self, images: list, items: list[QuestionItem]) -> list[np.ndarray]:
        return self.score_prepared(self.preprocess_images(images), items)

    def runtime_info(self) -> dict:
        return {"device": self.device}


def resolve_device(requested: str) -> str:
    if requested != "auto":
        return requested
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"
