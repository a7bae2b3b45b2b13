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

import glob
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
from dart_hf.outputs import is_disk_full

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
        "math",
        "math/train.jsonl",
        "math",
        "MIT",
        "MATH train (Hendrycks et al.), levels 1-5",
        "train",
    ),
    "gsm8k": SourceSpec(
        "gsm8k",
        "gsm8k/train.jsonl",
        "gsm8k",
        "MIT",
        "GSM8K train (Cobbe et al.), level 0",
        "train",
    ),
}


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
TABLE_KINDS: dict[str, str] = {
    ".parquet": "parquet",
    ".jsonl": "json",
    ".json": "json",
    ".ndjson": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".arrow": "arrow",
}
"""File suffixes `datasets` reads as rows, by the builder that reads them (one per folder)."""
FOLDER_METADATA = frozenset({"README.md", ".gitattributes"})
"""Files of a data folder that hold no rows and are expected there (the card)."""


def _is_repo_id(ref: str) -> bool:
    return bool(_REPO_ID.fullmatch(ref)) and not ref.endswith((".jsonl", ".json", ".parquet"))


def _is_glob(ref: str) -> bool:
    return any(c in ref for c in "*?[") and not Path(ref).exists()


def _shown(paths: Iterable[Path | str], root: Path | None = None, most: int = 5) -> str:
    """`a.jsonl, b.parquet, ... (12 in all)`: a few file names for a one-line message."""
    names = [str(Path(p).relative_to(root)) if root else str(p) for p in paths]
    more = f", ... ({len(names)} in all)" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _by_kind(files: Iterable[Path]) -> tuple[dict[str, list[Path]], list[Path]]:
    """Files grouped by the `datasets` builder that reads them, and the files none reads."""
    kinds: dict[str, list[Path]] = {}
    other: list[Path] = []
    for f in files:
        kind = TABLE_KINDS.get(f.suffix.lower())
        if kind is None:
            other.append(f)
        else:
            kinds.setdefault(kind, []).append(f)
    return kinds, other


def _mixed_kinds_error(where: str, kinds: dict[str, list[Path]], root: Path | None) -> DartError:
    parts = "; ".join(f"{kind}: {_shown(files, root)}" for kind, files in sorted(kinds.items()))
    return DartError(
        f"{where} holds data files of more than one type ({parts}): datasets reads one type "
        "and would leave the other files' rows out; keep one type there, or give the files "
        "to read as a quoted glob (e.g. 'DIR/*.parquet')"
    )


def _has_configs(folder: Path) -> bool:
    """Whether the folder's README declares `configs` (then its YAML says what is read)."""
    from huggingface_hub import DatasetCard

    readme = folder / "README.md"
    if not readme.is_file():
        return False
    try:
        text = readme.read_text(encoding="utf-8")
        if not text.startswith("---"):  # no YAML header: only a card
            return False
        data = DatasetCard(text).data.to_dict()
    except Exception:  # an unreadable header: load_dataset says what is wrong
        return False
    return bool(data.get("configs"))


def _folder_files(folder: Path) -> list[Path]:
    """Every file under `folder` but hidden ones and the card (`FOLDER_METADATA`)."""
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or any(part.startswith((".", "__")) for part in rel.parts):
            continue
        if len(rel.parts) == 1 and rel.name in FOLDER_METADATA:
            continue
        out.append(path)
    return out


def check_folder(folder: Path) -> list[Path]:
    """Refuse a data folder whose rows `datasets.load_dataset(folder)` would not all read.

    `datasets` reads one file type per folder (the most common one) and, once some file is
    named like a split (`test.jsonl`), only the files named like splits; a folder whose README
    declares `configs` is read as the YAML says. Files of several types, or data files no
    split takes, are refused with their names; other files (notes, images) are named in a
    warning as not read.

    Returns:
        The data files that will be read (none listed where the README's `configs` decide).

    Raises:
        DartError: No data file, several types, or data files that would not be read.
    """
    from datasets.data_files import DataFilesDict, get_data_patterns

    if _has_configs(folder):
        return []
    files = _folder_files(folder)
    kinds, other = _by_kind(files)
    if not kinds:
        found = f"; it holds {_shown(other, folder)}" if other else " (it is empty)"
        raise DartError(f"{folder} holds no data files ({', '.join(sorted(TABLE_KINDS))}){found}")
    if len(kinds) > 1:
        raise _mixed_kinds_error(str(folder), kinds, folder)
    try:
        patterns = get_data_patterns(str(folder))
        resolved = DataFilesDict.from_patterns(patterns, base_path=str(folder))
    except Exception:  # nothing datasets recognises: load_dataset says so below
        return []
    taken = {Path(f).resolve() for split_files in resolved.values() for f in split_files}
    (data,) = kinds.values()
    left = [f for f in data if f.resolve() not in taken]
    if left:
        splits = ", ".join(str(s) for s in resolved)
        raise DartError(
            f"{folder}: {_shown(left, folder)} would not be read: files named like a split "
            f"({splits}) make datasets read only those; rename the files (or move the others "
            "out) so that every data file belongs to a split"
        )
    if other:
        logger.warning(
            "%s: read %d %s file(s); not read (not data files): %s",
            folder,
            len(data),
            next(iter(kinds)),
            _shown(other, folder),
        )
    return data


