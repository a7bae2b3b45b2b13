"""Hub-layout staging of a release folder (pushing it: `dart_hf.hub.push`).

A release is staged locally exactly as it will be on the Hub: parquet shards named as
`Dataset.push_to_hub` names them (`data/<split>-00000-of-0000N.parquet` for the default
config, `<config>/<split>-...` for the others), row groups of at most ~100 MB, and a README.md
whose YAML carries `configs` and `dataset_info` as `push_to_hub` writes them. `push_folder`
uploads that folder as it is, so `dart-hf build --push` and `dart-hf push` publish the same repo.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, cast

from datasets import Dataset
from datasets.arrow_writer import (
    get_writer_batch_size_from_data_size,
    get_writer_batch_size_from_features,
)
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from dart_hf.arrow_io import mapped_files, write_parquet
from dart_hf.errors import DartError

logger = logging.getLogger(__name__)

README = "README.md"
DEFAULT_CONFIG = "default"
MAX_SHARD_BYTES = 500 * 1000**2
"""Same default as `datasets.config.MAX_SHARD_SIZE` ("500MB")."""
SHARD_RE = re.compile(r"^(?P<split>\w+(?:\.\w+)*)-(?P<index>\d{5})-of-(?P<total>\d{5})\.parquet$")
SPLIT_RE = re.compile(r"^\w+(\.\w+)*$")
PUSH_IGNORE = (".git", ".cache", "__pycache__")


def data_dir_for(config_name: str) -> str:
    """Folder of a config's shards, as `push_to_hub` chooses it ("data" for "default")."""
    return "data" if config_name == DEFAULT_CONFIG else config_name


def shard_name(split: str, index: int, total: int) -> str:
    """File name of one parquet shard, as `push_to_hub` names it."""
    return f"{split}-{index:05d}-of-{total:05d}.parquet"


def read_card(folder: Path) -> DatasetCard | None:
    """The folder's README.md as a `DatasetCard`, or None when there is none."""
    path = Path(folder) / README
    if not path.is_file():
        return None
    try:
        return DatasetCard(path.read_text(encoding="utf-8"))
    except Exception as exc:  # bad YAML header
        raise DartError(f"{path}: cannot parse the README YAML header: {exc}") from exc


