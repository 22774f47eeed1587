"""The generic adapter: one CSV, Parquet or JSONL file mapped onto one canonical table."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from features.adapters.base import ROW, RawBatch, hash_files
from features.adapters.readers import BATCH_ROWS, read_table_file
from features.schemas import EVENT_TYPES, TABLES, custom_event_name


@dataclass
class GenericSource:
    """A file whose columns map onto a canonical table: `mapping` is canonical -> source name."""

    path: Path
    table: str
    mapping: Mapping[str, str] = field(default_factory=dict)
    event_types: Mapping[str, str] = field(default_factory=dict)  # source value -> canonical
    # Keep every other event type as a custom one (quest_done -> x_quest_done) instead of
    # quarantining it: for a product whose own kinds of action steward has no type for.
    custom_events: bool = False
    batch_rows: int = BATCH_ROWS
    name: str = "generic"
    # Custom type -> the source names read as it, so that two names cleaned into one type
    # ("Page View", "page_view") are reported (filled while reading).
    _custom_names: dict[str, set[str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.table not in TABLES:
            raise ValueError(f"unknown table {self.table!r}; choose one of {sorted(TABLES)}")
        unknown = set(self.mapping) - set(TABLES[self.table].names)
        if unknown:
            raise ValueError(
                f"mapping names columns {sorted(unknown)} that table {self.table!r} does not have; "
                f"its columns are {TABLES[self.table].names}"
            )

    def fingerprint(self) -> str:
        """Content hash of the file plus the mapping, so a new mapping re-reads the file."""
        mapped = [self.table, dict(self.mapping), dict(self.event_types), self.custom_events]
        spec = json.dumps(mapped, sort_keys=True)
        return hash_files([self.path], spec)

    def _event_type(self, value: object) -> object:
        """A source event type as mapped: --event-type first, then (custom_events) any name
        steward has no type for as x_<name>; anything else (empty, a number) as read."""
        value = self.event_types.get(value, value)  # type: ignore[call-overload]
        if not self.custom_events or not isinstance(value, str) or value in EVENT_TYPES:
            return value
        custom = custom_event_name(value)
        self._custom_names.setdefault(custom, set()).add(value)
        return custom

    def merged_names(self) -> list[str]:
        """After reading: each custom type that more than one source name became."""
        return [
            f"{custom} holds {len(names)} source names: {', '.join(map(repr, sorted(names)))}"
            for custom, names in sorted(self._custom_names.items())
            if len(names) > 1
        ]

    @property
    def _schemaless(self) -> bool:
        return self.path.name.lower().endswith((".jsonl", ".ndjson", ".jsonl.gz"))

    def batches(self) -> Iterator[RawBatch]:
        """Read the file in batches and rename its columns to canonical names."""
        rename = {src: canon for canon, src in self.mapping.items()}
        for frame, rejects in read_table_file(self.path, self.batch_rows):
            missing = [src for src in rename if src not in frame.columns]
            # JSON Lines records may leave a key out; a CSV or Parquet header must have it.
            if missing and len(frame) and not self._schemaless:
                raise ValueError(f"{self.path.name}: mapped columns {missing} are not in the file")
            out = frame.rename(columns=rename)
            keep = [c for c in TABLES[self.table].names if c in out.columns]
            out = out[[*keep, ROW]]
            if (self.event_types or self.custom_events) and "event_type" in out:
                out["event_type"] = out["event_type"].map(self._event_type)
            yield RawBatch(
                self.table, self.path.name, out, rejects, original=frame.drop(columns=ROW)
            )
