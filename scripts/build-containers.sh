#!/usr/bin/env bash
# Build the Apptainer images (needs the real apptainer binary, e.g. on a cluster login node):
#   scripts/build-containers.sh [OUT_DIR] [core|contrastive|generative ...]
# Each image gets mubench at the checked-out commit; the commit is baked in (mubench/GIT_HASH) so
# every score.json written inside the container names it.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-containers}
shift || true
FAMILIES=("${@:-core contrastive generative}")
command -v apptainer >/dev/null || { echo "build-containers: apptainer not found" >&2; exit 1; }
git rev-parse HEAD > mubench/GIT_HASH
trap 'rm -f mubench/GIT_HASH' EXIT
for family in ${FAMILIES[@]}; do
  apptainer build --force "$OUT/$family.sif" "containers/$family.def"
done
