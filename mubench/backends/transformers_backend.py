"""transformers dual encoders: CLIP (and PLIP), ALIGN, SigLIP — anything with
``get_image_features`` / ``get_text_features`` and an AutoProcessor."""

from __future__ import annotations

from mubench.backends.contrastive import ContrastiveBackend
from mubench.errors import WeightsError
from mubench.weights import is_local, local_path, strip_local_prefix


class TransformersContrastiveBackend(ContrastiveBackend):
    def load(self) -> None:
        from transformers import AutoModel, AutoProcessor

        source = self.spec.weights
        kwargs = {}
        if is_local(source):
            source = str(local_path(self.spec, strip_local_prefix(source)))
        else:
            kwargs["revision"] = self.spec.revision
        try:
            self.model = AutoModel.from_pretrained(source, **kwargs).to(self.device).eval()
            self.processor = AutoProcessor.from_pretrained(source, **kwargs)
        except OSError as exc:
            raise WeightsError(f"model '{self.spec.name}': cannot load {source}: {exc}") from exc
        # ALIGN and SigLIP were trained with max_length padding; the catalog says so per model.
        self.padding = self.spec.options.get("padding", True)
        self.resolved_revision = getattr(self.model.config, "_commit_hash", None) or self.spec.revision

    def preprocess_images(self, images):
        return self.processor(images=images, return_tensors="pt")["pixel_values"]

    def _encode_images(self, pixels):
        return _features(self.model.get_image_features(pixel_values=pixels))

    def _encode_texts(self, texts):
        inputs = self.processor(text=texts, return_tensors="pt", padding=self.padding, truncation=True)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        return _features(self.model.get_text_features(**inputs))


    def runtime_info(self) -> dict:
        return {**super().runtime_info(), "resolved_revision": self.resolved_revision}


def _features(output):
    """transformers 5 returns a ModelOutput whose pooler_output holds the projected features."""
    if hasattr(output, "shape"):
        return output
    for name in ("pooler_output", "image_embeds", "text_embeds"):
        value = getattr(output, name, None)
        if value is not None:
            return value
    raise WeightsError(f"unexpected feature output {type(output).__name__}")
