"""Frozen, self-validating configuration dataclasses, and the checks of settings' values.

Config flows one way: YAML recipe (`recipe.py`) -> CLI overrides -> frozen dataclasses ->
`fn_kwargs` of the stages (so datasets' fingerprints see it) -> the dataset card.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dart_hf.engines import BACKENDS, check_options
from dart_hf.engines.base import EngineSpec
from dart_hf.engines.connection import Header, redact_url
from dart_hf.errors import DartError, unknown_name
from dart_hf.grading.audit import GoldAuditConfig
from dart_hf.strategies import STRATEGIES


@dataclass(frozen=True)
class SamplingConfig:
    """How completions are sampled for each query.

    Attributes:
        n: Completions per query per call.
        temperature: Sampling temperature; 0 means greedy.
        top_p: Nucleus sampling mass.
        max_tokens: Maximum new tokens; a completion cut here counts as wrong.
        template: Prompt template name (see `dart_hf.sampling.prompts.TEMPLATES`).
        n_shots: Few-shot exemplars for templates that use them.
    """

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 512
    template: str = "chat"
    n_shots: int = 0

    def __post_init__(self) -> None:
        for name in ("temperature", "top_p"):
            if not math.isfinite(getattr(self, name)):
                raise DartError(f"{name} must be a finite number, got {getattr(self, name)}")
        if self.n < 1:
            raise DartError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise DartError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise DartError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise DartError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.n_shots < 0:
            raise DartError(f"n_shots must be >= 0, got {self.n_shots}")


@dataclass(frozen=True)
class GradeConfig:
    """How responses are graded.

    Attributes:
        timeout_s: Hard wall-clock limit per item; a worker past it is killed and replaced.
        num_proc: Worker processes of the grading pool.
        benchmark: Force per-benchmark gold handling; None reads the row's `source`.
        require_anchor: A response must state its answer (a box, `#### N`, "the answer is
            ...", an `Answer:` line, ...; `dart_hf.grading.anchors`); one that does not is graded
            `no_answer`. None: builds take it from the sampling template's record
            (`prompts.Template.anchored`), grading and evaluation read unanchored answers too.
    """

    timeout_s: float = 5.0
    num_proc: int = 1
    benchmark: str | None = None
    require_anchor: bool | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.timeout_s):
            raise DartError(f"timeout_s (--timeout-s) must be a finite number, got {self.timeout_s}")
        if self.timeout_s <= 0:
            raise DartError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.num_proc < 1:
            raise DartError(f"num_proc must be >= 1, got {self.num_proc}")
        if self.require_anchor is not None and not isinstance(self.require_anchor, bool):
            raise DartError(f"require_anchor must be true, false or null, got {self.require_anchor!r}")


def resolve_section(
    recipe: dict[str, Any],
    section: str,
    overrides: dict[str, Any],
    names: Iterable[str],
    *,
    flat_names: Iterable[str] | None = None,
    flat_strict: bool = False,
    where: str = "recipe",
) -> dict[str, Any]:
    """The one settings path of every command: recipe -> its section -> flags.

    The recipe's top-level keys that the command reads come first, its `section:` mapping
    wins over them, and flags (None = not given) win over both. A key in the section or among
    the flags that the command does not read is an error naming the nearest valid ones;
    top-level keys of other commands are left to them (`recipe.load_recipe` refuses keys that
    no command reads). The values are checked when the dataclasses are built
    (`build_dataclass`).

    Args:
        recipe: The loaded recipe (`recipe.load_recipe`).
        section: The command's mapping: `build` (also read by `sample`), `eval` or `train`.
        overrides: The command's flags.
        names: Every setting the command reads.
        flat_names: The top-level keys it reads (default: `names`); `eval` reads only a few,
            so a build recipe's synthesis settings do not change the evaluation protocol.
        flat_strict: Top-level keys outside `flat_names` are errors too (a recipe that holds
            one command's settings only).
        where: What the recipe is called in messages.
    """
    names = frozenset(names)
    flat_names = names if flat_names is None else frozenset(flat_names)
    body = recipe.get(section) or {}
    if not isinstance(body, dict):
        raise DartError(f"{where}: `{section}` must be a mapping of settings")
    given = {k: v for k, v in overrides.items() if v is not None}
    top = {k: v for k, v in recipe.items() if k != section}
    checks = [(f"{where} `{section}:`", body, names), ("option", given, names)]
    if flat_strict:
        checks.append((where, top, flat_names))
    for place, keys, valid in checks:
        unknown = set(keys) - valid
        if unknown:
            raise unknown_keys_error(place, unknown, valid)
    flat = {k: v for k, v in top.items() if k in flat_names}
    return {**flat, **body, **given}


INT_MAX = 2**53
"""Largest whole number a setting may hold: every format a setting passes through (YAML,
JSON, the card, float arithmetic) keeps it exactly."""
COUNT_MAX = 100_000
"""Largest per-query count (k_u, k_p, vrt_n, max_trials, round_cap, difficulty_samples):
the yield rule keeps a (max_trials + 1) x 81 table per prior group."""
SEED_MAX = 2**32 - 1
"""Largest seed: vLLM and NumPy take 32-bit seeds."""
INT_RANGES: dict[str, tuple[int, int]] = {
    **{
        name: (0, COUNT_MAX)
        for name in (
            "k_u",
            "k_p",
            "vrt_n",
            "max_trials",
            "round_cap",
            "difficulty_samples",
            "no_correct_min_samples",
        )
    },
    "seed": (0, SEED_MAX),
    "seeds": (0, SEED_MAX),
}
"""Bounds of whole-number settings beyond `INT_MAX`, by setting name (the same name means
the same thing in every command); lower bounds of counts are the dataclasses' own checks."""


def _in_range(name: str, number: int, value: Any, where: str) -> int:
    low, high = INT_RANGES.get(name, (-INT_MAX, INT_MAX))
    if name in INT_RANGES and name not in ("seed", "seeds"):
        low = -INT_MAX  # counts: `>= 1` is the dataclass's check, with its own message
    if not low <= number <= high:
        span = f"from {low} to {high}" if low > -INT_MAX else f"of at most {high}"
        why = " (vLLM and NumPy take 32-bit seeds)" if name in ("seed", "seeds") else ""
        raise DartError(f"{where}: {name} must be a whole number {span}{why}, got {value!r}")
    return number


def _number(name: str, value: Any, kind: type, where: str) -> Any:
    what = "an integer" if kind is int else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DartError(f"{where}: {name} must be {what}, got {value!r}")
    if kind is int and isinstance(value, int):  # exactly as given: a float would round it
        return _in_range(name, value, value, where)
    if kind is int and isinstance(value, str):
        try:
            return _in_range(name, int(value.strip()), value, where)
        except ValueError:
            pass  # "1e3" and the like: read as a number below
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise DartError(f"{where}: {name} must be {what}, got {value!r}") from None
    if not math.isfinite(number):
        raise DartError(f"{where}: {name} must be a finite number, got {value!r}")
    if kind is int:
        if not number.is_integer():
            raise DartError(f"{where}: {name} must be a whole number, got {value!r}")
        return _in_range(name, int(number), value, where)
    return number


def _option_value(name: str, key: Any, value: Any, where: str) -> Any:
    """An engine option's value: a scalar, or a list of scalars (kept as a tuple, hashable)."""
    scalar = (str, int, float, bool, type(None))
    if isinstance(value, scalar):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, scalar) for v in value):
        return tuple(value)
    kind = "a mapping" if isinstance(value, dict) else f"{type(value).__name__}"
    raise DartError(f"{where}: {name}.{key} must be a value or a list of values, got {kind} {value!r}")


