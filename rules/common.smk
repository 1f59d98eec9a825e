# Config validation (JSON schema with defaults, catalog, task keys) and the helpers rules use.
import json
from pathlib import Path

from snakemake.exceptions import WorkflowError

from mubench.backends import runtime_of
from mubench.build import weights_folder
from mubench.errors import MubenchError
from mubench.workflow import INTERPOLATED_DIR, plan_from_config

try:
    PLAN = plan_from_config(config, "config")
except MubenchError as exc:
    raise WorkflowError(f"mubench: {exc}")

RESULTS = str(PLAN.results_dir)
DATA_DIR = str(PLAN.data_dir)
MANIFEST = f"{DATA_DIR}/manifest.json"
TABLES = [f"{RESULTS}/tables/{name}" for name in
          ("table1.csv", "table1.md", "task_by_question_type.csv", "task_by_question_type.md", "summary.json")]
DEMO_DATA = "resources/demo/ubench"
INTERPOLATED = PLAN.interpolated()
BUILT_MODELS_DIR = "resources/models"

for _spec in PLAN.models:
    if _spec.build and weights_folder(_spec.weights) != Path(BUILT_MODELS_DIR) / _spec.name:
        raise WorkflowError(f"mubench: model '{_spec.name}' has a build recipe, so its weights must be "
                            f"'local-dir:{BUILT_MODELS_DIR}/{_spec.name}' (found '{_spec.weights}')")

wildcard_constraints:
    model="[^/]+",
    task="[^/]+",


def get_data_source_input(wildcards):
    return [DEMO_DATA] if config["data"]["source"] == "demo" else []


def get_data_source_path():
    return DEMO_DATA if config["data"]["source"] == "demo" else (config["data"]["path"] or "")


def get_tasks():
    """Tasks from the config, or every dataset key the prepared data holds."""
    if PLAN.tasks is not None:
        return PLAN.tasks
    manifest = checkpoints.prepare.get().output.manifest
    return sorted(json.loads(Path(manifest).read_text())["tasks"])


def get_score_files(wildcards):
    return [f"{RESULTS}/{model}/{task}/score.json" for model, task in PLAN.jobs(get_tasks())]


def get_final_outputs(wildcards):
    return TABLES + [f"{RESULTS}/sweep_status.json", f"{RESULTS}/report/index.json"] + get_interpolation_outputs()


def get_model(wildcards):
    return PLAN.catalog.get(wildcards.model)


def container_for(runtime):
    """Apptainer image of a runtime family, or None: the rule then runs on the host (config `containers`)."""
    return config["containers"][runtime]


def get_model_container(wildcards):
    return container_for(runtime_of(get_model(wildcards).backend))


def weights_input(spec):
    """Local weights the workflow makes for a model: built from a recipe, or interpolated."""
    if spec.name in INTERPOLATED:
        return [f"{INTERPOLATED_DIR}/{spec.name}"]
    return [f"{BUILT_MODELS_DIR}/{spec.name}"] if spec.build else []


def get_weights_input(wildcards):
    return weights_input(get_model(wildcards))


def get_catalog(wildcards):
    """θ(α) models are described by the catalog entry their interpolate job writes."""
    if wildcards.model in INTERPOLATED:
        return f"{INTERPOLATED_DIR}/{wildcards.model}/catalog.yaml"
    return config["catalog"]


def get_interpolation_checks(wildcards):
    """Every pair is checked before any evaluation job starts (a mismatch stops the sweep early)."""
    return [f"{RESULTS}/interpolation/{pair.name}/check.json" for pair in PLAN.pairs]


def get_pair(wildcards):
    """The interpolation a job belongs to: by its {pair} wildcard, or by the θ(α) {model} it makes."""
    if hasattr(wildcards, "pair"):
        return next(pair for pair in PLAN.pairs if pair.name == wildcards.pair)
    return INTERPOLATED[wildcards.model][0]


def get_pair_weights_input(wildcards):
    pair = get_pair(wildcards)
    return weights_input(pair.base) + weights_input(pair.finetuned)


def get_cognition_arguments():
    return " ".join(f"--cognition-task {task}" for task in config["cognition_tasks"])


def get_models_to_stage():
    """The selected catalog models and both parents of every interpolation."""
    names = list(config["models"])
    for pair in PLAN.pairs:
        names += [pair.base.name, pair.finetuned.name]
    return list(dict.fromkeys(names))


INTERPOLATION_TABLES = [f"{RESULTS}/tables/interpolation.{ext}" for ext in ("csv", "md")]
INTERPOLATION_PLOTS = [f"{RESULTS}/plots/interpolation.{ext}" for ext in ("png", "svg")]


def get_interpolation_outputs():
    return INTERPOLATION_TABLES + INTERPOLATION_PLOTS if PLAN.pairs else []


def get_failure_marker(wildcards):
    return f"{RESULTS}/.failures/{wildcards.model}/{wildcards.task}.json"


def get_retry_token(wildcards):
    """The id of the cell's last failure ("" if it never failed)."""
    marker = Path(get_failure_marker(wildcards))
    try:
        return json.loads(marker.read_text())["failure_id"]
    except (OSError, ValueError, KeyError):
        return ""


def get_model_resource(key):
    return lambda wildcards: get_model(wildcards).resources.get(key)


def get_scaled_model_resource(key):
    """Memory and runtime from the catalog, grown with each retry (profiles set `retries`)."""
    return lambda wildcards, attempt: get_model(wildcards).resources.get(key) * attempt
