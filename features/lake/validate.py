"""Validation of raw batches: type the rows that fit the canonical model, quarantine the rest."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from features.adapters.base import ROW, SOURCE_ROW, RawBatch
from features.schemas import (
    EVENT_TYPES,
    QUARANTINE_SCHEMA,
    TABLES,
    TS,
    Column,
    Table,
    is_custom_event,
)

_KNOWN_EVENTS = frozenset(EVENT_TYPES)
# What a person can do about it is in the reason: a kind of action of their own is x_<name>.
UNKNOWN_EVENT = "unknown event_type (a type of your own is named x_<name>)"


@dataclass
class Checked:
    """The outcome of validating one batch: typed rows and quarantined rows."""

    kept: pa.Table
    quarantined: pa.Table
    # event_type values quarantined as unknown, with their row counts: what to map.
    unknown_events: dict[str, int]


def validate_batch(batch: RawBatch, source: str) -> Checked:
    """Split a raw batch into canonical rows and quarantined rows, each with its reason."""
    table = TABLES[batch.table]
    frame = batch.frame
    reasons = pd.Series(pd.NA, index=frame.index, dtype="object")
    typed: dict[str, pd.Series] = {}
    for column in table.columns:
        values, problems = _check_column(frame, column, table)
        typed[column.name] = values
        # The first problem in column order names the row's reason.
        reasons = reasons.where(reasons.notna(), problems)
    bad = reasons.notna().to_numpy()
    kept = _to_arrow(table, {k: v[~bad] for k, v in typed.items()})
    quarantined = _quarantine(batch, source, frame[bad], reasons[bad])
    unknown: dict[str, int] = {}
    if batch.table == "events":
        names = typed["event_type"][(reasons == UNKNOWN_EVENT).fillna(False)]
        unknown = {str(k): int(n) for k, n in names.value_counts().items()}
    return Checked(kept, quarantined, unknown)


def _check_column(frame: pd.DataFrame, column: Column, table: Table) -> tuple[pd.Series, pd.Series]:
    """Typed values of one column and, per row, the problem found (or NA)."""
    raw = (
        frame[column.name]
        if column.name in frame
        else pd.Series(None, index=frame.index, dtype="object")
    )
    missing = _missing(raw)
    problems = pd.Series(pd.NA, index=frame.index, dtype="object")
    if column.required:
        problems[missing] = f"missing {column.name}"
    if column.type == TS:
        values = _to_timestamp(raw)
        problems[(~missing) & values.isna()] = f"bad timestamp in {column.name}"
    elif pa.types.is_floating(column.type):
        values = pd.to_numeric(raw.where(~missing), errors="coerce").astype("float64")
        problems[(~missing) & values.isna()] = f"{column.name} is not a number"
    else:
        values = _to_string(raw).where(~missing, None)
        if table.name == "events" and column.name == "event_type":
            problems[(~missing) & ~_known_event(values)] = UNKNOWN_EVENT
    return values, problems


def _known_event(values: pd.Series) -> pd.Series:
    """Whether each event type is canonical or custom; the column's few names checked once."""
    names = values.dropna().unique()
    known = {n for n in names if n in _KNOWN_EVENTS or is_custom_event(str(n))}
    return values.isin(known)


def _missing(raw: pd.Series) -> pd.Series:
    """Rows with no value: null, or (for text) empty after stripping blanks."""
    if pd.api.types.is_datetime64_any_dtype(raw) or pd.api.types.is_numeric_dtype(raw):
        # Typed values are never blank text: formatting them as strings to find out cost
        # three quarters of ingest time (10M timestamps formatted one by one).
        return raw.isna()
    return raw.isna() | (raw.astype("string").str.strip() == "").fillna(True)


def _to_string(raw: pd.Series) -> pd.Series:
    """Strings as given; whole floats such as 12.0 (ids read by a typed reader) as '12'."""
    if pd.api.types.is_float_dtype(raw):
        as_int = raw.where(raw.isna() | (raw % 1 != 0), raw.astype("Int64", errors="ignore"))
        return as_int.astype("string").astype("object")
    stripped = raw.astype("string").str.strip()
    # Text already in Arrow stays there (Python string objects cost a third of ingest time).
    return stripped if _in_arrow(stripped) else stripped.astype("object")


def _in_arrow(values: pd.Series) -> bool:
    """Whether a Series holds its text in an Arrow array."""
    return isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"


def _to_timestamp(raw: pd.Series) -> pd.Series:
    """UTC timestamps; naive values are read as UTC; unparseable values become NaT."""
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(raw):
        return raw.dt.tz_localize("UTC")
    text = raw.astype("string").str.strip()
    return pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")


def _to_arrow(table: Table, columns: dict[str, pd.Series]) -> pa.Table:
    """An Arrow table with the canonical schema exactly."""
    arrays = []
    for column in table.columns:
        values = columns[column.name]
        if column.type == TS:
            arr = pa.array(values.dt.as_unit("us"), type=TS, from_pandas=True)
        elif pa.types.is_floating(column.type):
            arr = pa.array(
                values.to_numpy(dtype=np.float64, na_value=np.nan),
                type=column.type,
                from_pandas=True,
            )
        elif _in_arrow(values):
            arr = pa.array(values, from_pandas=True).cast(column.type)
        else:
            arr = pa.array(values.to_numpy(dtype=object), type=column.type, from_pandas=True)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=table.schema)


def _quarantine(batch: RawBatch, source: str, bad: pd.DataFrame, reasons: pd.Series) -> pa.Table:
    """Quarantine rows: the rows validation refused plus those the adapter could not parse."""
    source_rows = batch.original.loc[bad.index] if batch.original is not None else bad
    raws: list[str]
    if SOURCE_ROW in source_rows.columns:
        # The row as the file wrote it (an XML row's attributes), not as it was mapped.
        raws = [json.dumps(r, ensure_ascii=False) for r in source_rows[SOURCE_ROW]]
    else:
        raw_cols = [c for c in source_rows.columns if c != ROW]
        raws = (
            source_rows[raw_cols]
            .to_json(orient="records", lines=True, date_format="iso")
            .splitlines()
            if len(bad)
            else []
        )
    rows: list[int | None] = [int(n) for n in bad[ROW]] if ROW in bad else [None] * len(bad)
    rows += [r.row_number for r in batch.rejects]
    texts = list(reasons.astype(str)) + [r.reason for r in batch.rejects]
    raws += [r.raw for r in batch.rejects]
    n = len(texts)
    return pa.Table.from_pydict(
        {
            "table": [batch.table] * n,
            "source": [f"{source}:{batch.origin}"] * n,
            "row_number": rows,
            "reason": texts,
            "raw": raws,
        },
        schema=QUARANTINE_SCHEMA,
    )
