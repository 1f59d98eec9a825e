"""mubench: run μ-Bench (microscopy vision-language benchmark) at cluster scale."""

__version__ = "0.1.0"

# Bumped whenever predictions.jsonl or score.json change shape.
RESULTS_SCHEMA_VERSION = 1
