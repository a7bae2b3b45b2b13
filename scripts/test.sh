#!/usr/bin/env bash
# The project's test command: lint, format check, type check, then every test (the
# integration tests run the real engines on the embedded model). Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export VLLM_CPU_NUM_OF_RESERVED_CPU=0 VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1}

echo "== ruff check";          "$VENV/bin/ruff" check .
echo "== ruff format --check"; "$VENV/bin/ruff" format --check .
echo "== mypy dart_hf";        "$VENV/bin/mypy" dart_hf
echo "== pytest"
"$VENV/bin/python" -m pytest --durations=25 "$@"
