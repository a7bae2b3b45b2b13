#!/usr/bin/env bash
# The project's test command: lint, format check, type check, then every test layer, unit first
# (tests/unit, e2e, integration, gpu: see docs/DESIGN.md, Tests), each its own pytest run, so a
# failing fast layer shows its failures within minutes while the slower layers still run. The
# integration tests run the real engines on the embedded model. Run scripts/setup.sh first.
#
#   bash scripts/test.sh                 # everything (CI)
#   bash scripts/test.sh unit            # one layer (or several: unit e2e)
#   bash scripts/test.sh unit -x -k dars # layers first, then pytest's own options
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export VLLM_CPU_NUM_OF_RESERVED_CPU=0 VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1}

layers=()
while [ $# -gt 0 ] && [[ "$1" =~ ^(unit|e2e|integration|gpu)$ ]]; do layers+=("$1"); shift; done
[ ${#layers[@]} -gt 0 ] || layers=(unit e2e integration gpu)

echo "== ruff check";          "$VENV/bin/ruff" check .
echo "== ruff format --check"; "$VENV/bin/ruff" format --check .
echo "== mypy dart_hf";        "$VENV/bin/mypy" dart_hf

# The served-model tests start their own vLLM server: they run in a pytest session of their
# own, with no in-process engine alive (one engine or server per session).
SERVED=tests/integration/test_openai_serve.py

failed=()
times=()
run() {  # NAME PYTEST-ARGS...
    local name=$1 start=$SECONDS code=0
    shift
    echo "== pytest $name"
    "$VENV/bin/python" -m pytest "$@" --durations=10 || code=$?
    times+=("$name $((SECONDS - start)) s")
    # 5: nothing collected (a -k that selects nothing in this layer)
    if [ "$code" -ne 0 ] && [ "$code" -ne 5 ]; then failed+=("$name"); fi
}
for layer in "${layers[@]}"; do
    if [ "$layer" = integration ]; then
        run "tests/integration" tests/integration --ignore="$SERVED" "$@"
        run "$SERVED" "$SERVED" "$@"
    else
        run "tests/$layer" "tests/$layer" "$@"
    fi
done
printf '== %s\n' "${times[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "== failed: ${failed[*]}"
    exit 1
fi
