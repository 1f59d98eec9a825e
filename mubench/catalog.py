"""The model catalog: one YAML file naming every model with its backend, weights and resources."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mubench.config import load_yaml, validate
from mubench.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    backend: str
    weights: str
    display_name: str
    paper_name: str | None = None
    model_type: str = "contrastive"
    pretrained: str | None = None
    revision: str | None = None
    gated: bool = False
    options: dict = field(default_factory=dict)
    batch_size: int = 64
    params_m: float | None = None
    resources: dict = field(default_factory=dict)
    build: dict | None = None

    def provenance(self) -> dict:
        return {"name": self.name, "display_name": self.display_name, "backend": self.backend,
                "weights": self.weights, "pretrained": self.pretrained, "revision": self.revision,
                "model_type": self.model_type, "paper_name": self.paper_name, "options": self.options}


class Catalog:
    def __init__(self, entries: dict[str, dict], source: str):
        self.source = source
        self.models = {name: ModelSpec(name=name, display_name=entry.pop("display_name", name), **entry)
                       for name, entry in entries.items()}
        self._check_backends()

    @classmethod
    def load(cls, path: str | Path) -> "Catalog":
        data = validate(load_yaml(path), "models", str(path))
        return cls(data["models"], str(path))

    def _check_backends(self) -> None:
        from mubench.backends import registered_backends

        known = registered_backends()
        for spec in self.models.values():
            if spec.backend not in known:
                raise ConfigError(f"{self.source}: model '{spec.name}' uses unknown backend "
                                  f"'{spec.backend}' (registered: {', '.join(sorted(known))})")

    def get(self, name: str) -> ModelSpec:
        if name not in self.models:
            raise ConfigError(f"unknown model '{name}': not in the catalog {self.source} "
                              f"(add an entry there; known: {', '.join(sorted(self.models))})")
        return self.models[name]

    def check_selected(self, names: list[str]) -> list[ModelSpec]:
        return [self.get(name) for name in names]
