"""Streaming readers for CSV, Parquet and JSONL: raw string batches, malformed lines rejected."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.adapters.base import ROW, Reject

BATCH_ROWS = 250_000
_BLOCK_BYTES = 16 << 20


def _csv_header(path: Path) -> list[str]:
    """Column names of a CSV file (plain or gzip), read from its first line."""
    with pa.input_stream(str(path), compression="detect") as raw:
        first = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="").readline()
    return next(csv.reader([first]), [])


def read_csv(
    path: Path, batch_rows: int = BATCH_ROWS
) -> Iterator[tuple[pd.DataFrame, list[Reject]]]:
    """Yield (frame of strings, malformed lines) per batch; every column stays a string."""
    names = _csv_header(path)
    rejects: list[Reject] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        # A line with the wrong number of fields: keep it, with why, instead of dropping it.
        reason = f"malformed line: expected {row.expected_columns} fields, got {row.actual_columns}"
        # pyarrow numbers lines from 1 with the header first: data row n is line n + 1.
        number = row.number - 1 if row.number is not None and row.number > 1 else None
        rejects.append(Reject(number, reason, row.text or ""))
        return "skip"

    reader = pacsv.open_csv(
        pa.input_stream(str(path), compression="detect"),
        read_options=pacsv.ReadOptions(block_size=_BLOCK_BYTES, use_threads=False),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            # Only an empty field is missing: 'NA' is Namibia, 'null' may be a user's name.
            null_values=[""],
            strings_can_be_null=True,
        ),
    )
    yield from _rebatch((b.to_pandas() for b in reader), rejects, batch_rows)


def _rebatch(
    frames: Iterator[pd.DataFrame], rejects: list[Reject], batch_rows: int
) -> Iterator[tuple[pd.DataFrame, list[Reject]]]:
    """Number rows as in the source (skipping rejected rows) and pass rejects on with a batch."""
    start = 1
    skipped: set[int] = set()
    for frame in frames:
        for lo in range(0, len(frame), batch_rows):
            part = frame.iloc[lo : lo + batch_rows].reset_index(drop=True)
            found = list(rejects)
            rejects.clear()
            skipped.update(r.row_number for r in found if r.row_number is not None)
            numbers = _row_numbers(start, len(part), skipped)
            part[ROW] = numbers
            start = int(numbers[-1]) + 1 if len(numbers) else start
            yield part, found
    if rejects:
        yield pd.DataFrame({ROW: pd.Series([], dtype="int64")}), list(rejects)


def _row_numbers(start: int, count: int, skipped: set[int]) -> np.ndarray:
    """The next `count` source row numbers from `start`, leaving out rejected rows."""
    ahead = sorted(n for n in skipped if n >= start)
    candidates = np.arange(start, start + count + len(ahead), dtype=np.int64)
    if ahead:
        candidates = candidates[~np.isin(candidates, ahead)]
    return candidates[:count]


def read_parquet(
    path: Path, batch_rows: int = BATCH_ROWS
) -> Iterator[tuple[pd.DataFrame, list[Reject]]]:
    """Yield Parquet row groups as frames (types kept; validation checks them)."""
    frames = (b.to_pandas() for b in pq.ParquetFile(path).iter_batches(batch_size=batch_rows))
    yield from _rebatch(frames, [], batch_rows)


def read_jsonl(
    path: Path, batch_rows: int = BATCH_ROWS
) -> Iterator[tuple[pd.DataFrame, list[Reject]]]:
    """Yield JSON Lines as frames; a line that is not a JSON object is rejected with why."""
    records: list[dict[str, object]] = []
    rejects: list[Reject] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                rejects.append(Reject(number, f"malformed JSON: {exc.msg}", line.rstrip("\n")))
                continue
            if not isinstance(obj, dict):
                rejects.append(Reject(number, "malformed JSON: not an object", line.rstrip("\n")))
                continue
            obj[ROW] = number
            records.append(obj)
            if len(records) >= batch_rows:
                yield _frame(records), rejects
                records, rejects = [], []
    if records or rejects:
        yield _frame(records), rejects


def _frame(records: list[dict[str, object]]) -> pd.DataFrame:
    """A frame from JSON records with every value but the row number as given."""
    frame = pd.DataFrame.from_records(records)
    if ROW not in frame:
        frame[ROW] = pd.Series([], dtype="int64")
    return frame


def read_table_file(
    path: Path, batch_rows: int = BATCH_ROWS
) -> Iterator[tuple[pd.DataFrame, list[Reject]]]:
    """Dispatch on the file name: .csv[.gz], .parquet, .jsonl/.ndjson."""
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz", ".tsv")):
        return read_csv(path, batch_rows)
    if name.endswith((".parquet", ".pq")):
        return read_parquet(path, batch_rows)
    if name.endswith((".jsonl", ".ndjson", ".jsonl.gz")):
        return read_jsonl(path, batch_rows)
    raise ValueError(f"{path}: unsupported file type; use .csv, .csv.gz, .parquet or .jsonl")
