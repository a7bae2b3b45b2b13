"""The round step: one function advances a build's per-query state by one round.

The build (`build.run_rounds`), regrade's replay of a build's rounds on new verdicts
(`regrade.replay_states`) and the scheduler benchmark all go through `advance`; they differ
only in where a round's samples come from (a `RoundSource`): the engine and the grader, the
saved samples graded again, or simulated outcomes. A round is:

1. plan: the difficulty (or vote) phase asks `difficulty_samples` of every open query;
   any later round asks what `dars.schedule` gives, priced once (`dars.Pricing`);
2. run: the source samples and grades the round in one call (`RoundSource.run`) and
   returns what it added per query; a source with nothing for the round returns None;
3. count: the queries sampled are (re)opened, their counts added, the source's own
   adjustment applied (the vote round's golds);
4. freeze the fail rates after the fail-rate phase, then apply the stop rules (priced
   once more, on the counted state).

When a scheduled round asks for nothing, every open query closes (`budget`) instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dart_hf import dars
from dart_hf.config import DarsConfig
from dart_hf.dars import State


@dataclass(frozen=True)
class Outcome:
    """What one round's sampling and grading added, per query of the state.

    Attributes:
        samples: Raw samples added per query (failed requests not counted).
        corrects: Correct ones among them.
        adjust: Applied to the state after the counts (the vote round: queries without a
            clear majority are left out).
        failed: Requests per query that came back with no completion (a served model's
            400, an aborted request): not graded, not counted in samples, pass rates or
            max_trials, but their `sample_idx` is used (`State["failed"]`).
    """

    samples: np.ndarray
    corrects: np.ndarray
    adjust: Callable[[State], State] | None = None
    failed: np.ndarray | None = None

    @classmethod
    def from_rows(
        cls,
        index: np.ndarray,
        correct: np.ndarray,
        queries: int,
        adjust: Callable[[State], State] | None = None,
        status: Sequence[str | None] | None = None,
    ) -> Outcome:
        """Per-query counts of graded rows (`index`: the state row of each; a null
        `correct` counts as not correct; a `failed` status is a failed request)."""
        index = np.asarray(index, dtype=np.int64)
        ok = np.asarray([bool(c) for c in correct], dtype=np.int64)
        bad = np.asarray([s == "failed" for s in status or []], dtype=bool)
        if len(bad) != len(index):
            bad = np.zeros(len(index), dtype=bool)
        return cls(
            np.bincount(index[~bad], minlength=queries).astype(np.int64),
            np.bincount(index[~bad], weights=ok[~bad], minlength=queries).astype(np.int64),
            adjust,
            np.bincount(index[bad], minlength=queries).astype(np.int64),
        )


class RoundSource(Protocol):
    """Where a round's graded samples come from."""

    def run(self, r: int, requests: np.ndarray, state: State) -> Outcome | None:
        """Sample and grade round r (`requests`: raw samples per query of `state`, the
        state before it), or None when there is nothing for it (no request, or a replay
        without that round)."""
        ...


@dataclass(frozen=True)
class Phases:
    """The rounds with a fixed plan.

    Attributes:
        vote: The vote round of `gold: majority` (its golds come from its samples), or None.
        fail_rate: The round whose counts freeze the fail rates, or None when they were
            loaded (`fail_rate_from`) or frozen before the first round.
        freeze: How the fail rates are frozen: (state after the round, state before it).
    """

    vote: int | None
    fail_rate: int | None
    freeze: Callable[[State, State], State]


def phases(config: DarsConfig, majority: bool = False) -> Phases:
    """The fixed rounds of a build: a vote round first with `gold: majority`, then the
    difficulty phase, unless the fail rates are loaded."""
    if majority:
        from dart_hf.build import majority as gold_majority  # lazy: imports datasets

        return Phases(
            vote=gold_majority.VOTE_ROUND,
            fail_rate=None if config.fail_rate_from else gold_majority.FAIL_RATE_ROUND,
            freeze=lambda after, before: gold_majority.freeze_phase(after, before, config),
        )
    return Phases(
        vote=None,
        fail_rate=None if config.fail_rate_from else 0,
        freeze=lambda after, before: dars.freeze_difficulty(after, config),
    )


def start(ids: list[str], levels: list, sources: list[str], config: DarsConfig) -> State:
    """The state before round 0: nothing sampled; fail rates loaded when `fail_rate_from`."""
    state = dars.new_state(ids, levels, sources)
    if config.fail_rate_from:
        fr, frs = dars.load_fail_rates(config.fail_rate_from, ids)
        state = dars.freeze_difficulty(state, config, fr, frs)
    return state


