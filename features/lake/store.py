"""The lake: canonical tables as Parquet under STEWARD_HOME, published atomically via a manifest.

Readers only see files listed in `_manifest.json`. An ingest writes its parts into a folder of its
own, then swaps in a new manifest with one `os.replace`; if anything fails before that, its
folder is removed and the lake is exactly as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from features.schemas import QUARANTINE_SCHEMA, TABLES
from features.storage.catalog import Catalog
from features.storage.failpoints import failpoint
from features.storage.locks import exclusive_lock
from features.storage.publish import fsync_path, replace_file

MANIFEST = "_manifest.json"
QUARANTINE = "quarantine"


class LakeError(RuntimeError):
    """The lake cannot be read as published (for example a damaged manifest)."""


def empty_manifest() -> dict[str, Any]:
    """The manifest of a lake nothing was published to."""
    return {"version": 1, "ingests": []}


def parse_manifest(text: str, where: str) -> dict[str, Any]:
    """A manifest's JSON, or LakeError naming where it was read from."""
    try:
        return dict(json.loads(text))
    except json.JSONDecodeError as exc:
        raise LakeError(f"{where} is damaged ({exc.msg}); restore it from backup") from None


def snapshot_of(manifest: dict[str, Any]) -> str:
    """A hash naming a published state: it changes exactly when the manifest does."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]


class Lake:
    """A folder of canonical Parquet tables with a manifest of what is published."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def default(cls) -> Lake:
        """The lake under STEWARD_HOME."""
        return cls(Catalog.default().lake)

    def manifest(self) -> dict[str, Any]:
        """The published manifest (an empty one for a new lake)."""
        path = self.root / MANIFEST
        if not path.exists():
            return empty_manifest()
        return parse_manifest(path.read_text(), str(path))

    def files(self, table: str) -> list[Path]:
        """Published Parquet files of one table, oldest ingest first."""
        found = [
            self.root / rel
            for ingest in self.manifest()["ingests"]
            for rel in ingest["files"].get(table, [])
        ]
        return found

    def read(self, table: str) -> pa.Table:
        """A whole table in memory: for tests and small tables, not for events at scale."""
        schema = QUARANTINE_SCHEMA if table == QUARANTINE else TABLES[table].schema
        parts = [pq.read_table(p, schema=schema) for p in self.files(table)]
        return pa.concat_tables(parts) if parts else schema.empty_table()

    def snapshot_id(self) -> str:
        """A hash naming the published state: it changes exactly when the manifest does."""
        return snapshot_of(self.manifest())

    def find_ingest(self, fingerprint: str) -> dict[str, Any] | None:
        """The published ingest of a source with this fingerprint, if any."""
        for ingest in self.manifest()["ingests"]:
            if ingest["fingerprint"] == fingerprint:
                return dict(ingest)
        return None

    @contextlib.contextmanager
    def transaction(self, source: str, fingerprint: str) -> Iterator[Transaction]:
        """Write parts aside; publish them all at once on success, remove them on failure."""
        self.root.mkdir(parents=True, exist_ok=True)
        # One writer at a time: two ingests must not both read, extend and replace the manifest.
        with exclusive_lock(self.root / ".lock"):
            self._remove_unpublished()
            txn = Transaction(self.root, source, fingerprint)
            try:
                yield txn
                txn.close()
                failpoint("lake.parts_written")
                self._publish(txn)
            except BaseException:
                txn.abort()
                raise

    def _publish(self, txn: Transaction) -> None:
        """Swap in a manifest that lists the transaction's files."""
        manifest = self.manifest()
        manifest["ingests"].append(txn.record())
        text = json.dumps(manifest, indent=1, sort_keys=True)
        replace_file(
            self.root / MANIFEST, lambda aside: aside.write_text(text), "lake.manifest_written"
        )

    def _remove_unpublished(self) -> None:
        """Remove what a killed ingest left: parts no manifest lists, manifests never swapped in.

        Called with the writer lock held, so nothing unlisted can belong to a live ingest.
        Readers never see such leftovers (they read only what the manifest lists); this only
        gives the disk space back.
        """
        for tmp in self.root.glob(f".{MANIFEST}.*.tmp"):
            tmp.unlink(missing_ok=True)
        for part in self.unpublished():
            shutil.rmtree(part, ignore_errors=True)

    def unpublished(self) -> list[Path]:
        """Ingest folders on disk that no manifest entry lists (a killed ingest's leftovers)."""
        published = {ingest["id"] for ingest in self.manifest()["ingests"]}
        return sorted(
            part
            for table in [*TABLES, QUARANTINE]
            if (self.root / table).is_dir()
            for part in (self.root / table).iterdir()
            if part.name not in published
        )


@dataclass
class Transaction:
    """The parts of one ingest, written under `<table>/<ingest id>/` until published."""

    root: Path
    source: str
    fingerprint: str
    id: str = field(
        default_factory=lambda: (
            datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        )
    )
    files: dict[str, list[str]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    _writers: dict[str, pq.ParquetWriter] = field(default_factory=dict)

    def write(self, table: str, data: pa.Table) -> None:
        """Append rows to one table of this ingest (no-op for an empty table)."""
        if data.num_rows == 0:
            return
        writer = self._writers.get(table)
        if writer is None:
            rel = f"{table}/{self.id}/part-0.parquet"
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(self.root / rel, data.schema, compression="zstd")
            self._writers[table] = writer
            self.files[table] = [rel]
        writer.write_table(data, row_group_size=1 << 20)
        self.rows[table] = self.rows.get(table, 0) + data.num_rows

    def close(self) -> None:
        """Finish every open Parquet file and flush it to disk before any manifest names it."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        for rels in self.files.values():
            for rel in rels:
                fsync_path(self.root / rel)

    def abort(self) -> None:
        """Remove everything this ingest wrote."""
        with contextlib.suppress(Exception):
            self.close()
        for table in self.files:
            shutil.rmtree(self.root / table / self.id, ignore_errors=True)
            with contextlib.suppress(OSError):
                (self.root / table).rmdir()  # only if this ingest created it and left it empty

    def record(self) -> dict[str, Any]:
        """The manifest entry of this ingest."""
        return {
            "id": self.id,
            "source": self.source,
            "fingerprint": self.fingerprint,
            "at": datetime.now(UTC).isoformat(),
            "files": self.files,
            "rows": self.rows,
            **self.info,
        }
