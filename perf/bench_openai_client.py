"""The served-model engine against a plain async client, on one local vLLM server (not in CI).

Starts one server of the embedded model with `dart_hf.engines.serve.start_server`, then
alternates (plain, engine, plain, engine, ...): the same completion requests (GSM8K chat
prompts rendered by dart-hf, `--samples` per query, `--max-tokens`) at the same concurrency,
each timed from the first request to the last answer, in generated tokens/s (the servers'
`usage`). The plain client is a bare `httpx.AsyncClient` with a semaphore; the engine is
`OpenAIEngine.generate` (its async path, dispatcher and checks). Also the latency of single
requests sent one at a time. The goal is engine/plain >= 0.95 (median of the pairs).

Usage:
    flock /tmp/dart-hf-engine.lock .venv/bin/python perf/bench_openai_client.py

Writes perf/results/bench_openai_client.json and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


async def plain_client(base_url: str, bodies: list[dict], concurrency: int) -> int:
    """Send every body with a bare httpx client; the generated tokens."""
    import httpx

    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=600, trust_env=False) as client:

        async def one(body: dict) -> int:
            async with gate:
                resp = await client.post(f"{base_url}/completions", json=body)
                resp.raise_for_status()
                return int(resp.json()["usage"]["completion_tokens"])

        return sum(await asyncio.gather(*(one(b) for b in bodies)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=24)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()

    from dart_hf.engines import serve
    from dart_hf.engines.base import EngineSpec, GenerationParams, Request
    from dart_hf.engines.openai_engine import OpenAIEngine
    from dart_hf.sampling.prompts import render_prompt
    from dart_hf.sources import load_pool

    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    result: dict = {"settings": vars(args), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as logs:
        start = time.monotonic()
        server = serve.start_server(None, log_dir=logs, max_model_len=2048, kv_cache_gib=1)
        result["startup_s"] = round(time.monotonic() - start, 1)
        with server:
            conn = server.connection(server_max_in_flight=args.concurrency)
            engine = OpenAIEngine(EngineSpec(backend="openai", connection=conn))
            queries = load_pool("gsm8k", limit=args.queries)["query"]
            prompts = [render_prompt("chat", q, tokenizer=engine.tokenizer) for q in queries]
            params = GenerationParams(max_tokens=args.max_tokens, temperature=1.0, top_p=1.0)
            bodies = [
                {
                    "model": engine.model,
                    "prompt": p,
                    "max_tokens": args.max_tokens,
                    "temperature": 1.0,
                    "top_p": 1.0,
                    "n": 1,
                    "add_special_tokens": False,
                }  # fmt: skip
                for p in prompts
                for _ in range(args.samples)
            ]
            # warm-up (prefix cache, first-request costs) for both paths
            engine.generate(prompts[:2], params)

            latencies = []
            for i in range(5):
                t = time.monotonic()
                asyncio.run(engine.complete(Request(("lat", 0, i), prompts[i], params)))
                latencies.append(round(time.monotonic() - t, 3))
            result["single_request_latency_s"] = latencies

            runs = []
            for pair in range(args.pairs):
                t = time.monotonic()
                tokens = asyncio.run(plain_client(server.base_url, bodies, args.concurrency))
                plain = tokens / (time.monotonic() - t)
                t = time.monotonic()
                out = engine.generate(prompts, params, n=[args.samples] * len(prompts))
                wall = time.monotonic() - t
                comps = [c for cs in out for c in cs]
                assert all(c.error is None for c in comps)
                ours = sum(c.n_tokens for c in comps) / wall
                runs.append(
                    {
                        "pair": pair,
                        "plain_tok_s": round(plain, 1),
                        "engine_tok_s": round(ours, 1),
                        "ratio": round(ours / plain, 3),
                    }  # fmt: skip
                )
                print(runs[-1], flush=True)
            result["runs"] = runs
            result["median_ratio"] = statistics.median(r["ratio"] for r in runs)
            result["engine_max_in_flight_seen"] = engine.max_in_flight_seen
            result["provenance"] = engine.provenance()
            engine.close()
    result["load_after"] = os.getloadavg()
    out = REPO / "perf" / "results" / "bench_openai_client.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
