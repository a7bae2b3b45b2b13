"""The strategies a build can serve: one record each (`STRATEGIES`), read by every module.

A strategy is its targets (from the frozen fail rates and its parameters), what a target
counts, its release folder and card, and the figures the card compares with. DARS, the build,
the statistics and the cards read these records; none of them tests a strategy's name, so a new
strategy is one `Strategy` added to `STRATEGIES` (tests/e2e/test_strategies_e2e.py builds with
one).

What a target counts decides how rows are selected: `correct` keeps the first `target` correct
responses of a query (in sample order) and the query is at target when that many were kept;
`samples` keeps the correct responses among a query's first `target` raw samples (VRT: a fixed
number of raw samples per query, whatever their outcome) and the query is at target when it
has that many samples (or `max_trials`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dart_hf.errors import DartError, unknown_name

COUNTS = ("correct", "samples")
"""What a strategy's target counts."""
RUN_WIDE_PARAMS = ("max_trials", "budget")
"""DARS settings every strategy's release depends on (stored with each strategy's params)."""
POOL = "pool"
"""The key, card kind and release name of the raw sample pool (not a strategy)."""


@dataclass(frozen=True)
class Strategy:
    """One strategy: targets, selection, release and card.

    Attributes:
        name: Registry key (`strategies:` in a recipe, `target_<name>` in the state).
        targets: `targets(fail_rate, **params) -> int64 array`: the per-query target from the
            frozen fail rates (NaN where unknown).
        params: `DarsConfig` fields passed to `targets` and shown on the card, in order.
        counts: What a target counts (`COUNTS`): `correct` responses, or raw `samples`.
        release: Release folder under `releases/`.
        card: Card kind (`cards.card_kinds()`), the name `cards.write_card` takes.
        card_template: Template in `dataset_cards/` (`strategy.md.j2`: a generic card that
            shows `description` and the parameters).
        pretty_name: Card title and `pretty_name` metadata.
        paper_name: Name of the paper's released set this strategy reproduces, or None.
        paper_mean_responses: That set's mean responses per query, GSM8K (L0) then MATH
            L1-L5 (the cards, plots and printed table show them beside the build's), or None.
        description: What the strategy keeps, in a sentence (the generic card shows it).
    """

    name: str
    targets: Callable[..., np.ndarray]
    params: tuple[str, ...]
    counts: str
    release: str
    card: str
    card_template: str
    pretty_name: str
    paper_name: str | None = None
    paper_mean_responses: tuple[float, ...] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if POOL in (self.name, self.card):
            raise DartError(f"strategy {self.name}: {POOL!r} names the raw sample pool's release")
        if self.counts not in COUNTS:
            raise DartError(f"strategy {self.name}: counts must be one of {', '.join(COUNTS)}")
        if not self.card_template.endswith(".md.j2"):
            raise DartError(f"strategy {self.name}: card template must end with .md.j2")
        if (self.paper_name is None) != (self.paper_mean_responses is None):
            raise DartError(f"strategy {self.name}: give paper_name with its figures")

    @property
    def counts_correct(self) -> bool:
        """Whether the target counts correct responses (else raw samples)."""
        return self.counts == "correct"

    def compute_targets(self, fail_rate: np.ndarray, config: Any) -> np.ndarray:
        """Per-query targets from frozen fail rates and the DARS settings (`config`)."""
        return self.targets(fail_rate, **{p: getattr(config, p) for p in self.params})

    def card_params(self, config: Any) -> dict[str, Any]:
        """The parameters that define this strategy's release (its own, then run-wide)."""
        return {p: getattr(config, p) for p in (*self.params, *RUN_WIDE_PARAMS)}

    def select(self, selection: Any, targets: np.ndarray) -> np.ndarray:
        """Mask over an `assemble.Selection`'s rows: the rows this strategy releases."""
        if self.counts_correct:
            return np.asarray(selection.first_t(targets))
        return np.asarray(selection.first_samples(targets))

    def at_target(
        self, kept: np.ndarray, target: np.ndarray, samples: np.ndarray, max_trials: int
    ) -> np.ndarray:
        """Per query: whether it reached this strategy's target."""
        if self.counts_correct:
            return kept >= target
        return samples >= np.minimum(target, max_trials)


def uniform_targets(fail_rate: np.ndarray, *, k_u: int) -> np.ndarray:
    """DART-Uniform: `k_u` correct responses for every query."""
    return np.full(len(fail_rate), k_u, dtype=np.int64)


def prop2diff_targets(fail_rate: np.ndarray, *, k_p: int, normalize_fail_rate: bool) -> np.ndarray:
    """DART-Prop2Diff: `max(1, ceil(k_p * fail_rate))` correct responses (unknown = 1)."""
    fr = np.nan_to_num(np.asarray(fail_rate, dtype=np.float64), nan=1.0)
    if normalize_fail_rate and len(fr) and fr.max() > 0:
        fr = fr / fr.max()
    # Round before ceil so 192 * 0.25 stays 48 despite float noise.
    t = np.ceil(np.round(k_p * fr, 9)).astype(np.int64)
    return np.maximum(t, 1)


def vrt_targets(fail_rate: np.ndarray, *, vrt_n: int) -> np.ndarray:
    """Vanilla rejection tuning: `vrt_n` raw samples per query, not correct responses."""
    return np.full(len(fail_rate), vrt_n, dtype=np.int64)


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy(
            "uniform",
            uniform_targets,
            ("k_u",),
            "correct",
            "dart-math-uniform",
            "uniform",
            "uniform.md.j2",
            "DART-Math-Uniform (dart-hf)",
            "DART-Math-Uniform",
            (39.93, 40.0, 40.0, 39.80, 39.54, 37.14),
        ),
        Strategy(
            "prop2diff",
            prop2diff_targets,
            ("k_p", "normalize_fail_rate"),
            "correct",
            "dart-math-hard",
            "hard",
            "hard.md.j2",
            "DART-Math-Hard (dart-hf)",
            "DART-Math-Hard",
            (8.49, 14.28, 33.52, 54.94, 79.59, 107.06),
        ),
        Strategy(
            "vrt",
            vrt_targets,
            ("vrt_n",),
            "samples",
            "vrt",
            "vrt",
            "vrt.md.j2",
            "VRT baseline (dart-hf)",
        ),
    )
}
"""Every strategy by name."""


def get_strategy(name: str) -> Strategy:
    """The record of a strategy; an unknown name lists the valid ones."""
    if name not in STRATEGIES:
        raise unknown_name("strategy", name, STRATEGIES)
    return STRATEGIES[name]


def by_card(card: str) -> Strategy | None:
    """The strategy whose card kind is `card` (e.g. `hard` -> prop2diff), or None."""
    return next((s for s in STRATEGIES.values() if s.card == card), None)