def engine_option_pairs(name: str, value: Any, where: str) -> tuple[tuple[str, Any], ...]:
    """`engine_options` as sorted (option, value) pairs: from a mapping or a list of pairs.

    Raises:
        DartError: Not a mapping, or a value that is a mapping (options are flat).
    """
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, (list, tuple)) and all(
        isinstance(p, (list, tuple)) and len(p) == 2 for p in value
    ):
        items = [(k, v) for k, v in value]
    else:
        raise DartError(f"{where}: {name} must be a mapping of option: value, got {value!r}")
    return tuple(sorted((str(k), _option_value(name, k, v, where)) for k, v in items))


def _names(name: str, value: Any, item: type, where: str) -> tuple[Any, ...]:
    """A list-valued setting: "a,b", [a, b] or (a, b); items of type `item`."""
    if isinstance(value, str):
        parts: list[Any] = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    elif item is int and isinstance(value, int) and not isinstance(value, bool):
        parts = [value]
    else:
        kind = "names or paths" if item is str else "integers"
        raise DartError(f"{where}: {name} must be a list of {kind}, got {value!r}")
    if item is int:
        return tuple(_number(name, v, int, where) for v in parts)
    bad = [v for v in parts if not isinstance(v, str)]
    if bad:
        raise DartError(f"{where}: {name} must be a list of names or paths, got {value!r}")
    return tuple(parts)


