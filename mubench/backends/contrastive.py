"""Shared scoring for contrastive models: argmax of image–text cosine similarity.

Texts are encoded once per job (every distinct caption, in batches) and looked up per
question; images are encoded in batches. On a GPU the forward passes run under autocast.
"""

from __future__ import annotations

import contextlib
from abc import abstractmethod

import numpy as np

from mubench.backends.base import Backend, QuestionItem


class ContrastiveBackend(Backend):
    text_field = "captions"
    text_batch_size = 256

    def __init__(self, spec, device="cpu", seed=0):
        super().__init__(spec, device, seed)
        self._text_index: dict[str, int] = {}
        self._text_features = None
        self.text_cache = None  # a TextFeatureCache, attached by the job when configured
        self.texts_encoded = 0

    @abstractmethod
    def preprocess_images(self, images: list):
        """Pixel tensor [N, C, H, W] for the batch (runs in worker threads)."""

    @abstractmethod
    def _encode_images(self, pixels):
        """Image features, shape [N, D] (any scale)."""

    @abstractmethod
    def _encode_texts(self, texts: list[str]):
        """Text features, shape [N, D] (any scale)."""

    def autocast(self):
        import torch

        if self.device.startswith("cuda"):
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        return contextlib.nullcontext()

    def prepare_texts(self, texts: list[str]) -> None:
        import torch

        new = [t for t in dict.fromkeys(texts) if t not in self._text_index]
        if not new:
            return
        cached = {t: self.text_cache.get(t) for t in new} if self.text_cache else {}
        missing = [t for t in new if cached.get(t) is None]
        encoded = {}
        with torch.inference_mode(), self.autocast():
            for start in range(0, len(missing), self.text_batch_size):
                chunk = missing[start:start + self.text_batch_size]
                encoded.update(zip(chunk, self._normalise(self._encode_texts(chunk)).cpu()))
        self.texts_encoded += len(missing)
        if self.text_cache:
            for text, vector in encoded.items():
                self.text_cache.put(text, vector.numpy())
        features = torch.stack([encoded[t] if t in encoded else torch.from_numpy(cached[t]) for t in new])
        features = features.to(self.device)
        base = 0 if self._text_features is None else self._text_features.shape[0]
        self._text_features = features if self._text_features is None else torch.cat([self._text_features, features])
        self._text_index.update({text: base + i for i, text in enumerate(new)})

    def score_prepared(self, pixels, items: list[QuestionItem]) -> list[np.ndarray]:
        import torch

        self.prepare_texts([t for item in items for t in item.options])
        with torch.inference_mode(), self.autocast():
            image_features = self._normalise(self._encode_images(pixels.to(self.device, non_blocking=True)))
        similarity = (image_features @ self._text_features.T).float().cpu().numpy()
        return [similarity[item.image_index, [self._text_index[t] for t in item.options]] for item in items]

    @staticmethod
    def _normalise(features):
        features = features.float()
        return features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def runtime_info(self) -> dict:
        import torch

        info = {"device": self.device, "torch_threads": torch.get_num_threads()}
        if self.device.startswith("cuda"):
            info["autocast_dtype"] = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
            info["gpu"] = torch.cuda.get_device_name()
        else:
            info["autocast_dtype"] = None
        return info
