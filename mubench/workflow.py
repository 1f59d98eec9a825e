"""Planning shared by the Snakemake workflow and ``mubench validate``: the validated config, the
catalog entries it selects and the model × task grid — checked before any job starts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from mubench.catalog import Catalog, ModelSpec
from mubench.config import load_yaml, validate_config
from mubench.errors import ConfigError
from mubench.protocol import EXTRA_DATASETS, PAPER_DATASETS


@dataclass
class Plan:
    config: dict
    catalog: Catalog
    models: list[ModelSpec]
    tasks: list[str] | None  # None: every task found in the data (known after prepare)

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
    return Plan(config, catalog, models, tasks)


def load_workflow_config(path: str, overrides: list[str] = ()) -> tuple[dict, Plan]:
    config = load_yaml(path)
    for override in overrides:
        key, _, value = override.partition("=")
        config[key] = yaml.safe_load(value)
    plan = plan_from_config(config, path)
    return config, plan
