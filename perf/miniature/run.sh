#!/usr/bin/env bash
# The end-to-end miniature of the paper (README, "A miniature of the paper"): build a small
# DART-Math-Hard set (scripted engine over reference solutions), fine-tune the embedded
# SmolLM2 on it, evaluate before and after. About 15 minutes on 2 cores. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 DART_HF_DATA_DIR=${DART_HF_DATA_DIR:-../shared/data}
D=${1:-runs/miniature}
EVAL="--benchmarks gsm8k,math500 --limit 16 --max-tokens 256 --template alpaca --engine transformers"
.venv/bin/dart-hf build --config perf/miniature/build.yaml -o "$D/build"
.venv/bin/dart-hf train --data "$D/build/releases/dart-math-hard" --config train-embedded \
    --epochs 1 --max-length 512 --batch-size 4 --grad-accum 2 -o "$D/sft"
.venv/bin/dart-hf eval $EVAL -o "$D/eval-before"
.venv/bin/dart-hf eval --model "$D/sft" $EVAL -o "$D/eval-after"
