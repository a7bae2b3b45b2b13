#!/usr/bin/env bash
# The GPU layer (tests/gpu) on a lent GPU machine without network access, as one command:
#   bash scripts/gpu_check.sh
# Needs .wheelhouse/ beside the checkout (`.venv/bin/python scripts/gpu_check.py fill` here;
# the device tool carries it with carry=[".wheelhouse"]). See scripts/gpu_check.py.
# Environment: PYTHON (default python3, the machine's, with CUDA torch), OUT (a folder for the
# log and the JUnit report), ALLOW_NO_CUDA=1 (run the CPU twins where no GPU is visible).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    "$PY" -u scripts/gpu_check.py run "$@" 2>&1 | tee "$OUT/gpu_check.log"
    exit "${PIPESTATUS[0]}"
fi
exec "$PY" -u scripts/gpu_check.py run "$@"