def check_value(name: str, value: Any, hint: Any, where: str = "recipe") -> Any:
    """Check (and normalise) one setting against its dataclass annotation.

    Booleans must be true/false (`"no"` is not false), integers whole numbers kept exactly
    and within `INT_RANGES` (else at most `INT_MAX`), numbers finite, list settings a list or
    a comma-separated string, mappings mappings of values (`engine_options` holds no nested
    mapping). Other range checks are the dataclasses' own (`__post_init__`).

    Raises:
        DartError: Naming `where` and the field.
    """
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        args = typing.get_args(hint)
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise DartError(f"{where}: {name} must be true or false, got {value!r}")
        return value
    if hint in (int, float):
        return _number(name, value, hint, where)
    if hint is str:
        if not isinstance(value, str):
            raise DartError(f"{where}: {name} must be a string, got {value!r}")
        return value
    if typing.get_origin(hint) is tuple and args:
        inner = args[0]
        if typing.get_origin(inner) is tuple:  # key/value pairs: a mapping in YAML
            return engine_option_pairs(name, value, where)
        return _names(name, value, inner if inner in (int, str) else str, where)
    return value


def build_dataclass(cls: type, settings: dict[str, Any], where: str = "recipe") -> Any:
    """Build a frozen dataclass from the settings it knows, ignoring the others.

    Unknown keys are left for other dataclasses (`recipe.check_recipe_keys` rejects keys that no
    command reads). Every value is checked against the field's type with the field named
    (`check_value`); a None value means "not given" for fields that cannot be None.
    """
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in settings:
            continue
        value = settings[f.name]
        hint = hints[f.name]
        optional = type(None) in typing.get_args(hint)
        if value is None and not optional:
            continue
        kwargs[f.name] = check_value(f.name, value, hint, where)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise DartError(f"{where}: {exc}") from None


def unknown_keys_error(where: str, unknown: Iterable[str], valid: Iterable[str]) -> DartError:
    """The error for keys no command reads: each with its nearest valid keys."""
    valid = sorted(valid)
    parts, guessed = [], True
    for key in sorted(unknown):
        near = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
        guessed = guessed and bool(near)
        parts.append(f"{key!r}" + (f" (did you mean {', '.join(near)}?)" if near else ""))
    listing = "" if guessed else f"; valid: {', '.join(valid)}"  # a guess is shorter to read
    return DartError(f"{where}: unknown setting(s) {', '.join(parts)}{listing}")


# --- DARS and build settings ------------------------------------------------------------------


def _as_tuple(value: Any) -> tuple[str, ...]:
    """Accept "a,b", ["a", "b"] or ("a", "b") for a list-valued setting."""
    if isinstance(value, str):
        return tuple(s.strip() for s in value.split(",") if s.strip())
    return tuple(str(v) for v in value)


