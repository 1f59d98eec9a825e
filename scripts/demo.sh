#!/usr/bin/env bash
# Install what is needed, then run the embedded offline demo end to end (2 CPU cores, minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
# Rules call the `mubench` CLI: put the environment's scripts first on PATH.
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/snakemake --cores "${CORES:-2}" "$@"
echo "tables: results/tables/ (table1.md, task_by_question_type.md)"
echo "report: results/report/ (tables in CSV/MD/LaTeX/HTML, figures); one HTML file:"
echo "  .venv/bin/snakemake --report results/report.html"
