"""Output folders: the one place that knows where each file of a command's folder lives.

- `SamplingFolder`: one sampling run's shards (`shard-XXXXX.parquet`, the unit of resume),
  its settings (`sampling.json`) and shard log (`shards.jsonl`). A `dart-hf sample` folder,
  each round of a build and each benchmark seed of an evaluation is one.
- `BuildFolder`: a `dart-hf build` folder: settings (`recipe.yaml`), the record of what made
  it (`build.json`), rounds (a `RoundFolder` each: a sampling folder plus its graded rows and
  meta), per-round states, statistics, releases and their staging, the files a regrade
  stages (`RegradeWork`), the vote phase's golds and the scripted engine's table.
- `EvalFolder`: a `dart-hf eval` folder: samples per benchmark and seed, results,
  predictions and their staging, the files a regrade keeps.

Every other module asks these classes for paths; none spells a file name of these folders.
Nothing here writes: the commands own the writes (through `outputs` for records, locks and
staged folders), these classes own the names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dart_hf import outputs

ROUND_NAME = "round-{:03d}"
SHARD_NAME = "shard-{:05d}.parquet"


def n_shards(rows: int, shard_size: int) -> int:
    """Shards of a sampling run: ceil(rows / shard_size) (shard k holds rows k*size...)."""
    return -(-rows // shard_size)


def _number(path: Path) -> int:
    """The number in `round-012` / `round-012.parquet`."""
    return int(path.name.split(".")[0].split("-")[1])


@dataclass(frozen=True)
class SamplingFolder:
    """One sampling run: its shards, settings and shard log.

    Shard k always covers query rows [k * shard_size, (k + 1) * shard_size), so the shard
    files are the unit of resume.
    """

    path: Path

    @property
    def manifest(self) -> Path:
        """The settings the shards were made with (`outputs.check_fingerprint`)."""
        return self.path / "sampling.json"

    @property
    def shard_log(self) -> Path:
        """One JSON line per generated shard (completions, tokens, time, pid)."""
        return self.path / "shards.jsonl"

    @property
    def ray_log(self) -> Path:
        """One JSON line per Ray task that worked on this folder (where work ran)."""
        return self.path / "ray_tasks.jsonl"

    def shard(self, k: int) -> Path:
        """The file of shard k."""
        return self.path / SHARD_NAME.format(k)

    def journal(self, k: int) -> Path:
        """Completions of shard k as they finish (append-only JSON lines), until the shard
        file is written from them."""
        return self.path / f"journal-{k:05d}.jsonl"

    def journals(self) -> list[Path]:
        """Every journal left in the folder."""
        return sorted(self.path.glob("journal-*.jsonl"))

    def shard_temp(self, k: int, pid: int) -> Path:
        """The name shard k is written under before it is renamed in."""
        return self.path / f".{SHARD_NAME.format(k)}.tmp-{pid}"

    def stale_temps(self) -> list[Path]:
        """Shard files a killed run left half written."""
        return sorted(self.path.glob(".shard-*.parquet.tmp-*"))

    def shards(self) -> list[Path]:
        """Every finished shard file, in shard order."""
        return sorted(self.path.glob("shard-*.parquet"))

    def has_shards(self) -> bool:
        """Whether any shard is finished (finished work the settings guard protects)."""
        return any(self.path.glob("shard-*.parquet"))

    def missing(self, count: int) -> list[int]:
        """Shards among the first `count` whose file does not exist yet (reads only)."""
        return [k for k in range(count) if not self.shard(k).is_file()]

    def recorded_count(self) -> int | None:
        """The shard count the manifest records (None without a readable manifest)."""
        import json

        try:
            record = json.loads(self.manifest.read_text(encoding="utf-8"))
            return n_shards(int(record["queries"]), int(record["shard_size"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class RoundFolder(SamplingFolder):
    """One round of a build: its sampling shards, graded rows and meta."""

    number: int

    @property
    def graded(self) -> Path:
        """The round's graded rows (an Arrow IPC stream datasets memory-maps as is)."""
        return self.path / "graded.arrow"

    @property
    def meta(self) -> Path:
        """Rows, tokens and wall time of the round."""
        return self.path / "meta.json"

    def finished(self) -> bool:
        """Whether the round's graded rows and meta are written."""
        return self.graded.is_file() and self.meta.is_file()

    def graded_shard(self, k: int) -> Path:
        """Shard k's graded rows, written while the round is sampled (removed once
        `graded` holds the whole round)."""
        return self.path / f"graded-{k:05d}.arrow"

    def graded_shards(self) -> list[Path]:
        """Every graded shard file left in the folder."""
        return sorted(self.path.glob("graded-*.arrow"))


@dataclass(frozen=True)
class RegradeWork:
    """What `dart-hf regrade` stages in a folder before moving it in (`.regrade/`)."""

    path: Path

    @property
    def plan(self) -> Path:
        """The grader the staged files were graded with."""
        return self.path / "plan.json"

    @property
    def changes(self) -> Path:
        """The report, written once every new file is staged (the move-in may then start)."""
        return self.path / "changes.json"

    @property
    def record(self) -> Path:
        """The build's updated record."""
        return self.path / "build.json"

    @property
    def stats(self) -> Path:
        """The build's new statistics."""
        return self.path / "stats.json"

    @property
    def states(self) -> Path:
        """The replayed states (`round-XXX.parquet`)."""
        return self.path / "state"

    def state(self, r: int) -> Path:
        """The replayed state after round r."""
        return self.states / f"{ROUND_NAME.format(r)}.parquet"

    @property
    def releases(self) -> Path:
        """The re-assembled releases."""
        return self.path / "releases"

    def graded(self, r: int) -> Path:
        """Round r's samples graded again."""
        return self.path / f"{ROUND_NAME.format(r)}.arrow"

    def graded_rounds(self) -> list[tuple[int, Path]]:
        """The staged graded rounds, in round order."""
        return [(_number(p), p) for p in sorted(self.path.glob("round-*.arrow"))]

    @property
    def predictions(self) -> Path:
        """An evaluation's verdicts before the regrade (kept across a kill)."""
        return self.path / "predictions.parquet"


