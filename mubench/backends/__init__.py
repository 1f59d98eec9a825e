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


# The container image family each backend runs in (config `containers`, containers/<family>.def).
_RUNTIME = {"random": "core", "openai": "core", "open_clip": "contrastive", "transformers": "contrastive",
            "vllm": "generative", "transformers_generate": "generative"}
RUNTIMES = ("core", "contrastive", "generative")


def register_backend(name: str, target: str, runtime: str = "contrastive") -> None:
    """Register ``module:Class`` under ``name`` (plugins and tests may add their own)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"backend '{name}': runtime must be one of {RUNTIMES}, not '{runtime}'")
    _REGISTRY[name] = target
    _RUNTIME[name] = runtime


def runtime_of(name: str) -> str:
    """Image family (core, contrastive, generative) a backend needs."""
    return _RUNTIME[name]


def registered_backends() -> list[str]:
    return sorted(_REGISTRY)


def backend_class(name: str) -> type[Backend]:
    module_name, class_name = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


__all__ = ["Backend", "QuestionItem", "backend_class", "register_backend", "registered_backends", "runtime_of"]
