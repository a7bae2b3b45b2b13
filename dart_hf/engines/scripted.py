"""A scripted generation backend: a labelled SIMULATION, not a language model.

It answers every prompt with real response text at a set per-query pass rate, so the real
grading, DARS and assembly code run on it: a hit is the query's reference solution ending in
the gold answer in `\\boxed{}`; a miss is the same text with a perturbed final answer. A few
hits are "glitched" (two different boxed answers, or a repetition loop) so the quality
filters have something to count.

Options (`EngineSpec.options`):
    table: parquet/JSONL path with columns `query`, `answer`, optionally `solution`,
        `pass_rate`, `level`, `wrong_answers` (a list: a miss gives one of them at random
        instead of the one perturbed answer, a model whose wrong answers disagree). Required:
        the engine only sees prompts, so it finds each prompt's row by the query text it
        contains.
    level_pass_rates: pass rate per level when the table has no `pass_rate`
        (a list or a comma list for levels 0..5; options hold no nested mapping); default
        0.9,0.8,0.6,0.45,0.3,0.15 (GSM8K easy, MATH harder by level).
    glitch_rate: share of hits that carry a glitch (default 0.05).
    delay_s: seconds to sleep per generate call, and per streamed request (tests use it to
        kill a build mid-round).
    timing: simulate a GPU engine's timing (`engines.timing`: slots, decode steps, log-normal
        lengths, virtual time; `timing_slots`, `timing_median`, `timing_sigma`, `timing_cap`
        override the model's parameters). The lengths set `n_tokens` and, when capped,
        finish reason `length`; `virtual_time` and `busy_slot_steps` hold the totals.
    request_log: a file that gets one JSON line per request received (its key), so tests
        can count what was sent.

Everything is a function of (spec seed, request seed, prompt, completion index), so a run is
reproducible; different seeds (rounds, shards) give independent draws. The stream
(`complete`) and the blocking `generate` give the same completion for the same
(seed, prompt, index).
"""

from __future__ import annotations

import hashlib
import random
import re
import time
import weakref
from functools import cached_property
from pathlib import Path
from typing import Any

from dart_hf.engines.base import Completion, EngineSpec, GenerationParams, Request
from dart_hf.engines.timing import TimingModel, VirtualClock
from dart_hf.errors import DartError

SCRIPTED_VERSION = "1"
DEFAULT_LEVEL_PASS_RATES = (0.9, 0.8, 0.6, 0.45, 0.3, 0.15)
_OPENERS = (
    "Let's reason step by step.",
    "We solve this carefully.",
    "Let me work through the problem.",
    "Here is a step-by-step solution.",
    "First, read what is asked.",
    "We proceed in steps.",
    "Consider the problem.",
    "Let us think.",
)
_CLOSERS = (
    "The final answer is $\\boxed{{{}}}$.",
    "So the answer is $\\boxed{{{}}}$.",
    "Therefore, the answer is $\\boxed{{{}}}$.",
    "Hence $\\boxed{{{}}}$.",
)
_CALC = re.compile(r"<<[^>]*>>")
_BOXED = re.compile(r"\\(?:boxed|fbox)\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}")


def _parse_level_rates(value: Any) -> dict[int, float]:
    if value is None:
        return dict(enumerate(DEFAULT_LEVEL_PASS_RATES))
    if isinstance(value, str):
        return {i: float(v) for i, v in enumerate(value.split(","))}
    if isinstance(value, dict):
        return {int(k): float(v) for k, v in value.items()}
    return {i: float(v) for i, v in enumerate(value)}


def perturb(answer: str) -> str:
    """A wrong answer that a grader cannot mistake for `answer`."""
    text = answer.strip()
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        return f"{text} + 1" if text else "1"
    if number.is_integer():
        return str(int(number) + 1)
    return f"{number + 1:g}"


def _body(solution: str | None) -> str:
    """Reference reasoning without its final-answer markers."""
    if not solution:
        return "We compute the quantity asked for."
    text = _CALC.sub("", solution)
    text = re.sub(r"\n?####.*$", "", text, flags=re.S)
    return _BOXED.sub(lambda m: m.group(1), text).strip()


