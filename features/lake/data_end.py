"""The default data end: the last day on which every table of the lake is complete.

Each table that churn labels read has a last day: events their latest event, subscriptions
their latest start (end dates may be scheduled ahead, so they say nothing about when the export
was taken). A label needs every table up to the day it looks at, so the default data end is
the earliest of those last days; tables that end on different days are worth a warning, since
a later table's last days are left out of the labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# Table -> the timestamp column whose latest day is the table's last day.
LAST_DAY_COLUMNS: dict[str, str] = {"events": "ts", "subscriptions": "start_at"}


@dataclass(frozen=True)
class DataEnd:
    """The chosen data end, each table's last day, and why."""

    day: date | None
    last_days: dict[str, date] = field(default_factory=dict)

    @property
    def uneven(self) -> bool:
        """True when the tables end on different days."""
        return len(set(self.last_days.values())) > 1

    def explain(self) -> str:
        """One line: the day and where it comes from."""
        if self.day is None:
            return "no data end: the lake has no events"
        ends = ", ".join(f"{t} {d}" for t, d in sorted(self.last_days.items()))
        return f"data end {self.day}: the earliest of the tables' last days ({ends})"

    def warning(self) -> str | None:
        """A warning naming the tables that end later than the data end, or None."""
        if self.day is None or not self.uneven:
            return None
        later = [f"{t} ({d})" for t, d in sorted(self.last_days.items()) if d > self.day]
        return (
            f"tables end on different days: {', '.join(later)} end after {self.day}; labels stop "
            f"at {self.day} (give --data-end to choose another day)"
        )


def _to_day(value: object) -> date | None:
    """A timestamp or date scalar's UTC day."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).date()
    if isinstance(value, date):
        return value
    return None


def last_day(files: Sequence[Path], column: str) -> date | None:
    """The latest day of a timestamp column over Parquet files (row-group statistics first)."""
    latest: date | None = None
    for path in files:
        found = _file_max(Path(path), column)
        if found is not None and (latest is None or found > latest):
            latest = found
    return latest


def _file_max(path: Path, column: str) -> date | None:
    """One file's latest day of column: from its statistics when every row group has them."""
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if column not in names:
        return None
    index = names.index(column)
    days: list[date] = []
    for g in range(meta.num_row_groups):
        chunk = meta.row_group(g).column(index)
        stats = chunk.statistics
        if chunk.num_values == 0:
            continue
        if stats is None or not stats.has_min_max:
            return _read_max(path, column)
        day = _to_day(stats.max)
        if day is None:
            return _read_max(path, column)
        days.append(day)
    return max(days) if days else None


def _read_max(path: Path, column: str) -> date | None:
    """The column's maximum read from the data (files written without statistics)."""
    values = pq.read_table(path, columns=[column]).column(column)
    if not isinstance(values.type, pa.TimestampType) or len(values) == 0:
        return None
    return _to_day(pc.max(values).as_py())


def data_end_of(files: dict[str, Sequence[Path]]) -> DataEnd:
    """The earliest last day of the tables that have rows (files: table -> Parquet files)."""
    last_days = {}
    for table, column in LAST_DAY_COLUMNS.items():
        day = last_day(files.get(table, ()), column)
        if day is not None:
            last_days[table] = day
    if "events" not in last_days:
        return DataEnd(None, last_days)
    return DataEnd(min(last_days.values()), last_days)
