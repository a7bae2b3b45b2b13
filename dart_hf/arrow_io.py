"""Scanning the Arrow files behind a dataset with plain reads, writing parquet from them, and
writing the graded Arrow files (`write_arrow`, in ~4 MB record batches).

A `datasets.Dataset` read from Arrow files is memory-mapped: every page a scan touches stays
resident, and counted in the process's RSS, until the mapping closes. For one pass over a pool
of millions of samples (assembly, staging the pool release) plain file reads keep one record
batch, or one parquet row group, in memory at a time. Parquet written here is byte-identical
to `Dataset.to_parquet`; it only pays when a file holds several row groups (a row group of up
to ~100 MB is buffered whole either way).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset

from dart_hf.errors import DartError
from dart_hf.outputs import disk_full


def mapped_files(ds: Dataset) -> list[str] | None:
    """The Arrow files whose rows, in order, are exactly `ds`; None when `ds` is anything else
    (in memory, an indices mapping, renamed/cast/added columns, side-by-side concatenation)."""
    from datasets.table import ConcatenationTable, MemoryMappedTable

    if ds._indices is not None:
        return None
    table = ds.data
    if isinstance(table, MemoryMappedTable):
        blocks = [table]
    elif isinstance(table, ConcatenationTable) and all(len(row) == 1 for row in table.blocks):
        blocks = [row[0] for row in table.blocks]
    else:
        return None
    # a replayed edit (rename, cast, ...) makes the files differ from the data, except for
    # the schema metadata that concatenation rewrites
    harmless = {"replace_schema_metadata"}
    if not all(isinstance(b, MemoryMappedTable) and all(r[0] in harmless for r in b.replays) for b in blocks):
        return None
    if any(b.column_names != ds.column_names for b in blocks):
        return None
    return [b.path for b in blocks]


def file_batches(ds: Dataset, batch_rows: int = 1000) -> Iterator[pa.RecordBatch]:
    """The dataset's record batches in row order: plain reads of its Arrow files when it is
    exactly those files (`mapped_files`), else the in-memory table's batches (of at most
    `batch_rows` rows)."""
    files = mapped_files(ds)
    if files is None:
        if ds._indices is not None:
            raise DartError("file_batches needs a dataset without an indices mapping")
        yield from ds.data.table.to_batches(max_chunksize=batch_rows)
        return
    rows = 0
    for name in files:
        with pa.OSFile(name) as src:
            for batch in pa.ipc.open_stream(src):
                rows += batch.num_rows
                yield batch
    if rows != len(ds):
        raise DartError(f"the dataset's Arrow files hold {rows} rows, the dataset {len(ds)}")


def row_tables(ds: Dataset, start: int, end: int, size: int) -> Iterator[pa.Table]:
    """Rows [start, end) of a dataset as tables of `size` rows (the last may be shorter)."""
    offset, buffered, held = 0, [], 0
    for batch in file_batches(ds):
        lo, hi = max(start - offset, 0), min(end - offset, batch.num_rows)
        offset += batch.num_rows
        if hi > lo:
            buffered.append(batch.slice(lo, hi - lo))
            held += hi - lo
            while held >= size:
                table = pa.Table.from_batches(buffered)
                yield table.slice(0, size)
                rest = table.slice(size)
                buffered, held = rest.to_batches(), rest.num_rows
        if offset >= end:
            break
    if held:
        yield pa.Table.from_batches(buffered)


def write_parquet(ds: Dataset, path: str | Path, *, start: int, end: int, batch_size: int) -> None:
    """Write rows [start, end) of an Arrow-file-backed dataset (`mapped_files`) exactly as
    `ds.select(range(start, end)).to_parquet(path, batch_size=batch_size)` writes them (same
    bytes: one row group per `batch_size` rows), holding one row group in memory at a time."""
    from datasets import config as ds_config
    from datasets.arrow_writer import get_parquet_column_options

    schema = ds.features.arrow_schema
    cdc = ds_config.DEFAULT_CDC_OPTIONS
    writer = pq.ParquetWriter(
        os.fspath(path),
        schema=schema,
        use_content_defined_chunking=cdc,
        write_page_index=True,
        **get_parquet_column_options(ds.features, schema),
    )
    try:
        for table in row_tables(ds, start, end, batch_size):
            writer.write_table(table)
        writer.add_key_value_metadata({"content_defined_chunking": json.dumps(cdc)})
    finally:
        writer.close()


ARROW_BATCH_BYTES = 4 * 1024**2
"""Target size of a record batch in the graded Arrow files. Opening a file maps in about 64 KB
(the kernel's fault-around) at each batch header, so 1,000-row batches of a million samples
kept ~64 MB of the pool resident; 4 MB batches keep ~1.6% of it."""


def arrow_batch_rows(table: pa.Table, target_bytes: int = ARROW_BATCH_BYTES) -> int:
    """Rows per record batch so that a batch holds about `target_bytes`."""
    per_row = table.nbytes / table.num_rows if table.num_rows else 1.0
    rows = max(1, min(1 << 16, int(target_bytes / max(per_row, 1.0))))
    # a multiple of 256: the same rows held in other chunks (a few bytes of buffers more or
    # less) give the same batches
    return rows - rows % 256 if rows > 256 else rows


def write_arrow(ds: Dataset, path: Path, batch_rows: int | None = None) -> None:
    """Write a dataset as an Arrow IPC stream (atomically), in ~4 MB record batches
    (`batch_rows` rows each when given).

    The batches are row ranges of the table whatever its chunks, so the same rows give the
    same file however they were produced (one map over a round, or its shards graded one by
    one and concatenated)."""
    if ds._indices is not None:
        ds = ds.flatten_indices()
    tmp = path.with_name(path.name + ".tmp")
    table = ds.data.table
    batch_rows = batch_rows or arrow_batch_rows(table)
    with disk_full(path, tmp):
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            for start in range(0, table.num_rows, batch_rows):
                part = table.slice(start, batch_rows)
                if any(col.num_chunks > 1 for col in part.columns):
                    part = part.combine_chunks()
                for batch in part.to_batches():
                    writer.write_batch(batch)
        tmp.replace(path)