class ScriptedEngine:
    """Deterministic simulated backend (see the module docstring)."""

    name = "scripted"
    stream_loop = "caller"
    """`complete` may run on the caller's event loop (it holds nothing bound to a loop)."""
    seeding = "per request"
    default_max_in_flight = 256
    OPTIONS = frozenset(
        {
            "table",
            "level_pass_rates",
            "glitch_rate",
            "delay_s",
            "timing",
            "timing_slots",
            "timing_median",
            "timing_sigma",
            "timing_cap",
            "request_log",
        }
    )
    """The options this engine reads (others are refused before it starts)."""

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        table = spec.option("table")
        if not table:
            raise DartError("the scripted engine needs the option 'table' (query/answer table)")
        self._table_path = Path(table)
        if not self._table_path.is_file():
            raise DartError(f"scripted engine: table not found: {self._table_path}")
        self._level_rates = _parse_level_rates(spec.option("level_pass_rates"))
        self._glitch = float(spec.option("glitch_rate", 0.05))
        self._by_prompt: dict[str, dict[str, Any]] = {}
        self.timing: TimingModel | None = None
        if spec.option("timing", False):
            defaults = TimingModel()
            self.timing = TimingModel(
                slots=int(spec.option("timing_slots", defaults.slots)),
                median=float(spec.option("timing_median", defaults.median)),
                sigma=float(spec.option("timing_sigma", defaults.sigma)),
                cap=int(spec.option("timing_cap", defaults.cap)),
            )
        self.totals = {"steps": 0, "busy": 0}
        self._clocks: weakref.WeakKeyDictionary[Any, VirtualClock] = weakref.WeakKeyDictionary()
        log = spec.option("request_log")
        self._request_log = Path(log) if log else None

    @cached_property
    def _rows(self) -> list[dict[str, Any]]:
        import datasets

        fmt = "parquet" if self._table_path.suffix == ".parquet" else "json"
        ds = datasets.load_dataset(fmt, data_files=str(self._table_path), split="train")
        for col in ("query", "answer"):
            if col not in ds.column_names:
                raise DartError(f"scripted engine table {self._table_path}: no column {col!r}")
        rows = ds.to_list()
        # Longest first, so a query that contains another query's text is matched first.
        rows.sort(key=lambda r: -len(r["query"]))
        return rows

    def _row(self, prompt: str) -> dict[str, Any]:
        row = self._by_prompt.get(prompt)
        if row is None:
            row = next((r for r in self._rows if r["query"] in prompt), None)
            if row is None:
                raise DartError(f"scripted engine: no table row matches prompt {prompt[:80]!r}")
            self._by_prompt[prompt] = row
        return row

    def pass_rate(self, row: dict[str, Any]) -> float:
        """The simulated pass rate of a table row."""
        if row.get("pass_rate") is not None:
            return float(row["pass_rate"])
        level = row.get("level")
        return self._level_rates.get(0 if level is None else int(level), 0.5)

    def _rng(self, seed: int, prompt: str, i: int) -> random.Random:
        key = f"{self.spec.seed}|{seed}|{i}|{prompt}".encode()
        return random.Random(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big"))

    def _one(self, row: dict[str, Any], rng: random.Random, max_tokens: int) -> Completion:
        gold = str(row["answer"])
        hit = rng.random() < self.pass_rate(row)
        body = _body(row.get("solution"))
        opener = rng.choice(_OPENERS)
        closer = rng.choice(_CLOSERS)
        note = f"(Check {rng.randrange(16)}.)"
        if hit:
            final = closer.format(gold)
            if rng.random() < self._glitch:
                if rng.random() < 0.5:
                    body = f"{body}\nPerhaps it is $\\boxed{{{perturb(gold)}}}$; checking again."
                else:
                    body = f"{body}\n" + " ".join(["so we repeat the step"] * 12)
        else:
            wrong = row.get("wrong_answers")  # misses that scatter; else one consistent miss
            final = closer.format(rng.choice(wrong) if wrong else perturb(gold))
        text = f"{opener}\n{body}\n{note}\n{final}"
        words = text.split(" ")
        if len(words) > max_tokens:
            return Completion(" ".join(words[:max_tokens]), "length", max_tokens)
        return Completion(text, "stop", len(words))

    def _timed(self, comp: Completion, steps: int, max_tokens: int) -> Completion:
        """The completion with the timing model's length (capped: finish reason length)."""
        cap = min(self.timing.cap if self.timing else steps, max_tokens)
        n = min(steps, cap)
        return Completion(comp.text, "length" if n >= cap else "stop", n)

    def generate(
        self, prompts: list[str], params: GenerationParams, n: list[int] | None = None
    ) -> list[list[Completion]]:
        """Simulated completions for every prompt (`n[i]` of them, else `params.n`).

        With the timing model, the call is one blocking batch: its requests run in order on
        the slots and virtual time advances by their makespan.
        """
        counts = n if n is not None else [params.n] * len(prompts)
        delay = float(self.spec.option("delay_s", 0) or 0)
        if delay:
            time.sleep(delay)
        out = []
        lengths = []
        for prompt, k in zip(prompts, counts, strict=True):
            row = self._row(prompt)
            comps = []
            for i in range(k):
                comp = self._one(row, self._rng(params.seed, prompt, i), params.max_tokens)
                if self.timing is not None:
                    steps = min(self.timing.length(params.seed, prompt, i), params.max_tokens)
                    lengths.append(steps)
                    comp = self._timed(comp, steps, params.max_tokens)
                comps.append(comp)
            out.append(comps)
            self._log_requests(prompt, params.seed, range(k))
        if self.timing is not None:
            span, busy = self.timing.makespan(lengths)
            self.totals["steps"] += span
            self.totals["busy"] += busy
        return out

    async def complete(self, request: Request) -> Completion:
        """One simulated completion (the same as `generate` gives for its seed and index);
        with the timing model, it takes its length in virtual decode steps."""
        import asyncio

        params = request.params
        self._log_requests(request.prompt, request.seed, (request.index,), request.key)
        delay = float(self.spec.option("delay_s", 0) or 0)
        if delay:
            await asyncio.sleep(delay)
        row = self._row(request.prompt)
        rng = self._rng(request.seed, request.prompt, request.index)
        comp = self._one(row, rng, params.max_tokens)
        if self.timing is None:
            return comp
        steps = min(self.timing.length(request.seed, request.prompt, request.index), params.max_tokens)
        loop = asyncio.get_running_loop()
        clock = self._clocks.get(loop)
        if clock is None:
            clock = self._clocks[loop] = VirtualClock(self.timing, self.totals)
        await clock.run(steps)
        return self._timed(comp, steps, params.max_tokens)

    def occupancy_counters(self) -> tuple[int, int, int] | None:
        """(decode steps, slot-steps in use, slots) so far, in virtual time (None without
        the timing model)."""
        if self.timing is None:
            return None
        return self.totals["steps"], self.totals["busy"], self.timing.slots

    def _log_requests(
        self, prompt: str, seed: int, indices: Any, key: tuple[str, int, int] | None = None
    ) -> None:
        if self._request_log is None:
            return
        import json

        with open(self._request_log, "a", encoding="utf-8") as fh:
            for i in indices:
                line = {
                    "key": list(key) if key else None,
                    "seed": seed,
                    "index": i,
                    "prompt": hashlib.sha256(prompt.encode()).hexdigest()[:16],
                }
                fh.write(json.dumps(line) + "\n")

    def provenance(self) -> dict[str, str]:
        """Engine "scripted" (a simulation), its version, the model label and a hash of it."""
        model = self.spec.model or "scripted-simulation"
        digest = hashlib.sha256(f"{model}|{self._table_path.stat().st_size}".encode()).hexdigest()
        return {
            "engine": "scripted",
            "engine_version": SCRIPTED_VERSION,
            "model": model,
            "model_hash": digest,
        }

    def count_tokens(self, text: str) -> int:
        """Whitespace-separated words (the simulation's token unit)."""
        return len(text.split(" "))
