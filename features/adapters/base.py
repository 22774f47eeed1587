"""What every adapter yields: raw batches in canonical column names, plus rows it could not parse."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd

ROW = "_row"  # the row's number in its source file (1-based data row), kept for quarantine
# A column of `RawBatch.original` holding each source row as a dict of what the file said
# (an XML row's attributes): quarantine writes it as the row's JSON, only for refused rows.
SOURCE_ROW = "_source_row"


@dataclass(frozen=True)
class Reject:
    """A source row an adapter could not turn into a canonical row, with why."""

    row_number: int | None
    reason: str
    raw: str


@dataclass(frozen=True)
class SourceFile:
    """A file in a source's folder: read into the lake, or skipped and why."""

    name: str
    read: bool
    why: str  # what it feeds, or why it is skipped


@dataclass
class RawBatch:
    """Rows for one canonical table, still as raw values; validation types them."""

    table: str
    origin: str  # file (or file:part) the rows came from, for the quarantine record
    frame: pd.DataFrame  # canonical column names (any subset) plus ROW
    rejects: list[Reject] = field(default_factory=list)
    # The rows as read, before renaming, index-aligned with `frame`: quarantine keeps these.
    original: pd.DataFrame | None = None
    # Source rows left out on purpose (a system account's activity), by reason: counted, not
    # quarantined, since nothing is wrong with them.
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def read(self) -> int:
        """Rows read from the source for this batch: parsed, rejected and excluded."""
        return len(self.frame) + len(self.rejects) + sum(self.excluded.values())


class Source(Protocol):
    """A source of community data that ingest can read."""

    name: str  # the adapter's name, e.g. "stackexchange"

    def fingerprint(self) -> str:
        """A stable hash of the source's content and of how it is mapped."""
        ...

    def batches(self) -> Iterator[RawBatch]:
        """Yield raw batches, streaming: memory stays bounded whatever the source size."""
        ...


def hash_files(paths: Iterable[Path], extra: str = "") -> str:
    """Hash file contents (streamed) plus a description of the mapping into one hex digest."""
    digest = hashlib.sha256(extra.encode())
    for path in sorted(paths):
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
