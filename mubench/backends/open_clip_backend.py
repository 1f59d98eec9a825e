"""open_clip models: architecture names (+ pretrained tag), ``hf-hub:`` repos or ``local-dir:``."""

from __future__ import annotations

from mubench.backends.contrastive import ContrastiveBackend
from mubench.weights import hub_snapshot, local_path, revision_of_snapshot


class OpenClipBackend(ContrastiveBackend):
    resolved_revision = None

    def load(self) -> None:
        import open_clip

        name = self._model_name()
        options = dict(self.spec.options)
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(
            name, pretrained=None if name.startswith("local-dir:") else self.spec.pretrained,
            device=self.device, **options)
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(name)

    def _model_name(self) -> str:
        weights = self.spec.weights
        if weights.startswith("local-dir:"):
            return "local-dir:" + str(local_path(self.spec, weights[len("local-dir:"):]))
        if weights.startswith("hf-hub:"):
            # open_clip cannot pin a revision itself: resolve the snapshot, then load it locally.
            folder = hub_snapshot(self.spec, weights[len("hf-hub:"):])
            self.resolved_revision = revision_of_snapshot(folder) or self.spec.revision
            return "local-dir:" + str(folder)
        return weights

    def preprocess_images(self, images):
        import torch

        return torch.stack([self.preprocess(image) for image in images])

    def _encode_images(self, pixels):
        return self.model.encode_image(pixels)

    def _encode_texts(self, texts):
        return self.model.encode_text(self.tokenizer(texts).to(self.device))

    def runtime_info(self) -> dict:
        return {**super().runtime_info(), "resolved_revision": self.resolved_revision or self.spec.revision}