def _check_parquet_rows(files: Iterable[Path], ref: str) -> None:
    """Name empty or unreadable parquet files before datasets gives an opaque error."""
    import pyarrow.parquet as pq

    empty = []
    files = list(files)
    for f in files:
        try:
            rows = pq.read_metadata(f).num_rows
        except Exception as exc:
            raise DartError(f"{f}: not a readable parquet file ({exc})") from None
        if rows == 0:
            empty.append(f)
    if empty and len(empty) == len(files):
        raise DartError(f"{ref} is empty (no rows)")
    if empty:
        raise DartError(
            f"{ref}: {_shown(empty)} hold(s) no rows, which datasets cannot read beside other "
            "files; remove the empty file(s)"
        )


def _read_glob(ref: str) -> Dataset:
    files = [Path(p) for p in sorted(glob.glob(ref, recursive=True)) if Path(p).is_file()]
    if not files:
        raise DartError(f"no file matches {ref}")
    kinds, other = _by_kind(files)
    if other:
        raise DartError(f"{ref} matches files that are not data files: {_shown(other)}")
    if len(kinds) > 1:
        raise _mixed_kinds_error(ref, kinds, None)
    ((kind, data),) = kinds.items()
    if kind == "parquet":
        _check_parquet_rows(data, ref)
    for f in data:
        if f.suffix.lower() == ".jsonl":
            check_jsonl(f)
    logger.info("%s: reading %d %s file(s)", ref, len(data), kind)
    extra = {"sep": "\t"} if kind == "csv" and data[0].suffix.lower() == ".tsv" else {}
    return datasets.load_dataset(kind, data_files=[str(f) for f in data], split="train", **extra)


def cache_folder() -> str:
    """Where datasets keeps its Arrow cache (`HF_DATASETS_CACHE`)."""
    return str(datasets.config.HF_DATASETS_CACHE)


def cache_full_error(exc: OSError, ref: str) -> DartError:
    """The one line for a full disk while datasets writes its cache for `ref`."""
    where = getattr(exc, "filename", None) or cache_folder()
    return DartError(
        f"disk full while datasets wrote its cache for {ref} (in {where}): free space there, "
        "or point HF_DATASETS_CACHE at a disk with room, and rerun"
    )


