"""What every adapter yields: raw batches in canonical column names, plus rows it could not parse."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd

ROW = "_row"  # the row's number in its source file (1-based data row), kept for quarantine


@dataclass(frozen=True)
class Reject:
    """A source row an adapter could not turn into a canonical row, with why."""

    row_number: int | None
    reason: str
    raw: str


@dataclass
class RawBatch:
    """Rows for one canonical table, still as raw values; validation types them."""

    table: str
    origin: str  # file (or file:part) the rows came from, for the quarantine record
    frame: pd.DataFrame  # canonical column names (any subset) plus ROW
    rejects: list[Reject] = field(default_factory=list)
    # The rows as read, before renaming, index-aligned with `frame`: quarantine keeps these.
    original: pd.DataFrame | None = None

    @property
    def read(self) -> int:
        """Rows read from the source for this batch: parsed plus rejected."""
        return len(self.frame) + len(self.rejects)


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
