"""Estimates from K graded samples per item: unbiased pass@k, maj@k, accuracy and its error.

One implementation for `dart-hf eval` (`eval_results.summarize_predictions`) and the shipped
`evaluate` metric, so both give the same numbers from the same graded samples.

- **pass@k** (Chen et al. 2021): per item with n samples of which c are correct,
  `1 - C(n-c, k) / C(n, k)`, the chance that k samples drawn without replacement from the n
  hold a correct one; averaged over items. Computed as the product
  `1 - prod_{i=n-c+1..n} (1 - k / i)` (no large binomials, no cancellation); exactly 1 when
  `n - c < k`. Unbiased for every k <= n.
- **maj@k**: the first k samples of an item vote (in sample order). Only samples graded `ok`
  vote: `no_answer`, `hedge`, `truncated`, `timeout` and `error` samples do not (they have no
  answer the grader compared with the gold). Two answers are the same vote when the grader
  says so: every correct sample votes for the gold; a wrong answer joins the first earlier
  wrong answer that is the same text (`answers.normalize_text`) or that the grader finds equal
  (`answers.judge` of `\\boxed{answer}` against the earlier answer as gold). The answer with
  the most votes wins; a tie goes to the tied answer whose first vote came earliest. The item
  counts as correct when the gold's answer wins; an item with no vote among its first k
  samples counts as wrong.
- **accuracy ± SE**: the mean over items of each item's mean correctness (= pass@1), with the
  standard error `sd(per-item means) / sqrt(items)` (sample sd, n - 1), items as the unit.
  An average over benchmarks has `SE = sqrt(sum SE_b^2) / B` (independent benchmarks).

Items whose gold the grader cannot read (any sample `bad_gold`) are left out and counted.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dart_hf.grading.text import normalize_text
from dart_hf.grading.verdict import judge

VOTING_STATUSES = frozenset({"ok"})
"""Grade statuses whose answer votes in maj@k; every other status abstains."""

Equal = Callable[[str, str], bool]
"""`equal(earlier_answer, later_answer)`: whether two extracted answers are the same vote."""


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one item: `1 - C(n-c, k) / C(n, k)`, computed stably.

    Args:
        n: Samples drawn for the item.
        c: Correct samples among them.
        k: Samples per attempt (1 <= k <= n).
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


@dataclass(frozen=True)
class Sample:
    """One graded sample of an item, in sample order."""

    correct: bool | None
    status: str
    pred: str | None = None


def vote_keys(samples: Sequence[Sample], equal: Equal | None = None) -> list[int | None]:
    """The answer each sample votes for: 0 for the gold, 1, 2, ... for distinct wrong
    answers in order of first appearance, None for a sample that does not vote."""
    keys: list[int | None] = []
    reps: list[tuple[str, str]] = []  # (normalised text, answer) of each wrong answer seen
    for s in samples:
        if s.status not in VOTING_STATUSES or s.correct is None:
            keys.append(None)
        elif s.correct:
            keys.append(0)
        elif s.pred is None or not s.pred.strip():
            keys.append(None)
        else:
            text = normalize_text(s.pred)
            hit = next((j for j, (t, _) in enumerate(reps) if t == text), None)
            if hit is None and equal is not None:
                hit = next((j for j, (_, a) in enumerate(reps) if equal(a, s.pred)), None)
            if hit is None:
                reps.append((text, s.pred))
                hit = len(reps) - 1
            keys.append(hit + 1)
    return keys


def majority_correct(keys: Sequence[int | None], k: int) -> bool:
    """Whether the gold (key 0) wins the vote of the first k samples (ties: earliest first)."""
    counts: dict[int, int] = {}
    first: dict[int, int] = {}
    for i, key in enumerate(keys[:k]):
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
            first.setdefault(key, i)
    if not counts:
        return False
    winner = min(counts, key=lambda a: (-counts[a], first[a]))
    return winner == 0


def majority_by_k(samples: Sequence[Sample], equal: Equal | None = None) -> list[bool]:
    """maj@k of one item for k = 1..len(samples), the grader's equality asked only where it
    can change the outcome.

    Votes are first grouped by text. Merging wrong answers only makes a wrong answer stronger
    (more votes, voted no later), so a gold that loses by text loses by the grader too, and a
    gold with more votes than all wrong votes together wins either way; only the remaining
    cases (the gold wins by text, with 0 < its votes <= the wrong votes) need `equal`.
    """
    by_text = vote_keys(samples)
    wins = [majority_correct(by_text, k) for k in range(1, len(samples) + 1)]
    if equal is None:
        return wins
    gold = wrong = 0
    unsure = False
    for k, key in enumerate(by_text):
        gold += key == 0
        wrong += key is not None and key > 0
        unsure |= wins[k] and 0 < gold <= wrong
    if not unsure:
        return wins
    keys = vote_keys(samples, equal)
    return [majority_correct(keys, k) for k in range(1, len(samples) + 1)]


def standard_error(values: Sequence[float]) -> float | None:
    """`sd(values) / sqrt(len(values))` (sample sd); None for fewer than two values."""
    if len(values) < 2:
        return None
    return statistics.stdev(values) / math.sqrt(len(values))


def item_table(samples: Sequence[Sequence[Sample]], equal: Equal | None = None) -> dict[str, Any]:
    """pass@k and maj@k for k = 1..K, accuracy and its SE, over items (fractions 0..1).

    Args:
        samples: Per item, its graded samples in sample order (K = the fewest any item has).
        equal: Whether two wrong answers are the same vote (None: the same text only).

    Returns:
        `items` (items kept), `bad_gold` (items left out), `n` (K), `accuracy`, `se`,
        `pass@k` and `maj@k` (mappings k -> value, k = 1..K); values None without items.
    """
    kept = [s for s in samples if s and not any(x.status == "bad_gold" for x in s)]
    out: dict[str, Any] = {"items": len(kept), "bad_gold": len(samples) - len(kept)}
    if not kept:
        return {**out, "n": 0, "accuracy": None, "se": None, "pass@k": {}, "maj@k": {}}
    big_k = min(len(s) for s in kept)
    means = [sum(1 for x in s if x.correct) / len(s) for s in kept]
    passes = {
        k: statistics.fmean(pass_at_k(len(s), sum(1 for x in s if x.correct), k) for s in kept)
        for k in range(1, big_k + 1)
    }
    wins = [majority_by_k(s[:big_k], equal) for s in kept]
    majs = {k: statistics.fmean(1.0 if w[k - 1] else 0.0 for w in wins) for k in range(1, big_k + 1)}
    return {
        **out,
        "n": big_k,
        "accuracy": statistics.fmean(means),
        "se": standard_error(means),
        "pass@k": passes,
        "maj@k": majs,
    }


def grader_equal(benchmark: str | None = None, timeout: int = 5) -> Equal:
    """The grader's notion of one answer: `judge("$\\\\boxed{b}$", gold=a)` is correct
    (Math-Verify with the benchmark's rules); a grader failure counts as different."""
    cache: dict[tuple[str, str], bool] = {}

    def equal(a: str, b: str) -> bool:
        if (a, b) not in cache:
            try:
                verdict = judge(f"$\\boxed{{{b}}}$", a, benchmark=benchmark, timeout=timeout)
                cache[(a, b)] = verdict.correct is True
            except Exception:  # a pathological answer: not the same vote
                cache[(a, b)] = False
        return cache[(a, b)]

    return equal
