"""`dart-hf sample` through a served model against a plain async client (not in CI).

Starts one vLLM OpenAI server of the embedded model (`dart_hf.engines.serve.start_server`),
then alternates (plain, dart-hf, plain, dart-hf, ...) on the same requests:

* dart-hf: `dart-hf sample --base-url URL` (the CLI, in this process: its stream, journal,
  shards and checks), the GSM8K pool's first `--queries` queries, `--samples` each;
* plain: a bare `httpx.AsyncClient` with a semaphore, replaying the request bodies dart-hf
  sent in its warm-up run (so both send the same prompts and settings), at the same
  concurrency.

Both are timed from the first request to the last answer (dart-hf's through a wrapper of the
engine's `complete`), in generated tokens/s (`usage` for plain; the shards' `n_tokens` for
dart-hf). The goal is dart-hf/plain >= 0.95 (median of the pairs). Then the server is stopped
and `dart-hf sample --engine vllm` samples the same queries in this process (reported, first
request to last answer likewise, after its engine has started).

Usage:
    flock /tmp/dart-hf-engine.lock .venv/bin/python perf/bench_openai_client.py

Writes perf/results/bench_openai_client.json and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


async def plain_client(base_url: str, bodies: list[tuple[str, dict]], concurrency: int) -> int:
    """Send every body with a bare httpx client; the generated tokens."""
    import httpx

    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=600, trust_env=False) as client:

        async def one(path: str, body: dict) -> int:
            async with gate:
                resp = await client.post(f"{base_url}/{path}", json=body)
                resp.raise_for_status()
                return int(resp.json()["usage"]["completion_tokens"])

        return sum(await asyncio.gather(*(one(p, b) for p, b in bodies)))


class Window:
    """First request and last answer of an engine's `complete`, wrapped on its class."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.original = cls.complete
        self.first = self.last = None
        window = self

        @functools.wraps(self.original)
        async def complete(engine, request):  # noqa: ANN001, ANN202
            now = time.monotonic()
            if window.first is None or now < window.first:
                window.first = now
            out = await window.original(engine, request)
            window.last = time.monotonic()
            return out

        cls.complete = complete

    def reset(self) -> None:
        self.first = self.last = None

    @property
    def seconds(self) -> float:
        return self.last - self.first

    def restore(self) -> None:
        self.cls.complete = self.original


def sample(args: list[str]) -> None:
    """`dart-hf sample ARGS` in this process (raises on a non-zero exit)."""
    from dart_hf.cli import cli

    try:
        cli.main(["sample", *args], standalone_mode=False)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise


def shard_tokens(out: Path) -> tuple[int, int]:
    """Rows and generated tokens of a sample folder."""
    import pyarrow.parquet as pq

    rows = tokens = 0
    for path in sorted(out.glob("shard-*.parquet")):
        t = pq.read_table(path, columns=["n_tokens"])
        rows += t.num_rows
        tokens += sum(t.column("n_tokens").to_pylist())
    return rows, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=48)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--skip-in-process", action="store_true")
    args = parser.parse_args()

    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

    from dart_hf.engines import serve
    from dart_hf.engines.openai_engine import OpenAIEngine

    common = [
        "--pool",
        "gsm8k",
        "--limit",
        str(args.queries),
        "--n",
        str(args.samples),
        "--max-tokens",
        str(args.max_tokens),
        "--temperature",
        "1.0",
        "--top-p",
        "1.0",
        "--template",
        "chat",
        "--max-in-flight",
        str(args.concurrency),
        "-q",
    ]
    result: dict = {"settings": vars(args), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        start = time.monotonic()
        server = serve.start_server(None, log_dir=tmp, max_model_len=2048, kv_cache_gib=1)
        result["startup_s"] = round(time.monotonic() - start, 1)
        served = [*common, "--base-url", server.base_url, "--server-max-in-flight", str(args.concurrency)]

        with server:
            # warm-up run of dart-hf, recording the bodies it sends (the plain client's requests)
            bodies: list[tuple[str, dict]] = []
            payload = OpenAIEngine._payload

            def recording(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
                path, body = payload(self, *a, **k)
                bodies.append((path, dict(body)))
                return path, body

            OpenAIEngine._payload = recording
            try:
                sample([*served, "-o", str(tmp_path / "warm")])
            finally:
                OpenAIEngine._payload = payload
            result["requests"] = len(bodies)
            result["request_example"] = {k: v for k, v in bodies[0][1].items() if k != "prompt"}

            window = Window(OpenAIEngine)
            runs = []
            try:
                for pair in range(args.pairs):
                    t = time.monotonic()
                    tokens = asyncio.run(plain_client(server.base_url, bodies, args.concurrency))
                    plain = tokens / (time.monotonic() - t)
                    window.reset()
                    out = tmp_path / f"served-{pair}"
                    sample([*served, "-o", str(out)])
                    rows, ours_tokens = shard_tokens(out)
                    assert rows == len(bodies), (rows, len(bodies))
                    ours = ours_tokens / window.seconds
                    runs.append(
                        {
                            "pair": pair,
                            "plain_tok_s": round(plain, 1),
                            "dart_hf_sample_tok_s": round(ours, 1),
                            "ratio": round(ours / plain, 3),
                            "plain_tokens": tokens,
                            "dart_hf_tokens": ours_tokens,
                        }
                    )
                    print(runs[-1], flush=True)
            finally:
                window.restore()
        result["runs"] = runs
        result["median_ratio"] = statistics.median(r["ratio"] for r in runs)

        if not args.skip_in_process:  # the server is stopped now
            from dart_hf.engines.vllm_engine import VLLMEngine

            window = Window(VLLMEngine)
            try:
                out = tmp_path / "in-process"
                sample([*common, "--engine", "vllm", "-o", str(out)])
                rows, tokens = shard_tokens(out)
                result["in_process_vllm"] = {
                    "tok_s": round(tokens / window.seconds, 1),
                    "rows": rows,
                    "tokens": tokens,
                    "vs_served_median": round(
                        tokens / window.seconds / statistics.median(r["dart_hf_sample_tok_s"] for r in runs),
                        3,
                    ),
                }
            finally:
                window.restore()
    result["load_after"] = os.getloadavg()
    out_file = REPO / "perf" / "results" / "bench_openai_client.json"
    out_file.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
