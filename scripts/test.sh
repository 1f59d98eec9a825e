#!/usr/bin/env bash
# Install what is needed, then run the full test suite (every suite; nothing is skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
# Rules call the `mubench` CLI: put the environment's scripts first on PATH.
export PATH="$PWD/.venv/bin:$PATH"
# The SLURM tests need a real (single-node) cluster: install and start it (root; idempotent).
bash scripts/slurm-cluster.sh start
# The container tests build a SIF without Apptainer (not installable here) and run workflow rules in it
# through tests/doubles/apptainer, a test double (docs/cluster.md). Their tools come from Debian.
missing=0
for tool in debootstrap mksquashfs siftool bwrap; do command -v "$tool" >/dev/null || missing=1; done
if [ "$missing" = 1 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    debootstrap squashfs-tools siftool bubblewrap
fi
export HF_HUB_OFFLINE=1
.venv/bin/python -m pytest -ra "$@"
