"""Streaming readers for CSV, Parquet and JSONL: raw string batches, malformed lines rejected."""

from __future__ import annotations

import csv
import gzip
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
# A row whose bytes are not UTF-8 travels to _rebatch with its reason in this column, so it
# is quarantined under its own row number instead of failing the whole file.
_REJECT = "__steward_reject__"


def _csv_header(path: Path) -> list[str]:
    """Column names of a CSV file (plain or gzip), read from its first line."""
    with pa.input_stream(str(path), compression="detect") as raw:
        # Bytes up to the first newline: the rows after it may hold bytes that are not UTF-8.
        first = b""
        while b"\n" not in first and len(first) < _BLOCK_BYTES:
            chunk = raw.read(64 << 10)
            if not chunk:
                break
            first += chunk
        first = first.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path.name}: the header line is not UTF-8 (byte {exc.start})") from None
    return next(csv.reader([text]), [])


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
            # Bytes, not strings: one cell that is not UTF-8 must not fail the whole block.
            column_types={n: pa.binary() for n in names},
            # Only an empty field is missing: 'NA' is Namibia, 'null' may be a user's name.
            null_values=[""],
            strings_can_be_null=True,
        ),
    )
    yield from _rebatch((_decode(b) for b in reader), rejects, batch_rows)


def _decode(batch: pa.RecordBatch) -> pd.DataFrame:
    """A batch of byte columns as strings; rows that are not UTF-8 carry why in _REJECT."""
    target = pa.schema([(name, pa.string()) for name in batch.schema.names])
    try:
        return batch.cast(target).to_pandas()  # validates UTF-8: the fast path for clean files
    except pa.ArrowInvalid:
        return _decode_by_cell(batch)


def _decode_by_cell(batch: pa.RecordBatch) -> pd.DataFrame:
    """The slow path for a batch with bad bytes: decode cell by cell, marking the bad rows."""
    reasons: list[str | None] = [None] * batch.num_rows
    columns: dict[str, list[str | None]] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        cells: list[str | None] = []
        for i, value in enumerate(column.to_pylist()):
            if value is None:
                cells.append(None)
                continue
            try:
                cells.append(value.decode("utf-8"))
            except UnicodeDecodeError as exc:
                reasons[i] = reasons[i] or f"not valid UTF-8 in {name} (byte {exc.start})"
                cells.append(value.decode("utf-8", "backslashreplace"))  # keeps the bytes visible
        columns[name] = cells
    frame = pd.DataFrame(columns, dtype=object)
    frame[_REJECT] = reasons
    return frame


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
            if _REJECT in part:
                part, found = _split_rejects(part, found)
            yield part, found
    if rejects:
        yield pd.DataFrame({ROW: pd.Series([], dtype="int64")}), list(rejects)


def _split_rejects(part: pd.DataFrame, found: list[Reject]) -> tuple[pd.DataFrame, list[Reject]]:
    """Move rows marked in _REJECT out of the frame into rejects, with their row numbers."""
    bad = part[_REJECT].notna().to_numpy()
    cells = part.drop(columns=[_REJECT, ROW])
    for i in np.flatnonzero(bad):
        line = io.StringIO()
        csv.writer(line).writerow(["" if v is None else v for v in cells.iloc[i]])
        found.append(
            Reject(int(part[ROW].iloc[i]), part[_REJECT].iloc[i], line.getvalue().rstrip())
        )
    kept = part[~bad].drop(columns=_REJECT).reset_index(drop=True)
    return kept, found


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
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            obj = _json_object(raw)
            if isinstance(obj, Reject):
                rejects.append(Reject(number, obj.reason, obj.raw))
                continue
            obj[ROW] = number
            records.append(obj)
            if len(records) >= batch_rows:
                yield _frame(records), rejects
                records, rejects = [], []
    if records or rejects:
        yield _frame(records), rejects


def _json_object(raw: bytes) -> dict[str, object] | Reject:
    """One JSON Lines record, or a Reject (numbered by the caller) saying why it is not one."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = raw.decode("utf-8", "backslashreplace").rstrip("\r\n")
        return Reject(None, f"not valid UTF-8 (byte {exc.start})", text)
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return Reject(None, f"malformed JSON: {exc.msg}", line.rstrip("\r\n"))
    except RecursionError:  # hostile nesting: json recurses once per level
        return Reject(None, "malformed JSON: nested too deeply", line.rstrip("\r\n"))
    if not isinstance(obj, dict):
        return Reject(None, "malformed JSON: not an object", line.rstrip("\r\n"))
    return obj


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
