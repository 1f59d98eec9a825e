#!/usr/bin/env bash
# Install what is needed, then run the full test suite (every suite; nothing is skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
# Rules call the `mubench` CLI: put the environment's scripts first on PATH.
export PATH="$PWD/.venv/bin:$PATH"
# The SLURM tests need a real (single-node) cluster: install and start it (root; idempotent).
bash scripts/slurm-cluster.sh start
export HF_HUB_OFFLINE=1
.venv/bin/python -m pytest -ra "$@"