def read_raw(ref: str | os.PathLike[str], *, split: str = "train") -> Dataset:
    """Read raw rows from a JSONL/parquet file, a folder of shards, a glob, or a Hub repo id.

    A folder must hold one type of data file, all of them read (`check_folder`); a quoted
    glob (`DIR/*.parquet`) reads exactly the files it matches.

    Args:
        ref: A local path, a glob of local files, or a Hub dataset repo id (`owner/name`).
        split: The split to take from a folder or repo with several; one with a single split
            gives that one.

    Raises:
        DartError: The file is missing, empty or malformed, a folder mixes file types, the
            datasets cache is full, or the repo cannot be loaded.
    """
    path = Path(ref)
    try:
        if path.is_file():
            suffix = path.suffix.lower()
            if suffix in (".jsonl", ".json"):
                check_jsonl(path)
                ds = datasets.load_dataset("json", data_files=str(path), split="train")
            elif suffix == ".parquet":
                _check_parquet_rows([path], str(ref))
                ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
            else:
                raise DartError(f"{path}: expected a .jsonl or .parquet file")
        elif path.is_dir():
            data = check_folder(path)
            parquet = [f for f in data if f.suffix.lower() == ".parquet"]
            if parquet:
                _check_parquet_rows(parquet, str(ref))
            ds = _load_repo(str(ref), split)
        elif _is_glob(str(ref)):
            ds = _read_glob(str(ref))
        elif _is_repo_id(str(ref)):
            ds = _load_repo(str(ref), split)
        else:
            raise DartError(f"file not found: {path}")
    except DartError:
        raise
    except OSError as exc:
        if is_disk_full(exc):
            raise cache_full_error(exc, str(ref)) from None
        raise DartError(f"cannot read {ref}: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # datasets/pyarrow errors carry little context: name the input
        if "corresponds to no data" in str(exc):  # datasets' message for zero rows
            raise DartError(f"{ref} is empty (no rows)") from None
        if not path.exists():
            raise DartError(
                f"cannot read {ref}: no such file or folder, and as a Hub dataset repo: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        if path.is_dir():  # a Hub-layout folder: name an empty or damaged shard
            _check_parquet_rows([f for f in _folder_files(path) if f.suffix.lower() == ".parquet"], str(ref))
        cause = exc.__cause__ or exc.__context__
        detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        raise DartError(f"cannot read {ref}: {type(exc).__name__}: {exc}{detail}") from None
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
        chosen = split
    elif len(splits) == 1:
        chosen = splits[0]
    else:
        raise DartError(f"{ref} has splits {', '.join(splits)} but no {split!r}")
    others = [f"{s} ({len(loaded[s])} rows)" for s in splits if s != chosen]
    if others:
        logger.info("%s: read split %s; not read: %s", ref, chosen, ", ".join(others))
    return loaded[chosen]


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
        DartError: A named column is not in the table (the message lists the ones it has), or
            the question and the answer are one column.
    """
    question = query_column or ("query" if "query" in raw.column_names else None)
    if answer_column is not None and answer_column == question:
        flags = "--query-column and --answer-column" if query_column else "--answer-column"
        raise DartError(
            f"{ref}: {flags} name the same column {answer_column!r}; the question and its "
            "gold answer must be two columns (leave --answer-column out for a pool without "
            "answers, with --gold majority)"
        )
    for setting, column, target in (
        ("query_column", query_column, "query"),
        ("answer_column", answer_column, "answer"),
    ):
        if column is None:
            continue
        if column not in raw.column_names:
            flag = "--" + setting.replace("_", "-")
            raise DartError(
                f"{ref} has no column {column!r} ({flag}); its columns: {', '.join(raw.column_names)}"
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


def _normalise(
    raw: Dataset,
    *,
    source: str,
    normaliser: str,
    split: str,
    location: str,
    renamed: dict[str, tuple[str, str]] | None = None,
) -> Dataset:
    missing = [c for c in NORMALISERS[normaliser].required if c not in raw.column_names]
    if missing:
        raise DartError(
            f"{location}: missing column(s) {', '.join(missing)} for {normaliser} rows; "
            f"columns present: {', '.join(raw.column_names)}"
        )
    # TheoremQA's mixed-type JSON `Answer` goes in as JSON text: decoding it as Python values
    # loses the digits as written (0.955 came back as 0.9550000000000001). Other formats get
    # the decoded values, whose types the normalisers check (text where text is needed).
    if normaliser == "theoremqa":
        for column, feature in raw.features.items():
            if isinstance(feature, Json):
                raw = raw.cast_column(column, Value("string"))
    try:
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
                "renamed": renamed or {},
            },
            desc=f"normalising {source}",
        )
    except OSError as exc:
        if is_disk_full(exc):
            raise cache_full_error(exc, location) from None
        raise


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
            raw,
            source=spec.name,
            normaliser=spec.normaliser,
            split=spec.split,
            location=str(path),
        )
        return _finish(
            ds,
            source=spec.name,
            location=str(path),
            licence=spec.licence,
            description=spec.description,
            include_pictures=False,
            limit=limit,
        )
    if not Path(ref).exists() and not _is_repo_id(ref) and not _is_glob(ref):
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
    renamed = {
        target: (given, flag)
        for target, given, flag in (
            ("query", query_column, "--query-column"),
            ("answer", answer_column, "--answer-column"),
        )
        if given is not None and given != target
    }
    ds = _normalise(raw, source=source, normaliser=pool_format, split="train", location=ref, renamed=renamed)
    return _finish(
        ds,
        source=source,
        location=ref,
        licence="as given by the file's authors",
        description=f"{pool_format}-format pool",
        include_pictures=False,
        limit=limit,
    )


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
        name_or_path,
        data_dir=data_dir,
        limit=limit,
        pool_format=pool_format,
        query_column=query_column,
        answer_column=answer_column,
    ).dataset


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
        )
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
    ds = _normalise(raw, source=spec.name, normaliser=normaliser, split=spec.split, location=location)
    return _finish(
        ds,
        source=spec.name,
        location=location,
        licence=spec.licence,
        description=spec.description,
        include_pictures=include_pictures,
        limit=limit,
    )


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


def describe_sources(kind: str, *, data_dir: str | os.PathLike[str] | None = None) -> list[SourceRow]:
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
            out.append(SourceRow(spec.name, None, str(exc), location, spec.licence, spec.description))
            continue
        note = (
            f"{loaded.excluded_needs_picture} need a picture (excluded)"
            if loaded.excluded_needs_picture
            else ""
        )
        out.append(SourceRow(spec.name, len(loaded.dataset), note, location, spec.licence, spec.description))
    return out