@dataclass(frozen=True)
class DarsConfig:
    """Difficulty-aware rejection sampling: targets, scheduler and stop rules.

    Attributes:
        strategies: Strategies served by one pool (`dart_hf.strategies.STRATEGIES`).
        k_u: Uniform target (correct responses per query).
        k_p: Prop2Diff scale: t = ceil(k_p * fail_rate), at least 1.
        vrt_n: VRT baseline: keep all correct among the first `vrt_n` raw samples.
        normalize_fail_rate: Prop2Diff divides fail_rate by the pool's maximum first.
        difficulty_samples: Raw samples per query in the difficulty phase (round 0).
        fail_rate_from: Query-info/state parquet of an earlier run; its fail rates are reused
            and no difficulty phase runs, so every query needs a fail rate there (a query it
            lacks, or has no fail rate for, is an error).
        max_trials: Raw samples per query at most (the paper's n_max).
        budget: Total raw samples of the build at most (None: queries * max_trials).
        round_cap: Raw samples per query per round at most.
        safety: Scheduler over-provisioning factor on need / pass rate.
        growth: A round gives a query at most `growth` times the samples it already has
            (at least 1), so a noisy early pass-rate estimate cannot overshoot much.
        p_floor: Lowest pass-rate estimate the scheduler divides by.
        min_yield: The sampling price, in the user's terms: a query keeps sampling while it
            expects at least this many new correct responses (below its target) per 1,000
            further samples (0: never stop a query for low yield). With some correct
            responses the expectation is 1,000 x the posterior mean pass rate. None (the
            default): set every round from `row_loss`, and recorded in the card.
        first_value: The value of a query's first correct response (its coverage), in
            units of its target t: it counts as `first_value` x t later ones, so a query
            with none keeps sampling while its next sample's chance of a first one times
            that value (plus what a first one unlocks) is worth the price. Under a
            `budget` it also sets the exchange rate between coverage and rows. None (the
            default): set every round and level from `coverage_loss`.
        row_loss: With `min_yield` unset: the share of the kept rows a run of every query
            to max_trials would give that the build may give up to save samples, in
            expectation under the fitted prior; the price is the highest that keeps the
            projected loss within it (0.005: half a percent).
        coverage_loss: With `first_value` unset: per level, the share of its queries that a
            run to max_trials would give a correct response which may be left without
            one, in expectation; the value of a first response is the least that keeps
            the projected loss within it (0.004: 0.4 points).
        prior_a: Stated pass-rate prior: Beta(prior_a, prior_b) for queries that can be
            solved; EM starts from it and it stays where the counts say nothing.
        prior_b: See `prior_a`.
        prior_zero: Stated prior share of queries that can never be solved (wrong gold
            answers); it only matters for queries with no correct response yet.
        prior_fit: Fit the pass-rate prior per level to the pool's own counts after every
            round (empirical Bayes: a nonparametric mixture over a pass-rate grid,
            `dart_hf.dars.passrate`), starting from the stated prior; off: the stated prior.
        no_correct_stop: Whether the yield rule may stop a query with no correct response
            (`no_correct`); false samples such queries to max_trials (or the budget).
        no_correct_min_samples: A query with no correct response is never stopped by the
            yield rule before this many raw samples (None: no floor).
    """

    strategies: tuple[str, ...] = ("uniform", "prop2diff")
    k_u: int = 4
    k_p: int = 8
    vrt_n: int = 52
    normalize_fail_rate: bool = False
    difficulty_samples: int = 8
    fail_rate_from: str | None = None
    max_trials: int = 64
    budget: int | None = None
    round_cap: int = 64
    safety: float = 1.0
    growth: float = 1.0
    p_floor: float = 0.05
    min_yield: float | None = None
    first_value: float | None = None
    row_loss: float = 0.005
    coverage_loss: float = 0.004
    prior_a: float = 0.5
    prior_b: float = 0.5
    prior_zero: float = 0.1
    prior_fit: bool = True
    no_correct_stop: bool = True
    no_correct_min_samples: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategies", _as_tuple(self.strategies))
        if not self.strategies:
            raise DartError("strategies: give at least one of " + ", ".join(STRATEGIES))
        for name in self.strategies:
            if name not in STRATEGIES:
                raise unknown_name("strategy", name, STRATEGIES)
        for field_name in ("k_u", "k_p", "vrt_n", "max_trials", "round_cap"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise DartError(f"{field_name} must be an integer >= 1, got {value!r}")
        for field_name in (
            *("k_u", "k_p", "vrt_n", "max_trials", "round_cap"),
            "difficulty_samples",
            "no_correct_min_samples",
        ):
            value = getattr(self, field_name)
            if value is not None and value > COUNT_MAX:
                raise DartError(f"{field_name} must be at most {COUNT_MAX}, got {value!r}")
        if self.budget is not None and self.budget > INT_MAX:
            raise DartError(f"budget must be at most {INT_MAX}, got {self.budget}")
        if self.difficulty_samples < 1:
            raise DartError(f"difficulty_samples must be >= 1, got {self.difficulty_samples}")
        if self.difficulty_samples > self.max_trials:
            raise DartError(
                f"difficulty_samples ({self.difficulty_samples}) exceeds max_trials ({self.max_trials})"
            )
        if self.budget is not None and self.budget < 1:
            raise DartError(f"budget must be >= 1 raw samples, got {self.budget}")
        if self.safety <= 0:
            raise DartError(f"safety must be > 0, got {self.safety}")
        if self.growth <= 0:
            raise DartError(f"growth must be > 0, got {self.growth}")
        if not 0 < self.p_floor <= 1:
            raise DartError(f"p_floor must be in (0, 1], got {self.p_floor}")
        if self.min_yield is not None and not self.min_yield >= 0:
            raise DartError(
                f"min_yield must be >= 0 (correct responses per 1,000 samples) or null "
                f"(derived from row_loss), got {self.min_yield}"
            )
        if self.first_value is not None and not self.first_value > 0:
            raise DartError(
                f"first_value must be > 0 (a query's first correct response, in units of "
                f"its target) or null (derived from coverage_loss), got {self.first_value}"
            )
        for name in ("row_loss", "coverage_loss"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 <= value < 1):
                raise DartError(f"{name} must be a share in [0, 1), got {value!r}")
        if not (self.prior_a > 0 and self.prior_b > 0):
            raise DartError(f"prior_a and prior_b must be > 0, got {self.prior_a}, {self.prior_b}")
        if not 0 <= self.prior_zero < 1:
            raise DartError(f"prior_zero must be in [0, 1), got {self.prior_zero}")
        if not isinstance(self.no_correct_stop, bool):
            raise DartError(f"no_correct_stop must be true or false, got {self.no_correct_stop!r}")
        if self.no_correct_min_samples is not None and self.no_correct_min_samples < 0:
            raise DartError(f"no_correct_min_samples must be >= 0, got {self.no_correct_min_samples}")


@dataclass(frozen=True)
class StreamConfig:
    """How a round's requests go to the engine (they change no output: in no fingerprint).

    Attributes:
        max_in_flight: Requests in flight at most (None: the engine's default: 256 for
            vLLM and the scripted engine).
        stream: Send the round as one stream (false: one blocking engine call per shard,
            the old path; engines that keep their batches, transformers, always do that).
        overlap_grading: Grade finished shards while the rest generate (None: where it
            measured no slower: more than 2 cores, or an engine outside this machine).
    """

    max_in_flight: int | None = None
    stream: bool = True
    overlap_grading: bool | None = None

    def __post_init__(self) -> None:
        if self.max_in_flight is not None and (
            isinstance(self.max_in_flight, bool)
            or not isinstance(self.max_in_flight, int)
            or self.max_in_flight < 1
        ):
            raise DartError(f"max_in_flight must be an integer >= 1, got {self.max_in_flight!r}")


@dataclass(frozen=True)
class ServerConfig:
    """Where a served model is (the `openai` engine), or which model to serve locally.

    None of it changes an output, so none of it is in a fingerprint: a build resumes against
    another URL or key. No secret is ever a value here: the key comes from an environment
    variable or a file; a header's value is a literal only for names that are not auth-like
    (`NAME:VALUE`), else `NAME:env:VAR` or `NAME:file:PATH`; `to_record` masks literals.

    Attributes:
        base_url: OpenAI-compatible base URLs (`--base-url`, repeatable); requests go to the
            least-loaded. Giving one (or `serve`) selects the `openai` engine.
        serve: Start a local vLLM OpenAI server for this model and sample through it
            (`--serve MODEL`; `embedded` is the embedded model); stopped with the command.
        api_key_env: Environment variable holding the key (default `OPENAI_API_KEY` when
            set).
        api_key_file: File holding the key.
        header: Extra headers (`--header NAME:VALUE`, repeatable).
        ca_bundle: CA bundle to verify TLS against (else `SSL_CERT_FILE`, then certifi's).
        server_max_in_flight: Requests in flight per server.
        request_retries: Retries of a request on connection errors, 408, 429, 502-504 and
            truncated answers before the command stops (a rerun resumes).
        retry_max_s: The most seconds one request spends retrying.
        bad_request_limit: This many identical 400s in a row stop the command.
        request_timeout_s: Connect timeout, and the read timeout's fixed part.
        timeout_per_token_s: The read timeout's part per requested token.
    """

    base_url: tuple[str, ...] = ()
    serve: str | None = None
    api_key_env: str | None = None
    api_key_file: str | None = None
    header: tuple[str, ...] = ()
    ca_bundle: str | None = None
    server_max_in_flight: int | None = None
    request_retries: int = 8
    retry_max_s: float = 600.0
    bad_request_limit: int = 5
    request_timeout_s: float = 60.0
    timeout_per_token_s: float = 0.2

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", _as_tuple(self.base_url))
        object.__setattr__(self, "header", _as_tuple(self.header))
        if self.base_url and self.serve:
            raise DartError("give --base-url (a running server) or --serve MODEL, not both")
        for h in self.header:
            Header.parse(h)  # a literal auth-like value is refused here, in one line

    @property
    def served(self) -> bool:
        """Whether the engine is a served model (a URL given, or a server to start)."""
        return bool(self.base_url or self.serve)

    def limits(self) -> dict[str, Any]:
        """The connection's limits, as `ServerConnection` names them."""
        out: dict[str, Any] = {
            "request_retries": self.request_retries,
            "retry_max_s": self.retry_max_s,
            "bad_request_limit": self.bad_request_limit,
            "timeout_s": self.request_timeout_s,
            "timeout_per_token_s": self.timeout_per_token_s,
            "api_key_env": self.api_key_env,
            "api_key_file": self.api_key_file,
            "headers": self.header,
            "ca_bundle": self.ca_bundle,
        }
        if self.server_max_in_flight is not None:
            out["server_max_in_flight"] = self.server_max_in_flight
        return out

    def to_record(self) -> dict[str, Any]:
        """The settings as a record may hold them (`recipe.yaml`, stats, cards): URLs without
        userinfo or query; headers only where they name their value's source (`env:`,
        `file:`): a literal value is never written (give it again to resume)."""
        out = dataclasses.asdict(self)
        out["base_url"] = [redact_url(u) for u in self.base_url]
        out["header"] = [h for h in self.header if _names_source(h)]
        return out


def _names_source(header: str) -> bool:
    return header.partition(":")[2].startswith(("env:", "file:"))


SERVER_SETTINGS = frozenset(f.name for f in dataclasses.fields(ServerConfig))
"""Settings of `ServerConfig` (in no fingerprint)."""


GOLD_MODES = ("answer", "majority")
"""Values of `BuildConfig.gold`: the pool's answers, or majority votes where a row has none
(`dart_hf.build.majority`)."""


@dataclass(frozen=True)
class BuildConfig:
    """Where a build's queries come from, what samples them, and what it writes.

    Attributes:
        pool: Pool names or paths (`dart_hf.sources.POOLS`), concatenated.
        levels: Keep only queries of these levels (GSM8K = 0, MATH 1-5); None keeps all.
        limit: Keep this many queries (a level-stratified, deterministic head), None for all.
        model: Hub id or folder; None is the embedded SmolLM2.
        engine: Backend (`dart_hf.engines.BACKENDS`); "scripted" is a labelled simulation.
        engine_options: Backend options (e.g. the scripted engine's pass-rate table).
        dtype: Weights dtype for the engine.
        max_model_len: Context the engine reserves.
        seed: Base seed; rounds and shards derive theirs from it.
        shard_size: Query rows per sampling shard (resume granularity within a round).
        data_dir: Folder with the full benchmark files for decontamination; None: bundled.
        decontaminate: Whether queries overlapping benchmark test questions are dropped.
        decontam_ngram: Word n-gram length of the overlap test.
        gold_min_votes: Gold audit: least samples agreeing on another answer for `disputed`;
            with `gold: majority`, least samples agreeing on the answer that becomes the gold.
        gold_min_share: Share of the answering samples they must exceed (both uses).
        exclude_disputed: Leave queries whose gold is disputed out of every release (the pool
            release's samples included); default: kept and counted.
        gold: Where gold answers come from: `answer` (the pool's; rows without one are
            dropped) or `majority` (rows without one get the majority answer of their first
            round of samples, a model vote; queries without a clear one are left out).
        query_column: The question column of pools given as files or Hub repo ids.
        answer_column: Their gold-answer column (optional with `gold: majority`).
        push: Upload the releases after the build.
        org: Hub namespace for `push` (None: the logged-in user).
        max_in_flight: Requests in flight at most (`StreamConfig`; None: the engine's).
        stream: Send each round as one stream (`StreamConfig`).
        overlap_grading: Grade finished shards while the rest generate (`StreamConfig`;
            None: where it measured no slower).
    """

    pool: tuple[str, ...] = ("gsm8k", "math")
    levels: tuple[int, ...] | None = None
    limit: int | None = None
    model: str | None = None
    engine: str = "vllm"
    engine_options: tuple[tuple[str, Any], ...] = ()
    dtype: str = "bfloat16"
    max_model_len: int = 4096
    seed: int = 0
    shard_size: int = 64
    data_dir: str | None = None
    decontaminate: bool = True
    decontam_ngram: int = 13
    gold_min_votes: int = 4
    gold_min_share: float = 0.5
    exclude_disputed: bool = False
    gold: str = "answer"
    query_column: str | None = None
    answer_column: str | None = None
    push: bool = False
    org: str | None = None
    max_in_flight: int | None = None
    stream: bool = True
    overlap_grading: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "pool", _as_tuple(self.pool))
        self.stream_config()  # checks max_in_flight
        if self.levels is not None:
            levels = _as_tuple(self.levels) if isinstance(self.levels, str) else self.levels
            try:
                object.__setattr__(self, "levels", tuple(int(v) for v in levels))
            except (TypeError, ValueError):
                raise DartError(f"levels must be integers 0-5, got {self.levels!r}") from None
        object.__setattr__(
            self,
            "engine_options",
            engine_option_pairs("engine_options", self.engine_options, "settings"),
        )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise DartError(f"seed must be a whole number, got {self.seed!r}")
        _in_range("seed", self.seed, self.seed, "build settings")
        if not self.pool:
            raise DartError("pool: give at least one pool name or path")
        if self.levels is not None and not all(0 <= lv <= 5 for lv in self.levels):
            raise DartError(f"levels must be integers 0-5 (GSM8K 0, MATH 1-5), got {self.levels}")
        if self.engine not in BACKENDS:
            raise unknown_name("engine", self.engine, BACKENDS)
        check_options(self.engine, dict(self.engine_options))
        if self.max_model_len < 1:
            raise DartError(f"max_model_len must be >= 1, got {self.max_model_len}")
        if self.limit is not None and self.limit < 1:
            raise DartError(f"limit must be >= 1, got {self.limit}")
        if self.shard_size < 1:
            raise DartError(f"shard_size must be >= 1, got {self.shard_size}")
        if self.decontam_ngram < 1:
            raise DartError(f"decontam_ngram must be >= 1, got {self.decontam_ngram}")
        GoldAuditConfig(self.gold_min_votes, self.gold_min_share, self.exclude_disputed)
        if self.gold not in GOLD_MODES:
            raise unknown_name("gold", self.gold, GOLD_MODES)
        for name in ("query_column", "answer_column"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                raise DartError(f"{name} must name a column, got {value!r}")

    def stream_config(self) -> StreamConfig:
        """How rounds go to the engine (not part of the build's fingerprint)."""
        return StreamConfig(self.max_in_flight, self.stream, self.overlap_grading)

    def engine_spec(self, *, seed: int | None = None, **options: Any) -> EngineSpec:
        """The engine these settings name: the one place an `EngineSpec` is made from
        settings (build, sample and eval call it).

        Args:
            seed: The engine's base seed (default: `seed`).
            **options: Engine options added to `engine_options` (e.g. a scripted table).
        """
        return EngineSpec(
            backend=self.engine,
            model=self.model,
            seed=self.seed if seed is None else seed,
            dtype=self.dtype,
            max_model_len=self.max_model_len,
            options=tuple(sorted({**dict(self.engine_options), **options}.items())),
        )
