"""Rich tables for what the pipelines return: people read these, so keep them plain."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from features.members.build import FeatureBuildReport
from pipelines.ingest import IngestReport


def ingest_table(report: IngestReport) -> Table:
    """Kept and quarantined counts by table and reason for one ingest."""
    title = f"ingest {report.source} ({report.ingest_id})"
    if report.already_ingested:
        title += ": already ingested, nothing added"
    table = Table(title=title)
    for name in ("table", "read", "kept", "quarantined", "reason"):
        table.add_column(name, justify="left" if name in ("table", "reason") else "right")
    for name in sorted(report.read):
        table.add_row(name, f"{report.read[name]:,}", f"{report.kept[name]:,}", "", "")
        reasons = sorted((r, n) for (t, r), n in report.quarantined.items() if t == name)
        for reason, n in reasons:
            table.add_row("", "", "", f"{n:,}", reason)
    return table


def rows_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    """A titled table of already formatted rows."""
    table = Table(title=title)
    for i, name in enumerate(columns):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(_fmt(v) for v in row))
    return table


def _fmt(value: object) -> str:
    """Numbers with separators and 3 decimals at most; None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if value == value else "-"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def console() -> Console:
    """The console everything prints to."""
    return Console()


def features_table(report: FeatureBuildReport) -> Table:
    """Rows and churn labels per observation date of one feature build, for the console."""
    per_second = report.events / report.seconds if report.seconds else 0.0
    table = Table(
        title=f"member features: {report.rows:,} rows from {report.events:,} events "
        f"in {report.seconds:.1f} s ({per_second:,.0f} events/s) -> {report.out}",
        caption=f"labels known up to {report.data_end}; lake snapshot {report.lake_snapshot}",
    )
    for name in ("as_of", "members", "churned", "stayed", "unknown", "subscription churned"):
        table.add_column(name, justify="left" if name == "as_of" else "right")
    for day, counts in sorted(report.rows_by_as_of.items()):
        table.add_row(
            day.isoformat(),
            *(f"{counts[k]:,}" for k in ("rows", "activity_1", "activity_0", "activity_null")),
            f"{counts['subscription_1']:,}",
        )
    return table
