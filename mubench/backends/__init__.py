"""Backends, registered by name. Each lives in one small module, imported only when used
(so validating a config never imports torch)."""

from __future__ import annotations

import importlib

from mubench.backends.base import Backend, QuestionItem

_REGISTRY = {
    "random": "mubench.backends.random_baseline:RandomBackend",
    "open_clip": "mubench.backends.open_clip_backend:OpenClipBackend",
    "transformers": "mubench.backends.transformers_backend:TransformersContrastiveBackend",
    "vllm": "mubench.backends.vllm_backend:VllmBackend",
    "transformers_generate": "mubench.backends.transformers_generative:TransformersGenerativeBackend",
    "openai": "mubench.backends.openai_backend:OpenAIBackend",
}


def register_backend(name: str, target: str) -> None:
    """Register ``module:Class`` under ``name`` (plugins and tests may add their own)."""
    _REGISTRY[name] = target


def registered_backends() -> list[str]:
    return sorted(_REGISTRY)


def backend_class(name: str) -> type[Backend]:
    module_name, class_name = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


__all__ = ["Backend", "QuestionItem", "backend_class", "register_backend", "registered_backends"]