class _Locked:
    root: Path

    @contextlib.contextmanager
    def lock(self, command: str) -> Iterator[Path]:
        """Hold the folder's lock (`outputs.folder_lock`) and turn a full disk into one line."""
        with outputs.folder_lock(self.root, command), outputs.disk_full(self.root, self.root):
            yield self.root


@dataclass(frozen=True)
class BuildFolder(_Locked):
    """A `dart-hf build` folder (layout in docs/DESIGN.md)."""

    root: Path

    @property
    def recipe(self) -> Path:
        """The settings used (no secrets)."""
        return self.root / "recipe.yaml"

    @property
    def record(self) -> Path:
        """What made the folder: settings, grader, queries (`outputs.check_fingerprint`)."""
        return self.root / "build.json"

    @property
    def stats(self) -> Path:
        """Every figure the cards show."""
        return self.root / "stats.json"

    @property
    def report(self) -> Path:
        """What the last `dart-hf regrade` changed."""
        return self.root / "regrade.json"

    @property
    def scripted_table(self) -> Path:
        """The query/answer table the scripted engine (a simulation) answers from."""
        return self.root / "scripted-table.parquet"

    @property
    def majority_votes(self) -> Path:
        """The vote phase's golds of a `gold: majority` build."""
        return self.root / "gold-majority.parquet"

    @property
    def rounds(self) -> Path:
        """The folder of the rounds."""
        return self.root / "rounds"

    def round(self, r: int) -> RoundFolder:
        """Round r's folder."""
        return RoundFolder(self.rounds / ROUND_NAME.format(r), r)

    def round_folders(self) -> list[RoundFolder]:
        """Every round folder on disk, in round order."""
        found = sorted(p for p in self.rounds.glob("round-*") if p.is_dir())
        return [RoundFolder(p, _number(p)) for p in found]

    def graded_files(self) -> list[Path]:
        """Every round's graded rows, in round order."""
        return [f.graded for f in self.round_folders() if f.graded.is_file()]

    def metas(self) -> list[Path]:
        """Every round's meta file, in round order."""
        return [f.meta for f in self.round_folders() if f.meta.is_file()]

    @property
    def states(self) -> Path:
        """The folder of the per-round states."""
        return self.root / "state"

    def state(self, r: int) -> Path:
        """The per-query state after round r."""
        return self.states / f"{ROUND_NAME.format(r)}.parquet"

    def state_files(self) -> list[Path]:
        """Every saved state, in round order."""
        return sorted(self.states.glob("round-*.parquet"))

    def last_round(self) -> int:
        """Index of the last finished round (-1 when none)."""
        done = self.state_files()
        return _number(done[-1]) if done else -1

    def has_work(self) -> bool:
        """Whether the folder holds finished work: a shard or a finished round."""
        return any(self.rounds.glob("round-*/shard-*.parquet")) or self.last_round() >= 0

    @property
    def releases(self) -> Path:
        """The release folders (Hub layout)."""
        return self.root / "releases"

    def release(self, name: str) -> Path:
        """The folder of release `name` (e.g. `dart-math-hard`)."""
        return self.releases / name

    @property
    def staging(self) -> Path:
        """Releases are written here, then renamed into `releases/` one by one."""
        return self.releases / ".staging"

    @property
    def regrade_work(self) -> RegradeWork:
        """What a regrade stages (a build refuses to run while it exists)."""
        return RegradeWork(self.root / ".regrade")

    def is_build(self) -> bool:
        """Whether the folder looks like a build folder."""
        return self.record.is_file() or self.rounds.is_dir()


@dataclass(frozen=True)
class EvalFolder(_Locked):
    """A `dart-hf eval` folder."""

    root: Path

    def samples(self, benchmark: str, seed: int) -> SamplingFolder:
        """The sampling shards of one benchmark and seed."""
        return SamplingFolder(self.root / "samples" / benchmark / f"seed-{seed}")

    def samples_record(self, benchmark: str, seed: int) -> Path:
        """The settings those shards were made with (beside their folder)."""
        return self.samples(benchmark, seed).path.with_suffix(".json")

    @property
    def results(self) -> Path:
        """Accuracy per benchmark, estimates, settings and provenance."""
        return self.root / "results.json"

    @property
    def results_md(self) -> Path:
        """The results as Markdown tables."""
        return self.root / "results.md"

    @property
    def predictions(self) -> Path:
        """The predictions dataset (Hub layout, one config per benchmark) with its card."""
        return self.root / "predictions"

    def prediction_files(self) -> list[Path]:
        """Every parquet file of the predictions dataset."""
        return sorted(self.predictions.glob("*/*.parquet"))

    @property
    def staging(self) -> Path:
        """Where the predictions are written before they are renamed in."""
        return self.root / ".staging" / "predictions"

    @property
    def report(self) -> Path:
        """What the last `dart-hf regrade` changed."""
        return self.root / "regrade.json"

    @property
    def regrade_work(self) -> RegradeWork:
        """What a regrade keeps across a kill."""
        return RegradeWork(self.root / ".regrade")

    def is_eval(self) -> bool:
        """Whether the folder looks like an evaluation folder."""
        return self.results.is_file() or (self.root / "samples").is_dir()