@dataclass(frozen=True)
class Step:
    """The state a round left, and whether the build can go on from it.

    Attributes:
        state: The state after the round (saved as the round's state).
        beliefs: Its pass-rate beliefs, reused to price the next round (they read only
            the counts, which the stop rules do not change); None when not computed.
        ran: Whether the round sampled (False: closed, or stopped for want of samples).
        stalled: The planned requests when the source had no samples for them (a replay
            whose new targets need samples the build lacks); None otherwise.
    """

    state: State
    beliefs: dars.Beliefs | None
    ran: bool
    stalled: np.ndarray | None = None


def plan(state: State, r: int, config: DarsConfig, fixed: Phases, pricing: dars.Pricing | None) -> np.ndarray:
    """Raw samples per query for round r (the phases' fixed plan, else the schedule)."""
    if r in (fixed.vote, fixed.fail_rate):
        return np.where(state["done"], 0, config.difficulty_samples).astype(np.int64)
    assert pricing is not None
    return dars.schedule(state, config, dars.budget_left(state, config), pricing)


def advance(
    state: State,
    r: int,
    config: DarsConfig,
    fixed: Phases,
    source: RoundSource,
    beliefs: dars.Beliefs | None = None,
) -> Step:
    """Advance the state by round r (see the module docstring).

    Args:
        state: The state after round r - 1 (or `start`'s).
        r: The round.
        config: The DARS settings.
        fixed: The build's fixed rounds (`phases`).
        source: Where the round's graded samples come from.
        beliefs: The state's beliefs when the previous step computed them.
    """
    scheduled = r not in (fixed.vote, fixed.fail_rate)
    pricing = dars.Pricing(state, config, beliefs) if scheduled else None
    requests = plan(state, r, config, fixed, pricing)
    outcome = source.run(r, requests, state)
    if outcome is None:
        if requests.any():  # a replay that ran out of saved rounds: the build must sample
            return Step(state, beliefs, ran=False, stalled=requests)
        # nothing left to spend: close every open query
        closing = pricing if pricing is not None else dars.Pricing(state, config, beliefs)
        closed = dars.apply_stop_rules(state, config, 0, closing)
        return Step(closed, closing.beliefs, ran=False)
    before = state
    tried = outcome.samples > 0
    if outcome.failed is not None:
        tried = tried | (outcome.failed > 0)
    state = _reopen(state, tried)
    state = _add(state, outcome, r)
    if outcome.adjust is not None:
        state = outcome.adjust(state)
    if r == fixed.fail_rate:
        state = fixed.freeze(state, before)
    if r == fixed.vote and fixed.fail_rate is not None:
        if state["done"].all():  # the vote left every query out: no fail-rate phase follows,
            state = fixed.freeze(state, state)  # so set the targets (of no sample) now
        return Step(state, None, ran=True)  # no targets before the fail-rate phase
    counted = dars.Pricing(state, config)
    state = dars.apply_stop_rules(state, config, dars.budget_left(state, config), counted)
    return Step(state, counted.beliefs, ran=True)


def run(
    state: State,
    first: int,
    config: DarsConfig,
    fixed: Phases,
    source: RoundSource,
    through: int = -1,
) -> Iterator[tuple[int, Step]]:
    """Rounds from `first` on until every query has a stop reason (or the source has no
    samples for a round the schedule asks for); yields (round, step) after each.

    Args:
        through: Run every round up to this one even when every query has stopped (a
            replay: the build drew those samples, and they count).
    """
    beliefs = None
    r = first
    while r <= through or not state["done"].all():
        step = advance(state, r, config, fixed, source, beliefs)
        yield r, step
        if step.stalled is not None or not step.ran:
            return
        state, beliefs = step.state, step.beliefs
        r += 1


def _reopen(state: State, sampled: np.ndarray) -> State:
    """The state with the queries sampled in a round open again: they were open when it was
    scheduled (a no-op in a build; in a replay on new verdicts a query may have closed
    earlier than it did in the build, and its saved samples still count)."""
    if not (state["done"] & sampled).any():
        return state
    out = {**state, "done": state["done"].copy(), "stop_reason": state["stop_reason"].copy()}
    out["done"][sampled] = False
    out["stop_reason"][sampled] = None
    for name in dars.STOP_PRICE_COLUMNS:
        if name in out:
            out[name] = np.asarray(out[name], dtype=np.float64).copy()
            out[name][sampled] = np.nan
    return out


def _add(state: State, outcome: Outcome, r: int) -> State:
    """The counts of a round added (`last_round` set for the queries it sampled)."""
    out = dict(state)
    out["samples"] = state["samples"] + outcome.samples
    out["corrects"] = state["corrects"] + outcome.corrects
    sampled = outcome.samples > 0
    if outcome.failed is not None and outcome.failed.any():
        out["failed"] = state.get("failed", np.zeros_like(state["samples"])) + outcome.failed
        sampled = sampled | (outcome.failed > 0)
    last = state["last_round"].copy()
    last[sampled] = r
    out["last_round"] = last
    return out
