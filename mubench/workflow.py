"""Planning shared by the Snakemake workflow and ``mubench validate``: the validated config, the
catalog entries it selects and the model × task grid — checked before any job starts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mubench.catalog import Catalog, ModelSpec
from mubench.config import load_yaml, validate_config
from mubench.errors import ConfigError
from mubench.interpolate import derived_spec
from mubench.protocol import EXTRA_DATASETS, PAPER_DATASETS


INTERPOLATED_DIR = "resources/interpolated"


@dataclass
class Plan:
    config: dict
    catalog: Catalog
    models: list[ModelSpec]
    tasks: list[str] | None  # None: every task found in the data (known after prepare)
    pairs: list = field(default_factory=list)  # weight interpolations (mubench.interpolate.Pair)

    def interpolated(self) -> dict[str, tuple]:
        """Derived model name → (pair, alpha)."""
        return {name: (pair, alpha) for pair in self.pairs for name, alpha in pair.derived().items()}

    @property
    def results_dir(self) -> Path:
        return Path(self.config["results_dir"])

    @property
    def data_dir(self) -> Path:
        return self.results_dir / "data"

    def jobs(self, tasks: list[str] | None = None) -> list[tuple[str, str]]:
        tasks = tasks if tasks is not None else (self.tasks or [])
        return [(model.name, task) for model in self.models for task in tasks]


def known_task_keys(config: dict) -> tuple[set[str], str]:
    """Keys a task list may name, and where they come from (for the error message)."""
    manifest = Path(config["results_dir"]) / "data" / "manifest.json"
    prepared = json.loads(manifest.read_text()) if manifest.exists() else None
    if prepared and prepared["source"]["kind"] == config["data"]["source"]:  # not a stale other source
        return set(prepared["tasks"]), f"the prepared data ({manifest})"
    if config["data"]["source"] == "demo":
        from mubench.data.demo import DEMO_TASKS

        return set(DEMO_TASKS), "the demo dataset"
    return set(PAPER_DATASETS) | set(EXTRA_DATASETS), "μ-Bench's dataset keys"


def plan_from_config(config: dict, source: str = "config") -> Plan:
    validate_config(config, source)
    catalog = Catalog.load(config["catalog"])
    models = catalog.check_selected(config["models"])
    tasks = None
    if config["tasks"] != "all":
        known, where = known_task_keys(config)
        unknown = [t for t in config["tasks"] if t not in known]
        if unknown:
            raise ConfigError(f"{source}: unknown task key(s) {unknown}: not among {where} "
                              f"({', '.join(sorted(known))})")
        tasks = list(config["tasks"])
        stray = [t for t in config["cognition_tasks"] if t not in tasks]
        if stray:
            raise ConfigError(f"{source}: cognition_tasks {stray} are not among the selected tasks")
    pairs = interpolation_pairs(config, catalog, source)
    for pair in pairs:  # θ(α) models join the grid like any catalog model
        for name, alpha in pair.derived().items():
            spec = derived_spec(pair, alpha, f"{INTERPOLATED_DIR}/{name}")
            if name in catalog.models:
                raise ConfigError(f"{source}: interpolated model name '{name}' is already a catalog entry")
            catalog.models[name] = spec
            models.append(spec)
    return Plan(config, catalog, models, tasks, pairs)


def interpolation_pairs(config: dict, catalog: Catalog, source: str) -> list:
    from mubench.interpolate import pair_from_config

    pairs = [pair_from_config(entry, catalog, source) for entry in config.get("interpolations", [])]
    names = [pair.name for pair in pairs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: interpolation names repeat: {names}")
    return pairs


def load_workflow_config(path: str, overrides: list[str] = ()) -> tuple[dict, Plan]:
    config = load_yaml(path)
    for override in overrides:
        key, _, value = override.partition("=")
        config[key] = yaml.safe_load(value)
    plan = plan_from_config(config, path)
    return config, plan