def write_hub_folder(
    configs: dict[str, Dataset],
    folder: Path,
    *,
    split: str = "train",
    max_shard_bytes: int = MAX_SHARD_BYTES,
) -> None:
    """Stage datasets in `folder` exactly as `Dataset.push_to_hub` lays them out on the Hub.

    Each config gets `<data_dir>/<split>-0000i-of-0000N.parquet` (old shards of that split
    removed first), row groups sized as `push_to_hub` sizes them (<= ~100 MB uncompressed),
    and README.md's YAML gets `configs` (`data_files` per split) and `dataset_info`
    (features, splits, sizes). An existing README body and other YAML keys are kept. With
    several configs and none named "default", the first is marked `default: true`.

    Args:
        configs: Config name -> dataset ("default" for a single-config release).
        folder: The release folder (created if missing).
        split: Split name of these datasets.
        max_shard_bytes: Largest uncompressed Arrow size of one shard.

    Raises:
        DartError: On an empty mapping, an invalid config or split name, or a bad README.
    """
    if not configs:
        raise DartError(f"{folder}: no datasets to stage")
    if not SPLIT_RE.match(split):
        raise DartError(f"split name {split!r} must match {SPLIT_RE.pattern}")
    if max_shard_bytes <= 0:
        raise DartError(f"max_shard_bytes must be > 0, got {max_shard_bytes}")
    for name, ds in configs.items():
        if name == "data" or not re.match(r"^[\w.-]+$", name):
            raise DartError(
                f"config name {name!r} is not allowed: use letters, digits, '_', '.', '-', "
                "and not 'data' (push_to_hub reserves it for the default config's folder)"
            )
        if not isinstance(ds, Dataset):
            raise DartError(f"config {name!r}: expected a datasets.Dataset, got {type(ds).__name__}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    card = read_card(folder)
    card_data = cast(DatasetCardData, card.data) if card is not None else DatasetCardData()
    old_configs = MetadataConfigs.from_dataset_card_data(card_data)
    old_infos = DatasetInfosDict.from_dataset_card_data(card_data)

    new_infos: dict[str, DatasetInfo] = {}
    new_configs: dict[str, dict[str, Any]] = {}
    for name, ds in configs.items():
        data_dir = data_dir_for(name)
        split_info, download_size = _write_shards(ds, folder / data_dir, split, max_shard_bytes)
        info = _merge_info(old_infos.get(name), name, ds, split_info, download_size)
        new_infos[name] = info
        data_files = {split: f"{data_dir}/{split}-*"}
        for entry in old_configs.get(name, {}).get("data_files", []) or []:
            if isinstance(entry, dict) and entry.get("split") in info.splits:
                data_files.setdefault(entry["split"], entry["path"])
        new_configs[name] = {"data_files": [{"split": s, "path": p} for s, p in sorted(data_files.items())]}
    all_names = set(old_configs) | set(new_configs)
    if len(all_names) > 1 and DEFAULT_CONFIG not in all_names:
        has_default = any(c.get("default") for c in old_configs.values())
        if not has_default:
            new_configs[next(iter(configs))]["default"] = True
    for name, cfg in old_configs.items():
        if name in new_configs and cfg.get("default"):
            new_configs[name]["default"] = True

    DatasetInfosDict(new_infos).to_dataset_card_data(card_data)
    MetadataConfigs(new_configs).to_dataset_card_data(card_data)
    body = card.text if card is not None else "\n"
    _write_readme(folder, card_data, body)


def _write_shards(ds: Dataset, out: Path, split: str, max_shard_bytes: int) -> tuple[SplitInfo, int]:
    """Write one split's shards as push_to_hub does; return its SplitInfo and parquet bytes."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        m = SHARD_RE.match(old.name)
        if m and m["split"] == split:
            old.unlink()
    # the size push_to_hub uses for sharding (counts embedded media files)
    estimate = getattr(ds, "_estimate_nbytes", None)
    nbytes = int(estimate() if estimate is not None else ds.data.nbytes)
    if getattr(ds, "_indices", None) is not None and len(ds.data) and nbytes >= ds.data.nbytes:
        # a select()/filter() view whose estimate counts the whole underlying table (older
        # datasets): scale it, or a small release cut from a big pool gets too many shards
        nbytes = int(nbytes * len(ds) / len(ds.data))
    num_shards = int(nbytes / max_shard_bytes) + 1
    batch_size = get_writer_batch_size_from_features(ds.features) or (
        get_writer_batch_size_from_data_size(len(ds), nbytes)
    )
    written = 0
    # Arrow-file-backed data of several row groups (a build's pool) is streamed with plain
    # reads, one row group at a time, instead of leaving every page of it mapped; same bytes.
    streamed = batch_size < len(ds) and mapped_files(ds) is not None
    div, mod = divmod(len(ds), num_shards)
    for index in range(num_shards):
        final = out / shard_name(split, index, num_shards)
        tmp = final.with_name(final.name + ".tmp")
        if streamed:
            start = div * index + min(index, mod)  # `Dataset.shard(contiguous=True)`'s bounds
            end = start + div + (1 if index < mod else 0)
            write_parquet(ds, tmp, start=start, end=end, batch_size=batch_size)
        else:
            shard = ds.shard(num_shards=num_shards, index=index, contiguous=True)
            shard.to_parquet(str(tmp), batch_size=batch_size)
        tmp.replace(final)
        written += final.stat().st_size
    logger.info("staged %d rows of %s in %d shard(s) under %s", len(ds), split, num_shards, out)
    return SplitInfo(name=split, num_bytes=nbytes, num_examples=len(ds)), written


def _merge_info(
    old: DatasetInfo | None, name: str, ds: Dataset, split_info: SplitInfo, download_size: int
) -> DatasetInfo:
    """DatasetInfo for a config after (re)writing one split, keeping its other splits."""
    splits = SplitDict()
    download = download_size
    if old is not None and old.splits and old.features == ds.features:
        for other in old.splits.values():
            if other.name != split_info.name:
                splits.add(other)
        # the download size of other splits is unknown per split; keep a proportional share
        old_bytes = sum(s.num_bytes or 0 for s in old.splits.values()) or 1
        kept = sum(s.num_bytes or 0 for s in splits.values())
        download += int((old.download_size or 0) * kept / old_bytes)
    splits.add(split_info)
    dataset_size = sum(s.num_bytes or 0 for s in splits.values())
    return DatasetInfo(
        config_name=name,
        features=ds.features,
        splits=splits,
        download_size=download,
        dataset_size=dataset_size,
        size_in_bytes=download + dataset_size,
    )


def _write_readme(folder: Path, card_data: DatasetCardData, body: str) -> None:
    text = f"---\n{card_data.to_yaml()}\n---\n{body if body.startswith(chr(10)) else chr(10) + body}"
    tmp = folder / (README + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(folder / README)


def staged_files(folder: Path) -> list[str]:
    """Paths (POSIX, relative to `folder`) that a push uploads, sorted."""
    folder = Path(folder)
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part in PUSH_IGNORE for part in rel.parts):
            if path.name.endswith(".tmp"):
                continue
            out.append(rel.as_posix())
    return out


def parquet_problem(path: Path) -> str | None:
    """Why a parquet file cannot be read to its end, or None when every page decodes.

    The footer alone (`read_metadata`) misses bytes garbled inside the file, so every row
    group is read, a batch at a time (compressed pages fail to decompress; pages written with
    checksums fail them).
    """
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(path, page_checksum_verification=True) as pf:
            for _ in pf.iter_batches(batch_size=65_536):
                pass
    except Exception as exc:  # truncated, garbled, or not parquet at all
        return f"{type(exc).__name__}: {exc}"
    return None


def check_hub_folder(folder: Path) -> list[str]:
    """Problems that would stop the Hub viewer or `load_dataset` from reading `folder`.

    Checks: a README.md with `configs` whose globs all match files; data files are parquet
    named `<split>-NNNNN-of-NNNNN.parquet` with a complete shard sequence, each read to its
    end (`parquet_problem`: a file garbled mid-way has an intact footer); no loading script.
    Row-group size is not a viewer limit (any longer): `write_hub_folder` still sizes row
    groups as `push_to_hub` does, but a folder with larger ones is not refused.

    Returns:
        Human-readable problems; empty when the folder is viewer-ready.
    """
    import fnmatch

    from datasets.data_files import sanitize_patterns

    folder = Path(folder)
    problems: list[str] = []
    card = read_card(folder)
    if card is None:
        return [f"{folder}: no README.md"]
    files = staged_files(folder)
    for rel in files:
        if rel.endswith(".py"):
            problems.append(f"{rel}: loading scripts are not allowed")
    configs = MetadataConfigs.from_dataset_card_data(card.data)
    if not configs:
        problems.append("README.md: no `configs` in the YAML")
    data_files: set[str] = set()
    for name, cfg in configs.items():
        # data_files may be a string, a list, or a list of {split, path} (sanitize handles all)
        for patterns in sanitize_patterns(cfg.get("data_files") or []).values():
            for pattern in patterns:
                hits = [f for f in files if fnmatch.fnmatch(f, pattern)]
                if not hits:
                    problems.append(f"config {name!r}: glob {pattern!r} matches no file")
                data_files.update(hits)
    by_group: dict[tuple[str, str], list[tuple[int, int]]] = {}
    rows: dict[tuple[str, str], int] = {}
    for rel in sorted(data_files):
        p = Path(rel)
        m = SHARD_RE.match(p.name)
        if p.suffix != ".parquet":
            problems.append(f"{rel}: not a parquet file")
            continue
        if not m:
            problems.append(f"{rel}: not named <split>-NNNNN-of-NNNNN.parquet")
            continue
        by_group.setdefault((str(p.parent), m["split"]), []).append((int(m["index"]), int(m["total"])))
        problem = parquet_problem(folder / rel)
        if problem:
            problems.append(f"{rel}: not a readable parquet file ({problem})")
        else:
            key = (str(p.parent), m["split"])
            rows[key] = rows.get(key, 0) + parquet_rows(folder / rel)
    for (parent, split), shards in by_group.items():
        totals = {t for _, t in shards}
        indices = sorted(i for i, _ in shards)
        if len(totals) != 1 or indices != list(range(next(iter(totals)))):
            problems.append(f"{parent}/{split}-*: incomplete or mixed shard sequence {shards}")
        if rows.get((parent, split)) == 0:
            problems.append(f"{parent}/{split}-*: no rows (`load_dataset` cannot read an empty split)")
    return problems


def parquet_rows(path: Path) -> int:
    """Rows of a parquet file, from its footer."""
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def empty_splits(folder: Path) -> list[str]:
    """The data files' splits (`<dir>/<split>`) of a written folder that hold no rows: a
    release no query gave a sample to. `datasets` cannot load an empty split."""
    totals: dict[str, int] = {}
    for rel in staged_files(folder):
        m = SHARD_RE.match(Path(rel).name)
        if m:
            key = f"{Path(rel).parent}/{m['split']}"
            totals[key] = totals.get(key, 0) + parquet_rows(Path(folder) / rel)
    return sorted(k for k, n in totals.items() if n == 0)


__all__ = [
    "check_hub_folder",
    "empty_splits",
    "parquet_rows",
    "parquet_problem",
    "read_card",
    "staged_files",
    "write_hub_folder",
]
