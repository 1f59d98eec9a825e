"""Config and catalog loading: JSON-schema validation that also fills defaults.

The same functions back the Snakemake workflow (rules/common.smk) and the CLI, so a bad key is
reported the same way everywhere and before any job starts.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
import jsonschema
import yaml

from mubench.errors import ConfigError


def load_schema(name: str) -> dict:
    text = resources.files("mubench").joinpath("schemas", f"{name}.schema.yaml").read_text()
    return yaml.safe_load(text)


def _extend_with_defaults(validator_class):
    """Validator that fills ``default`` values of object properties before validating them."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    default = subschema["default"]
                    instance[name] = dict(default) if isinstance(default, dict) else (
                        list(default) if isinstance(default, list) else default)
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_DefaultFillingValidator = _extend_with_defaults(jsonschema.Draft202012Validator)


def validate(instance: dict, schema_name: str, source: str) -> dict:
    """Validate in place, filling defaults; raise ConfigError naming the offending key."""
    schema = load_schema(schema_name)
    validator = _DefaultFillingValidator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        message = error.message
        if error.validator == "additionalProperties":
            message = f"unknown key: {message}"
        raise ConfigError(f"{source}: invalid value at '{where}': {message}")
    return instance


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def validate_config(config: dict, source: str = "config") -> dict:
    return validate(config, "config", source)
