"""The generic adapter: one CSV, Parquet or JSONL file mapped onto one canonical table."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from features.adapters.base import ROW, RawBatch, hash_files
from features.adapters.readers import BATCH_ROWS, read_table_file
from features.schemas import TABLES


@dataclass
class GenericSource:
    """A file whose columns map onto a canonical table: `mapping` is canonical -> source name."""

    path: Path
    table: str
    mapping: Mapping[str, str] = field(default_factory=dict)
    event_types: Mapping[str, str] = field(default_factory=dict)  # source value -> canonical
    batch_rows: int = BATCH_ROWS
    name: str = "generic"

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
        spec = json.dumps([self.table, dict(self.mapping), dict(self.event_types)], sort_keys=True)
        return hash_files([self.path], spec)

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
            if self.event_types and "event_type" in out:
                out["event_type"] = out["event_type"].map(lambda v: self.event_types.get(v, v))
            yield RawBatch(
                self.table, self.path.name, out, rejects, original=frame.drop(columns=ROW)
            )
