"""Ingest: read a source, validate every row, publish kept and quarantined rows atomically."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from features.adapters.base import Source, SourceFile
from features.lake.store import QUARANTINE, Lake
from features.lake.validate import validate_batch


@dataclass
class IngestReport:
    """What one ingest read, kept and quarantined (by table and reason)."""

    source: str
    fingerprint: str
    ingest_id: str | None = None
    already_ingested: bool = False
    read: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Source rows left out on purpose (a system account's activity), by table and reason.
    excluded: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Every file of the source's folder: read, or skipped and why.
    files: list[SourceFile] = field(default_factory=list)
    # event_type values quarantined as unknown, by rows: the names to map.
    unknown_event_types: Counter[str] = field(default_factory=Counter)
    # Already ingested: the manifest entry of the ingest that holds this source (its counts).
    earlier: dict[str, Any] | None = None
    # Custom event types that several source names became (generic --custom-events).
    merged_names: list[str] = field(default_factory=list)

    def quarantined_in(self, table: str) -> int:
        """Rows of one table that went to quarantine."""
        return sum(n for (t, _), n in self.quarantined.items() if t == table)

    def excluded_in(self, table: str) -> int:
        """Rows of one table left out on purpose."""
        return sum(n for (t, _), n in self.excluded.items() if t == table)

    def reconciles(self) -> bool:
        """read = kept + quarantined + excluded for every table."""
        return all(
            self.read[t] == self.kept[t] + self.quarantined_in(t) + self.excluded_in(t)
            for t in self.read
        )


class ReconciliationError(RuntimeError):
    """Rows were lost between reading and writing: never publish such an ingest."""


def ingest_source(lake: Lake, source: Source) -> IngestReport:
    """Validate and publish a source; a source already ingested adds nothing."""
    fingerprint = source.fingerprint()
    report = IngestReport(source.name, fingerprint)
    inventory = getattr(source, "inventory", None)  # adapters that read a folder say what of it
    if inventory is not None:
        report.files = list(inventory())
    previous = lake.find_ingest(fingerprint)
    if previous is None:
        try:
            _ingest_into(lake, source, report)
            return report
        except _AlreadyIngested as found:
            previous = found.entry  # published by the other ingest while this one waited
    report.ingest_id, report.already_ingested, report.earlier = previous["id"], True, previous
    return report


class _AlreadyIngested(Exception):
    """Another ingest of the same source published while this one waited for the lock."""

    def __init__(self, entry: dict[str, Any]) -> None:
        super().__init__(entry["id"])
        self.entry = entry  # its manifest entry, as read under the lock


def _ingest_into(lake: Lake, source: Source, report: IngestReport) -> None:
    """Validate every batch into one transaction; publish it only if the counts reconcile."""
    with lake.transaction(source.name, report.fingerprint) as txn:
        # Checked again under the writer lock: two ingests of one file started together must
        # not both publish it (the check above only spares the work in the common case).
        previous = lake.find_ingest(report.fingerprint)
        if previous is not None:
            raise _AlreadyIngested(previous)
        for batch in source.batches():
            checked = validate_batch(batch, source.name)
            report.read[batch.table] += batch.read
            report.kept[batch.table] += checked.kept.num_rows
            for reason in checked.quarantined.column("reason").to_pylist():
                report.quarantined[(batch.table, reason)] += 1
            report.unknown_event_types.update(checked.unknown_events)
            for reason, n in batch.excluded.items():
                report.excluded[(batch.table, reason)] += n
            txn.write(batch.table, checked.kept)
            txn.write(QUARANTINE, checked.quarantined)
        if not report.reconciles():
            raise ReconciliationError(f"counts do not reconcile for {source.name}: {report}")
        merged = getattr(source, "merged_names", None)  # adapters that clean names into types
        report.merged_names = list(merged()) if merged is not None else []
        txn.info = {
            "read": dict(report.read),
            "kept": dict(report.kept),
            "quarantined": {f"{t}: {r}": n for (t, r), n in report.quarantined.items()},
            "excluded": {f"{t}: {r}": n for (t, r), n in report.excluded.items()},
            "source_files": [{"name": f.name, "read": f.read, "why": f.why} for f in report.files],
            "unknown_event_types": dict(report.unknown_event_types.most_common()),
            "merged_names": report.merged_names,
        }
        report.ingest_id = txn.id
