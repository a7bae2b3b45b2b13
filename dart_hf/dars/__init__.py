"""Difficulty-aware rejection sampling: targets, the adaptive scheduler, stop rules, state.

One pool serves every requested strategy. The per-query state is a table of numpy columns
(`State`), saved as Arrow/parquet after every round (`state/round-XXX.parquet`):

    id, level, source, samples, corrects, fail_rate, fail_rate_samples,
    target_<strategy>..., target, min_samples, done, stop_reason, last_round,
    prior_zero, prior_a, prior_b, stop_price, stop_first_rows

`target` is the largest correct-response target over the strategies that count correct
responses (uniform, prop2diff); VRT needs raw samples instead, so it sets `min_samples`
(= `vrt_n`) and `target_vrt` holds that sample count. A query is finished when it has
`corrects >= target` and `samples >= min_samples` (`reached`), has used `max_trials`
(`max_trials`), is given up by the yield rule with no correct response (`no_correct`) or
with some below its target (`low_yield`), or the build's raw-sample budget is spent
(`budget`). The yield rule's price and the value of a first correct response are stated
(`min_yield`, `first_value`) or, by default, set every round from the state so that the
projected loss of rows and of each level's coverage stays within `row_loss` and
`coverage_loss` (`prices`).

Every function is pure over numpy arrays: the build calls them, the scheduler benchmark drives
the very same functions with simulated Bernoulli outcomes. By role: `state` (the table, its
counts, saving and loading), `prior` (pass-rate beliefs per level, fitted with `passrate`),
`prices` (the yield rule's prices and expected yields), `schedule` (stop rules and the next
round's samples). This module re-exports their public names as the package's face (`dars.X`);
a test that patches one patches it in its own module, where it is looked up.
"""

from __future__ import annotations

from dart_hf.dars.prices import (
    HORIZON,
    FirstStops,
    Prices,
    Pricing,
    effective,
    first_stop_samples,
    first_stops,
    fit_prior,
    none_curve,
    none_curves,
    posterior_mean,
    prices,
    yield_rates,
)
from dart_hf.dars.prior import (
    Beliefs,
    beliefs,
    priors,
)
from dart_hf.dars.schedule import (
    BUDGET_FIRST_VALUE,
    apply_stop_rules,
    budget_price,
    fit_budget,
    projected_spend,
    schedule,
    stop_masks,
)
from dart_hf.dars.state import (
    GIVEN_UP,
    PRIOR_COLUMNS,
    STOP_PRICE_COLUMNS,
    STOP_REASONS,
    State,
    budget_left,
    freeze_difficulty,
    load_fail_rates,
    load_state,
    new_state,
    save_state,
    state_table,
    stop_counts,
    update_counts,
)

__all__ = [
    "BUDGET_FIRST_VALUE",
    "Beliefs",
    "FirstStops",
    "GIVEN_UP",
    "HORIZON",
    "PRIOR_COLUMNS",
    "Prices",
    "Pricing",
    "STOP_PRICE_COLUMNS",
    "STOP_REASONS",
    "State",
    "apply_stop_rules",
    "beliefs",
    "budget_left",
    "budget_price",
    "effective",
    "first_stop_samples",
    "first_stops",
    "fit_budget",
    "fit_prior",
    "freeze_difficulty",
    "load_fail_rates",
    "load_state",
    "new_state",
    "none_curve",
    "none_curves",
    "posterior_mean",
    "prices",
    "priors",
    "projected_spend",
    "save_state",
    "schedule",
    "state_table",
    "stop_counts",
    "stop_masks",
    "update_counts",
    "yield_rates",
]
