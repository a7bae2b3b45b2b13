"""The release schema: what each release config holds, column by column.

A build writes three kinds of table, each a Hub config (`hub.write_hub_folder`):

- `default`: a strategy's released set (`releases/dart-math-uniform`, ...);
- `samples`: every graded raw sample of the pool release (`releases/dart-math-pool`), with
  why it can be in no release (`drop_reason`);
- `queries`: the pool release's per-query table (counts, fail rate, targets, stop reason,
  gold audit; `gold_source` in a `gold: majority` build).

Each column is declared once here, in order, with its type, its meaning (the card's column
table) and, where the values are a closed set, the allowed values, taken from the module that
owns them (`answers.STATUSES`, `answers.VERDICT_SOURCES`, `assemble.ROW_DROP_REASONS`,
`dars.STOP_REASONS`, `grading.audit.GOLD_STATUSES`). The writers (`build.assemble_releases`,
`build.query_info`, `assemble.release`) write these columns and refuse anything else, so a
new column is one entry here, and `RELEASE_SCHEMA_VERSION` is bumped with it.

The version is shown in every release's card (its column section), the one file that travels
with a release to the Hub. It is not part of a build folder's fingerprint (`build.json`):
releases are assembled again from the graded rounds on every run, so a folder made under an
older schema resumes and gets releases of the current one. Only graded rounds that lack a
column the schema takes from them (made by an older grader) are refused, naming
`dart-hf regrade`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datasets import Dataset, Features, Value

from dart_hf.build.assemble import ROW_DROP_REASONS
from dart_hf.build.majority import NO_MAJORITY
from dart_hf.dars import STOP_REASONS
from dart_hf.errors import DartError
from dart_hf.grading.audit import GOLD_STATUSES
from dart_hf.grading.verdict import STATUSES, VERDICT_SOURCES
from dart_hf.normalise import SOURCE_FEATURES
from dart_hf.sampling.shards import SAMPLE_FEATURES

RELEASE_SCHEMA_VERSION = "2"
"""Bump when a release config gains, loses or changes a column (shown in every card)."""

RELEASE = "default"
SAMPLES = "samples"
QUERIES = "queries"
CONFIGS = (RELEASE, SAMPLES, QUERIES)
"""The release configs: a strategy's set (`default`), the pool's `samples` and `queries`."""

GOLD_SOURCES = ("answer", "majority")
"""Values of `gold_source` (null: no clear majority, the query was left out)."""


@dataclass(frozen=True)
class Column:
    """One column of a release config.

    Attributes:
        name: Column name.
        feature: Its `datasets` feature (type).
        meaning: What it holds (the card's column table).
        values: The allowed values of a closed set (None: any value of its type).
        nullable: Whether it may hold nulls.
        majority_meaning: Its meaning in a `gold: majority` build, where that differs.
    """

    name: str
    feature: Any
    meaning: str
    values: tuple[str, ...] | None = None
    nullable: bool = False
    majority_meaning: str | None = None


_STOP_MEANING = (
    "why sampling stopped: `reached`, `max_trials`, `no_correct` (none correct, a first "
    "one no longer worth the samples), `low_yield` (some correct, below target, too few "
    "expected per 1,000 samples), `budget`"
)
_STOP_MAJORITY = (
    "why sampling stopped: `reached`, `max_trials`, `no_correct`, `low_yield`, `budget`, "
    "or `no_majority` (no gold answer and no clear majority among its samples: left out)"
)
_FAIL_RATE = "1 - corrects / samples over the difficulty-estimation samples"
_FAIL_RATE_MAJORITY = (
    "1 - corrects / samples over the fail-rate phase (round 1), whose samples did not vote on the gold"
)
_ANSWER_MAJORITY = (
    "gold final answer: the pool's own, or the samples' majority answer (see `gold_source` in the query info)"
)
_S = Value("string")

_SOURCE_MEANINGS: dict[str, tuple[str, bool]] = {
    "id": ("stable query id, e.g. `math/train/algebra/1234`, `gsm8k/train/17`", False),
    "source": ("query pool the question comes from (`math`, `gsm8k`)", False),
    "query": ("the question", False),
    "answer": ("gold final answer", False),
    "level": ("difficulty level: MATH 1-5, GSM8K 0", True),
    "domain": ("MATH subject", True),
    "solution": ("reference solution of the source dataset", True),
    "answer_type": ("answer type given by the source", True),
    "answers": ("every accepted gold answer", False),
    "multi_answer": ("the question has several answers", False),
    "unit": ("unit of the answer", True),
    "tolerance": ("numeric tolerance of the answer", True),
    "needs_picture": ("the question needs a picture that is not supplied", False),
}
_SAMPLE_MEANINGS: dict[str, str] = {
    "sample_idx": "index of the sample among all samples of its query",
    "round": "DARS round that sampled it",
    "response": "a sampled solution, correct or not (see `correct`)",
    "finish_reason": "`stop`, or `length` when cut at max_tokens (graded wrong)",
    "n_tokens": "generated tokens",
    "temperature": "sampling temperature",
    "top_p": "nucleus sampling mass",
    "max_tokens": "maximum new tokens",
    "template": "prompt template name",
    "engine": "inference engine",
    "engine_version": "inference engine version",
    "model": "synthesis model",
    "model_hash": "hash of the synthesis model folder",
}


def _source(name: str) -> Column:
    meaning, nullable = _SOURCE_MEANINGS[name]
    majority = _ANSWER_MAJORITY if name == "answer" else None
    return Column(name, SOURCE_FEATURES[name], meaning, nullable=nullable, majority_meaning=majority)


_FAIL_RATE_COLUMN = Column(
    "fail_rate", Value("float64"), _FAIL_RATE, nullable=True, majority_meaning=_FAIL_RATE_MAJORITY
)

_RELEASE_COLUMNS = (
    Column("query", _S, "the question"),
    Column("response", _S, "a sampled solution whose final answer was graded correct"),
    _source("id"),
    _source("source"),
    _source("level"),
    _source("domain"),
    _FAIL_RATE_COLUMN,
)

_SAMPLES_COLUMNS = (
    *(_source(name) for name in SOURCE_FEATURES),
    Column("n_samples", Value("int64"), "raw samples scheduled for the query in that round"),
    Column("sample_offset", Value("int64"), "`sample_idx` of the first of them"),
    *(Column(name, SAMPLE_FEATURES[name], text) for name, text in _SAMPLE_MEANINGS.items()),
    Column(
        "pred",
        _S,
        "final answer as Math-Verify (or the rule named in `verdict_source`) extracted it",
        nullable=True,
    ),
    Column(
        "correct",
        Value("bool"),
        "graded correct (null: the gold answer could not be read)",
        nullable=True,
    ),
    Column(
        "grade_status",
        _S,
        "`ok`, `no_answer`, `hedge` (several distinct final answers), `timeout`, `error`, "
        "`truncated` (cut at max_tokens) or `bad_gold` (gold unreadable)",
        values=STATUSES,
    ),
    Column(
        "verdict_source",
        _S,
        "what decided the verdict: `math_verify` or the name of a grading rule",
        values=VERDICT_SOURCES,
    ),
    Column(
        "drop_reason",
        _S,
        "why the sample can be in no release: `incorrect`, a quality filter "
        "(`multiple_boxed`, `repetition`, `non_ascii_answer`), `duplicate` or `decontaminated`; "
        "null: it may be released (each release takes a query's first ones up to its target)",
        values=ROW_DROP_REASONS,
        nullable=True,
    ),
)

_QUERIES_HEAD = (
    _source("id"),
    _source("source"),
    Column("level", Value("int64"), "difficulty level: MATH 1-5, GSM8K 0", nullable=True),
    _source("domain"),
    _source("query"),
    _source("answer"),
    Column("samples", Value("int64"), "raw samples drawn for the query"),
    Column("corrects", Value("int64"), "correct samples among them"),
    _FAIL_RATE_COLUMN,
    Column("fail_rate_samples", Value("int64"), "samples behind the fail-rate estimate"),
)
PREFIX_MEANINGS: dict[str, str] = {
    "target_": "target number of correct responses under `{}` (VRT: raw samples)",
    "kept_": "responses of the query released in the `{}` set",
}
"""Meanings of the per-strategy query columns `target_<strategy>`, `kept_<strategy>`."""
_QUERIES_TAIL = (
    Column("reached", Value("bool"), "the query reached its target (stop reason `reached`)"),
    Column(
        "decontaminated",
        Value("bool"),
        "the query overlaps a benchmark and is left out of every release",
    ),
    Column(
        "stop_reason",
        _S,
        _STOP_MEANING,
        values=(*STOP_REASONS, NO_MAJORITY),
        majority_meaning=_STOP_MAJORITY,
    ),
    Column(
        "gold_status",
        _S,
        "gold audit: `ok`, `disputed` (samples agree on another) or `unparseable`",
        values=GOLD_STATUSES,
        nullable=True,
        majority_meaning="gold audit of a pool answer (`ok`, `disputed`, `unparseable`); null: a vote",
    ),
    Column(
        "gold_majority",
        _S,
        "the samples' majority answer when the gold is disputed",
        nullable=True,
        majority_meaning=(
            "the samples' majority answer: the gold when `gold_source` is `majority`, the "
            "largest answer when the vote was not clear, else the other answer of a "
            "disputed gold"
        ),
    ),
    Column(
        "gold_majority_votes",
        Value("int64"),
        "samples behind the largest answer, for a query with none correct",
        majority_meaning="samples behind the largest answer",
    ),
    Column("gold_voters", Value("int64"), "samples that gave a final answer (voting) for that query"),
)
_GOLD_SOURCE = Column(
    "gold_source",
    _S,
    "where the gold answer comes from: `answer` (the pool's own) or `majority` (the "
    "synthesis model's majority vote, not a verified answer); null: no clear majority, "
    "the query was left out (stop reason `no_majority`)",
    values=GOLD_SOURCES,
    nullable=True,
)


def columns(config: str, strategies: Sequence[str] = (), *, majority: bool = False) -> tuple[Column, ...]:
    """The columns of a release config, in order.

    Args:
        config: `RELEASE` (`default`), `SAMPLES` or `QUERIES`.
        strategies: The build's strategies, in order (the `queries` config has
            `target_<s>`, `kept_<s>` for each).
        majority: A `gold: majority` build (its `queries` config ends with `gold_source`).
    """
    if config == RELEASE:
        return _RELEASE_COLUMNS
    if config == SAMPLES:
        return _SAMPLES_COLUMNS
    if config != QUERIES:
        raise DartError(f"unknown release config {config!r}; valid: {', '.join(CONFIGS)}")
    per_strategy = tuple(
        Column(f"{prefix}{name}", Value("int64"), text.format(name))
        for name in strategies
        for prefix, text in PREFIX_MEANINGS.items()
    )
    tail = (*_QUERIES_TAIL, _GOLD_SOURCE) if majority else _QUERIES_TAIL
    return (*_QUERIES_HEAD, *per_strategy, *tail)


def names(config: str, strategies: Sequence[str] = (), *, majority: bool = False) -> list[str]:
    """The column names of a release config, in order."""
    return [c.name for c in columns(config, strategies, majority=majority)]


def features(config: str, strategies: Sequence[str] = (), *, majority: bool = False) -> Features:
    """The `datasets.Features` of a release config."""
    return Features({c.name: c.feature for c in columns(config, strategies, majority=majority)})


def meaning(config: str, name: str, *, majority: bool = False) -> str:
    """What a column of a release config holds ("" for a column the schema does not know)."""
    for prefix, text in PREFIX_MEANINGS.items():
        if config == QUERIES and name.startswith(prefix):
            return text.format(name[len(prefix) :])
    for c in columns(config, majority=True):
        if c.name == name:
            return (c.majority_meaning or c.meaning) if majority else c.meaning
    return ""


def majority_meanings() -> dict[str, str]:
    """Column name -> meaning in a `gold: majority` build, for the columns whose meaning
    differs there (the cards of such a build show these)."""
    out: dict[str, str] = {}
    for config in CONFIGS:
        for c in columns(config, majority=True):
            if c.majority_meaning is not None:
                out[c.name] = c.majority_meaning
    out[_GOLD_SOURCE.name] = _GOLD_SOURCE.meaning
    return out


def check_features(
    actual: Features | Mapping[str, Any],
    config: str,
    strategies: Sequence[str] = (),
    *,
    majority: bool = False,
    where: str = "",
) -> None:
    """Raise unless `actual` holds exactly the declared columns, in order, of their types.

    Raises:
        DartError: Naming the missing, unexpected and mistyped columns.
    """
    want = features(config, strategies, majority=majority)
    problems = problems_of(actual, want)
    if problems:
        raise DartError(
            f"{where or config}: not the columns of release schema {RELEASE_SCHEMA_VERSION} "
            f"({config}): {'; '.join(problems)}"
        )


def problems_of(actual: Features | Mapping[str, Any], want: Features) -> list[str]:
    """What differs between two feature sets: missing, unexpected, mistyped, out of order."""
    have = dict(actual)
    out = []
    missing = [n for n in want if n not in have]
    extra = [n for n in have if n not in want]
    if missing:
        out.append(f"missing {', '.join(missing)}")
    if extra:
        out.append(f"unexpected {', '.join(extra)}")
    for n, feat in want.items():
        if n in have and have[n] != feat:
            out.append(f"{n} is {have[n]}, declared {feat}")
    if not missing and not extra and list(have) != list(want):
        out.append(f"order {', '.join(have)}, declared {', '.join(want)}")
    return out


def table(
    config: str,
    cols: Mapping[str, list[Any]],
    strategies: Sequence[str] = (),
    *,
    majority: bool = False,
) -> Dataset:
    """A release config built from its columns: declared order and types (a column whose
    values are all null still gets its declared type).

    Raises:
        DartError: `cols` does not hold exactly the declared columns.
    """
    feats = features(config, strategies, majority=majority)
    have = set(cols)
    if have != set(feats):
        raise DartError(
            f"{config}: not the columns of release schema {RELEASE_SCHEMA_VERSION}: "
            f"missing {sorted(set(feats) - have)}, unexpected {sorted(have - set(feats))}"
        )
    return Dataset.from_dict({n: list(cols[n]) for n in feats}, features=feats)


def bad_values(
    ds: Dataset, config: str, strategies: Sequence[str] = (), *, majority: bool = False
) -> dict[str, list[Any]]:
    """Per column, the values the schema does not allow: outside its closed set, or null in a
    column that may not be null (empty: every value is allowed)."""
    out: dict[str, list[Any]] = {}
    for c in columns(config, strategies, majority=majority):
        if c.name not in ds.column_names:
            continue
        bad: list[Any] = []
        if not c.nullable and ds.data.table.column(c.name).null_count:
            bad.append(None)
        if c.values is not None:
            bad += sorted(v for v in ds.unique(c.name) if v is not None and v not in c.values)
        if bad:
            out[c.name] = bad
    return out
