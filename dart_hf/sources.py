"""Query pools and benchmarks as `datasets.Dataset`s in one normalised schema.

A source is named in a registry (`POOLS`, `benchmarks.BENCHMARKS`) or given as a path (JSONL,
parquet, a folder of parquet shards) or a Hub repo id. Where a named source is read from:

1. an explicit path (`load_pool(path)`, `load_benchmark(name, path=...)`);
2. `data_dir` (argument, else the environment variable `DART_HF_DATA_DIR`), laid out like
   ../shared/data (`math/train.jsonl`, `gsm8k/test.jsonl`, ...);
3. the mini slices bundled in the package (`dart_hf/data`, same layout).

Every row goes through one `Dataset.map` (`normalise_batch`, versioned by
`NORMALISE_VERSION`) into `SOURCE_FEATURES`, so pools and benchmarks concatenate.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import datasets
from datasets import Dataset, Json, Value

from dart_hf import benchmarks as registry
from dart_hf.errors import DartError, unknown_name
from dart_hf.normalise import (
    NORMALISE_VERSION,
    NORMALISERS,
    SOURCE_FEATURES,
    as_text,
    normalise_batch,
)

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "DART_HF_DATA_DIR"


# --- registries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceSpec:
    """A named pool or benchmark.

    Attributes:
        name: Registry key, also the `source` column.
        file: Path relative to a data dir in the layout of ../shared/data.
        normaliser: Key of `NORMALISERS`.
        licence: Licence of the data, as its authors give it.
        description: One line for `dart-hf pools` / `dart-hf benchmarks`.
        split: `train` or `test`; the Hub split to read and the middle part of ids.
    """

    name: str
    file: str
    normaliser: str
    licence: str
    description: str
    split: str = "test"

    def __post_init__(self) -> None:
        if self.normaliser not in NORMALISERS:
            raise unknown_name("normaliser", self.normaliser, NORMALISERS)
        if Path(self.file).is_absolute() or not self.file.endswith((".jsonl", ".parquet")):
            raise DartError(f"source {self.name}: file must be a relative .jsonl/.parquet path")
        if self.split not in ("train", "test"):
            raise DartError(f"source {self.name}: split must be train or test, got {self.split!r}")


POOLS: dict[str, SourceSpec] = {
    "math": SourceSpec(
        "math", "math/train.jsonl", "math", "MIT",
        "MATH train (Hendrycks et al.), levels 1-5", "train",
    ),
    "gsm8k": SourceSpec(
        "gsm8k", "gsm8k/train.jsonl", "gsm8k", "MIT",
        "GSM8K train (Cobbe et al.), level 0", "train",
    ),
}  # fmt: skip


def benchmark_spec(name: str) -> SourceSpec:
    """Where benchmark `name` is read from and how (from its record in `benchmarks`)."""
    b = registry.get(name)
    return SourceSpec(b.name, b.file, b.normaliser, b.licence, b.description, b.split)


# --- reading ------------------------------------------------------------------------------


def bundled_data_dir() -> Path:
    """The folder of mini slices shipped inside the package."""
    return Path(str(resources.files("dart_hf") / "data"))


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """The data dir to read named sources from, and how it was chosen.

    Returns:
        `(folder, origin)` with origin `argument`, `env` or `bundled`.
    """
    if data_dir is not None:
        folder, origin = Path(data_dir), "argument"
    elif os.environ.get(DATA_DIR_ENV):
        folder, origin = Path(os.environ[DATA_DIR_ENV]), "env"
    else:
        return bundled_data_dir(), "bundled"
    if not folder.is_dir():
        hint = f" (from ${DATA_DIR_ENV})" if origin == "env" else ""
        raise DartError(f"data dir {folder}{hint} does not exist or is not a folder")
    return folder, origin


def check_jsonl(path: Path) -> int:
    """Parse every line once so that a bad line is reported by number; returns the row count."""
    rows = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise DartError(f"{path} line {number} is not valid JSON: {exc}") from None
            if not isinstance(value, dict):
                raise DartError(f"{path} line {number} is not a JSON object")
            try:  # Arrow stores UTF-8: an escaped lone surrogate ("\ud800") cannot be stored
                json.dumps(value, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError as exc:
                raise DartError(
                    f"{path} line {number}: text that is not valid Unicode ({exc.reason}: "
                    f"{exc.object[exc.start : exc.end]!r}); fix or drop that line"
                ) from None
            rows += 1
    if rows == 0:
        raise DartError(f"{path} is empty (no JSON rows)")
    return rows


_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def _is_repo_id(ref: str) -> bool:
    return bool(_REPO_ID.fullmatch(ref)) and not ref.endswith((".jsonl", ".json", ".parquet"))


def read_raw(ref: str | os.PathLike[str], *, split: str = "train") -> Dataset:
    """Read raw rows from a JSONL/parquet file, a folder of shards, or a Hub repo id.

    Args:
        ref: A local path or a Hub dataset repo id (`owner/name`).
        split: The split to take from a folder or repo with several; one with a single split
            gives that one.

    Raises:
        DartError: The file is missing, empty or malformed, or the repo cannot be loaded.
    """
    path = Path(ref)
    try:
        if path.is_file():
            suffix = path.suffix.lower()
            if suffix in (".jsonl", ".json"):
                check_jsonl(path)
                ds = datasets.load_dataset("json", data_files=str(path), split="train")
            elif suffix == ".parquet":
                ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
            else:
                raise DartError(f"{path}: expected a .jsonl or .parquet file")
        elif path.is_dir() or _is_repo_id(str(ref)):
            ds = _load_repo(str(ref), split)
        else:
            raise DartError(f"file not found: {path}")
    except DartError:
        raise
    except Exception as exc:  # datasets/pyarrow errors carry little context: name the input
        if "corresponds to no data" in str(exc):  # datasets' message for zero rows
            raise DartError(f"{ref} is empty (no rows)") from None
        if not path.exists():
            raise DartError(
                f"cannot read {ref}: no such file or folder, and as a Hub dataset repo: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        raise DartError(f"cannot read {ref}: {type(exc).__name__}: {exc}") from None
    if len(ds) == 0:
        raise DartError(f"{ref} is empty (no rows)")
    return ds


def _load_repo(ref: str, split: str) -> Dataset:
    """`datasets.load_dataset(ref)` for a local folder or a Hub repo id; pick `split`."""
    loaded = datasets.load_dataset(ref)
    if isinstance(loaded, Dataset):
        return loaded
    splits = list(loaded)
    if split in loaded:
        return loaded[split]
    if len(splits) == 1:
        return loaded[splits[0]]
    raise DartError(f"{ref} has splits {', '.join(splits)} but no {split!r}")


def detect_format(columns: Iterable[str], sample_answers: Iterable[Any] = ()) -> str | None:
    """Guess a pool's raw format from its columns: `normalised`, `math`, `gsm8k`, `plain` or None.

    Args:
        columns: Column names.
        sample_answers: A few values of the `answer` column (GSM8K answers contain `####`).
    """
    present = set(columns)
    if set(NORMALISERS["normalised"].required) <= present:
        return "normalised"
    if {"problem", "solution"} <= present:
        return "math"
    if {"question", "answer"} <= present and any("####" in as_text(a) for a in sample_answers):
        return "gsm8k"
    if "query" in present:
        return "plain"
    return None


def map_columns(
    raw: Dataset, ref: str, *, query_column: str | None = None, answer_column: str | None = None
) -> Dataset:
    """Rename a pool's question column to `query` and its answer column to `answer`.

    A column already named like the target is replaced (the named one wins).

    Raises:
        DartError: A named column is not in the table; the message lists the ones it has.
    """
    for setting, column, target in (
        ("query_column", query_column, "query"),
        ("answer_column", answer_column, "answer"),
    ):
        if column is None:
            continue
        if column not in raw.column_names:
            flag = "--" + setting.replace("_", "-")
            raise DartError(
                f"{ref} has no column {column!r} ({flag}); its columns: "
                f"{', '.join(raw.column_names)}"
            )
        if column == target:
            continue
        if target in raw.column_names:
            logger.info("%s: column %r replaced by %r (%s)", ref, target, column, setting)
            raw = raw.remove_columns(target)
        raw = raw.rename_column(column, target)
    return raw


# --- loading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedSource:
    """A normalised source and how it was loaded.

    Attributes:
        dataset: Rows in `SOURCE_FEATURES`.
        source: The `source` value of the rows.
        location: File, folder or repo id read.
        rows_read: Rows in the raw data.
        excluded_needs_picture: TheoremQA rows left out because their picture is not supplied.
        empty_answers: Rows kept with an empty gold `answer` (the grader marks them `bad_gold`).
        licence: Licence of the data.
    """

    dataset: Dataset
    source: str
    location: str
    rows_read: int
    excluded_needs_picture: int
    empty_answers: int
    licence: str


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise DartError(f"limit must be a whole number >= 0, got {limit!r}")


def _normalise(raw: Dataset, *, source: str, normaliser: str, split: str, location: str) -> Dataset:
    missing = [c for c in NORMALISERS[normaliser].required if c not in raw.column_names]
    if missing:
        raise DartError(
            f"{location}: missing column(s) {', '.join(missing)} for {normaliser} rows; "
            f"columns present: {', '.join(raw.column_names)}"
        )
    # Mixed-type JSON columns (TheoremQA `Answer`) go in as JSON text: decoding them as
    # Python values loses the digits as written (0.955 came back as 0.9550000000000001).
    for column, feature in raw.features.items():
        if isinstance(feature, Json):
            raw = raw.cast_column(column, Value("string"))
    return raw.map(
        normalise_batch,
        batched=True,
        with_indices=True,
        remove_columns=raw.column_names,
        features=SOURCE_FEATURES,
        fn_kwargs={
            "source": source,
            "normaliser": normaliser,
            "split": split,
            "location": location,
            "version": NORMALISE_VERSION,
        },
        desc=f"normalising {source}",
    )


def _finish(
    ds: Dataset,
    *,
    source: str,
    location: str,
    licence: str,
    description: str,
    include_pictures: bool,
    limit: int | None,
) -> LoadedSource:
    rows_read = len(ds)
    excluded = 0
    if not include_pictures:
        flags = ds["needs_picture"]
        excluded = sum(flags)
        if excluded:
            ds = ds.select([i for i, flag in enumerate(flags) if not flag])
            logger.info("%s: excluded %d rows that need a picture", source, excluded)
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    ids = ds["id"]
    if len(set(ids)) != len(ids):
        dupes = sorted(i for i, n in Counter(ids).items() if n > 1)
        raise DartError(f"{location}: duplicate ids {', '.join(dupes[:5])}")
    empty = sum(1 for a in ds["answer"] if not a)
    if empty == len(ds):  # a pool of questions only: a build needs `gold: majority`
        logger.info("%s: no gold answers (%d rows)", location, empty)
    elif empty:
        logger.warning("%s: %d rows have an empty gold answer (graded bad_gold)", location, empty)
    ds.info.description = (
        f"{description}. Read from {location}: {rows_read} rows, {excluded} needing a picture "
        f"excluded, {empty} with an empty answer. dart-hf normalise version {NORMALISE_VERSION}."
    )
    ds.info.license = licence
    return LoadedSource(ds, source, location, rows_read, excluded, empty, licence)


def _named_location(spec: SourceSpec, data_dir: str | os.PathLike[str] | None) -> Path:
    folder, origin = resolve_data_dir(data_dir)
    path = folder / spec.file
    if not path.is_file():
        where = "the bundled data" if origin == "bundled" else f"data dir {folder}"
        raise DartError(f"file not found: {path} ({spec.name} is not in {where})")
    return path


def load_pool_source(
    name_or_path: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    pool_format: str | None = None,
    query_column: str | None = None,
    answer_column: str | None = None,
) -> LoadedSource:
    """Load a query pool with its load report; see `load_pool`."""
    _check_limit(limit)
    ref = str(name_or_path)
    if ref in POOLS:
        spec = POOLS[ref]
        path = _named_location(spec, data_dir)
        raw = read_raw(path, split=spec.split)
        ds = _normalise(
            raw, source=spec.name, normaliser=spec.normaliser, split=spec.split,
            location=str(path),
        )  # fmt: skip
        return _finish(
            ds, source=spec.name, location=str(path), licence=spec.licence,
            description=spec.description, include_pictures=False, limit=limit,
        )  # fmt: skip
    if not Path(ref).exists() and not _is_repo_id(ref):
        if not re.search(r"[/\\.]", ref):
            raise unknown_name("pool", ref, POOLS)
        raise DartError(f"file not found: {ref}")
    raw = read_raw(ref, split="train")
    raw = map_columns(raw, ref, query_column=query_column, answer_column=answer_column)
    if pool_format is None:
        sample = raw.select(range(min(20, len(raw))))
        answers = sample["answer"] if "answer" in raw.column_names else []
        pool_format = detect_format(raw.column_names, answers)
        if pool_format is None:
            raise DartError(
                f"cannot tell the format of {ref} from its columns ({', '.join(raw.column_names)})"
                f"; expected problem+solution (math), question+answer with '####' (gsm8k), "
                f"id+source+query+answer (normalised) or a query column (plain); name the "
                f"question column with --query-column, or the format, one of: "
                f"{', '.join(NORMALISERS)}"
            )
    elif pool_format not in NORMALISERS:
        raise unknown_name("pool format", pool_format, NORMALISERS)
    source = "pool" if pool_format in ("normalised", "plain") else pool_format
    ds = _normalise(raw, source=source, normaliser=pool_format, split="train", location=ref)
    return _finish(
        ds, source=source, location=ref, licence="as given by the file's authors",
        description=f"{pool_format}-format pool", include_pictures=False, limit=limit,
    )  # fmt: skip


def load_pool(
    name_or_path: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    pool_format: str | None = None,
    query_column: str | None = None,
    answer_column: str | None = None,
) -> Dataset:
    """Load a query pool as normalised rows.

    Args:
        name_or_path: A name in `POOLS`, a path (JSONL, parquet, folder of parquet shards) or
            a Hub repo id.
        data_dir: Folder laid out like ../shared/data for named pools; default
            `$DART_HF_DATA_DIR`, else the bundled mini data.
        limit: Keep only the first `limit` rows.
        pool_format: Raw format of a path/repo (`math`, `gsm8k`, `normalised`, or any key of
            `NORMALISERS`); None detects it from the columns.
        query_column: The question column of a path/repo, read as `query` (the format is
            then `plain` unless the columns say otherwise); named pools ignore it.
        answer_column: Its gold-answer column, read as `answer` (optional: a pool without
            answers needs the build setting `gold: majority`).

    Raises:
        DartError: Unknown name, missing or malformed file, missing columns (a named column
            that is not there is named with the columns the file has).
    """
    return load_pool_source(
        name_or_path, data_dir=data_dir, limit=limit, pool_format=pool_format,
        query_column=query_column, answer_column=answer_column,
    ).dataset  # fmt: skip


def load_pools(
    names: Iterable[str | os.PathLike[str]],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    pool_format: str | None = None,
    query_column: str | None = None,
    answer_column: str | None = None,
) -> Dataset:
    """Load several pools (see `load_pool`) and concatenate them; ids must stay unique."""
    parts = [
        load_pool(
            n,
            data_dir=data_dir,
            limit=limit,
            pool_format=pool_format,
            query_column=query_column,
            answer_column=answer_column,
        )  # fmt: skip
        for n in names
    ]
    if not parts:
        raise DartError("no pools given")
    ds = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
    ids = ds["id"]
    if len(set(ids)) != len(ids):
        raise DartError("the pools share ids; each pool must be given once")
    return ds


def load_benchmark_source(
    name: str,
    *,
    path: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    include_pictures: bool = False,
    limit: int | None = None,
) -> LoadedSource:
    """Load a benchmark with its load report; see `load_benchmark`."""
    _check_limit(limit)
    spec = benchmark_spec(name)
    location = str(path) if path is not None else str(_named_location(spec, data_dir))
    raw = read_raw(location, split=spec.split)
    normaliser = spec.normaliser
    if path is not None and detect_format(raw.column_names) == "normalised":
        normaliser = "normalised"
    ds = _normalise(
        raw, source=spec.name, normaliser=normaliser, split=spec.split, location=location
    )
    return _finish(
        ds, source=spec.name, location=location, licence=spec.licence,
        description=spec.description, include_pictures=include_pictures, limit=limit,
    )  # fmt: skip


def load_benchmark(
    name: str,
    *,
    path: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    include_pictures: bool = False,
    limit: int | None = None,
) -> Dataset:
    """Load a benchmark as normalised rows.

    The count of TheoremQA rows excluded for a missing picture is logged, written into
    `dataset.info.description`, and returned by `load_benchmark_source`.

    Args:
        name: A name in `benchmarks.BENCHMARKS` (chooses the file and normaliser).
        path: Read this file, folder or Hub repo id instead of the data dir.
        data_dir: Folder laid out like ../shared/data; default `$DART_HF_DATA_DIR`, else the
            bundled mini data.
        include_pictures: Keep rows flagged `needs_picture`.
        limit: Keep only the first `limit` rows (after the picture exclusion).

    Raises:
        DartError: Unknown name, missing or malformed file, missing columns.
    """
    return load_benchmark_source(
        name, path=path, data_dir=data_dir, include_pictures=include_pictures, limit=limit
    ).dataset


@dataclass(frozen=True)
class SourceRow:
    """One line of `dart-hf pools` / `dart-hf benchmarks`.

    Attributes:
        name: Registry key.
        rows: Rows available (after default exclusions), or None when not loadable.
        note: Excluded rows, or why the source could not be loaded.
        location: File read.
        licence: Licence of the data.
        description: One-line description.
    """

    name: str
    rows: int | None
    note: str
    location: str
    licence: str
    description: str


def describe_sources(
    kind: str, *, data_dir: str | os.PathLike[str] | None = None
) -> list[SourceRow]:
    """Load every pool (`kind="pool"`) or benchmark (`kind="benchmark"`) and describe it.

    A source whose file is missing or bad is listed with the reason instead of failing.
    """
    registries = {
        "pool": POOLS,
        "benchmark": {name: benchmark_spec(name) for name in registry.BENCHMARKS},
    }
    if kind not in registries:
        raise unknown_name("source kind", kind, registries)
    folder, _ = resolve_data_dir(data_dir)
    out = []
    for spec in registries[kind].values():
        location = str(folder / spec.file)
        try:
            if kind == "pool":
                loaded = load_pool_source(spec.name, data_dir=folder)
            else:
                loaded = load_benchmark_source(spec.name, data_dir=folder)
        except DartError as exc:
            out.append(SourceRow(spec.name, None, str(exc), location, spec.licence,
                                 spec.description))  # fmt: skip
            continue
        note = (
            f"{loaded.excluded_needs_picture} need a picture (excluded)"
            if loaded.excluded_needs_picture
            else ""
        )
        out.append(
            SourceRow(
                spec.name, len(loaded.dataset), note, location, spec.licence, spec.description
            )  # fmt: skip
        )
    return out
