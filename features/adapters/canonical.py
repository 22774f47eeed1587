"""steward's own export format: a folder of `<table>.parquet` files in canonical columns."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from features.adapters.base import RawBatch, hash_files
from features.adapters.generic import GenericSource
from features.adapters.readers import BATCH_ROWS
from features.schemas import TABLES


@dataclass
class CanonicalFolderSource:
    """Every `<table>.parquet` in a folder, already in canonical column names."""

    folder: Path
    name: str = "canonical"
    batch_rows: int = BATCH_ROWS

    def _files(self) -> dict[str, Path]:
        found = {t: self.folder / f"{t}.parquet" for t in TABLES}
        found = {t: p for t, p in found.items() if p.exists()}
        if not found:
            raise FileNotFoundError(
                f"{self.folder}: no <table>.parquet files ({', '.join(TABLES)})"
            )
        return found

    def fingerprint(self) -> str:
        """Content hash of the folder's table files."""
        return hash_files(self._files().values(), self.name)

    def batches(self) -> Iterator[RawBatch]:
        """Each table file in turn, validated like any other source."""
        for table, path in self._files().items():
            identity = {c: c for c in TABLES[table].names}
            yield from GenericSource(path, table, identity, batch_rows=self.batch_rows).batches()
