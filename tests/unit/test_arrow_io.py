"""Plain-read scans of Arrow-backed datasets, and parquet written from them (`dart_hf.arrow_io`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import Dataset, Features, Value, concatenate_datasets

from dart_hf import arrow_io
from dart_hf.arrow_io import write_arrow
from dart_hf.errors import DartError


def _files(tmp_path: Path, sizes: tuple[int, ...] = (1234, 777)) -> Dataset:
    """Arrow files as the build writes them (IPC streams of 1,000-row batches), concatenated."""
    parts, offset = [], 0
    for k, n in enumerate(sizes):
        ds = Dataset.from_dict(
            {
                "id": [f"q{(offset + i) % 37}" for i in range(n)],
                "response": [f"answer {offset + i} " + "y" * ((offset + i) % 91) for i in range(n)],
                "level": [(offset + i) % 6 for i in range(n)],
                "fail_rate": [None if i % 5 == 0 else i / n for i in range(n)],
            },
            features=Features(
                {
                    "id": Value("string"),
                    "response": Value("string"),
                    "level": Value("int32"),
                    "fail_rate": Value("float64"),
                }
            ),
        )
        path = tmp_path / f"part-{k}.arrow"
        write_arrow(ds, path, batch_rows=500)
        parts.append(Dataset.from_file(str(path)))
        offset += n
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def test_which_datasets_are_streamed(tmp_path: Path) -> None:
    ds = _files(tmp_path)
    assert arrow_io.mapped_files(ds) == [
        str(tmp_path / "part-0.arrow"),
        str(tmp_path / "part-1.arrow"),
    ]
    assert arrow_io.mapped_files(ds.select(range(10))) is None  # an indices mapping
    assert arrow_io.mapped_files(ds.rename_column("level", "lvl")) is None  # a replayed edit
    assert arrow_io.mapped_files(ds.add_column("x", list(range(len(ds))))) is None
    assert arrow_io.mapped_files(Dataset.from_dict({"a": [1]})) is None  # in memory
    assert arrow_io.mapped_files(ds.select_columns(["id", "response"])) is None


def test_file_batches_cover_every_row_once(tmp_path: Path) -> None:
    ds = _files(tmp_path)
    rows = [r for b in arrow_io.file_batches(ds) for r in b.to_pylist()]
    assert rows == ds.to_list()
    memory = Dataset.from_dict({"a": list(range(2500))})
    assert [b.num_rows for b in arrow_io.file_batches(memory)] == [1000, 1000, 500]
    with pytest.raises(DartError, match="indices mapping"):
        list(arrow_io.file_batches(ds.select([3, 1])))


def test_row_tables(tmp_path: Path) -> None:
    ds = _files(tmp_path)
    tables = list(arrow_io.row_tables(ds, 900, 2011, 400))
    assert [t.num_rows for t in tables] == [400, 400, 311]
    assert [r for t in tables for r in t.to_pylist()] == ds.select(range(900, 2011)).to_list()
    assert list(arrow_io.row_tables(ds, 5, 5, 400)) == []


@pytest.mark.parametrize(("start", "end", "batch_size"), [(0, 2011, 1000), (300, 1800, 333), (7, 7, 10)])
def test_parquet_is_byte_identical_to_to_parquet(
    tmp_path: Path, start: int, end: int, batch_size: int
) -> None:
    ds = _files(tmp_path)
    ours, theirs = tmp_path / "ours.parquet", tmp_path / "theirs.parquet"
    arrow_io.write_parquet(ds, ours, start=start, end=end, batch_size=batch_size)
    ds.select(range(start, end)).to_parquet(str(theirs), batch_size=batch_size)
    assert ours.read_bytes() == theirs.read_bytes()


def test_staged_shards_are_the_same_streamed_or_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`write_hub_folder` streams Arrow-backed data of several row groups; the staged folder is
    byte-identical to the `Dataset.shard(...).to_parquet` path it takes for other data."""
    from dart_hf.hub import folder as hub

    ds = _files(tmp_path)
    calls: list[tuple[int, int]] = []

    def spy(data: Dataset, path: Path, *, start: int, end: int, batch_size: int) -> None:
        calls.append((start, end))
        arrow_io.write_parquet(data, path, start=start, end=end, batch_size=batch_size)

    monkeypatch.setattr(hub, "write_parquet", spy)
    monkeypatch.setattr(hub, "get_writer_batch_size_from_features", lambda _: 150)
    hub.write_hub_folder({"default": ds}, tmp_path / "streamed", max_shard_bytes=40_000)
    assert calls[0][0] == 0 and calls[-1][1] == len(ds)  # every shard was streamed
    monkeypatch.setattr(hub, "mapped_files", lambda _: None)
    hub.write_hub_folder({"default": ds}, tmp_path / "plain", max_shard_bytes=40_000)
    streamed, plain = (
        {p: (tmp_path / name / p).read_bytes() for p in hub.staged_files(tmp_path / name)}
        for name in ("streamed", "plain")
    )
    assert len([p for p in streamed if p.endswith(".parquet")]) > 3
    assert streamed == plain


def test_graded_files_are_written_in_batches_of_about_4_mb(tmp_path: Path) -> None:
    """Opening an Arrow file maps ~64 KB at each batch header, so the build's files use
    ~4 MB batches rather than 1,000 rows (10 MB of 1 KB rows: 3 batches, not 10)."""
    from dart_hf.arrow_io import ARROW_BATCH_BYTES, arrow_batch_rows

    ds = Dataset.from_dict({"response": ["z" * 1020] * 10_000})
    rows = arrow_batch_rows(ds.data.table)
    assert rows * 1024 <= ARROW_BATCH_BYTES < (rows + 1) * 1024 + 1024
    write_arrow(ds, tmp_path / "graded.arrow")
    written = Dataset.from_file(str(tmp_path / "graded.arrow"))
    assert [b.num_rows for b in arrow_io.file_batches(written)] == [rows, rows, 10_000 - 2 * rows]
    assert written["response"] == ds["response"]
    assert arrow_batch_rows(ds.data.table.slice(0, 0)) >= 1
