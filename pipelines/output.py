"""Rich tables for what the pipelines return: people read these, so keep them plain."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # the CLI imports this module for its options: keep that import light
    from features.members.build import FeatureBuildReport
    from pipelines.ingest import IngestReport

Format = Literal["table", "csv", "json"]
FORMATS: tuple[Format, ...] = ("table", "csv", "json")
_UNBOUNDED = 1_000_000  # columns: a table measured at this width shows at its natural width


class RecordTable(Table):
    """A rich Table that also keeps its rows as plain values, for --format csv and json."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.records: list[dict[str, object]] = []


class Output(Console):
    """The console: on a terminal as rich prints; piped or redirected, tables are never cut."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """Print; when not on a terminal, at the width the widest table needs."""
        tables = [o for o in objects if isinstance(o, Table)]
        if self.is_terminal or not tables or "width" in kwargs:
            super().print(*objects, **kwargs)
            return
        options = self.options.update_width(_UNBOUNDED)
        for table in tables:
            # A title wraps at the table's width: a table narrower than its title is widened.
            title = cell_len(str(table.title)) if table.title else 0
            table.min_width = max(table.min_width or 0, title)
        widest = max(self.measure(t, options=options).maximum for t in tables)
        # Rich caps everything at the console's width (80 when piped): widen it for this call.
        kept = self._width
        self.width = max(widest, self.width)
        try:
            super().print(*objects, **kwargs)
        finally:
            self._width = kept


def format_option() -> Any:
    """The --format option of the commands that print a table."""
    return typer.Option(
        "--format",
        help="table (for people), csv or json (for programs; every row, nothing cut).",
    )


def check_format(fmt: str) -> Format:
    """The --format value, or a ValueError naming the choices."""
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r}: give one of {', '.join(FORMATS)}")
    return fmt


def records_of(table: Table) -> list[dict[str, object]]:
    """A table's rows as dicts: the plain values when it kept them, else the cells as text."""
    if isinstance(table, RecordTable):
        return table.records
    names = [str(c.header) for c in table.columns]
    cells = [[str(cell) for cell in c.cells] for c in table.columns]
    return [dict(zip(names, row, strict=True)) for row in zip(*cells, strict=True)]


def show(table: Table, fmt: str = "table", out: Console | None = None) -> None:
    """Print a table as a table, CSV (header first) or JSON (an array of row objects)."""
    chosen = check_format(fmt)
    if chosen == "table":
        (out or console()).print(table)
        return
    records = records_of(table)
    if chosen == "json":
        sys.stdout.write(json.dumps(records, ensure_ascii=False, default=str, indent=1) + "\n")
        return
    names = list(records[0]) if records else [str(c.header) for c in table.columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: _plain(v) for k, v in record.items()})
    sys.stdout.write(buffer.getvalue())


def _plain(value: object) -> object:
    """A CSV cell: lists and dicts as JSON, None as empty."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def ingest_table(report: IngestReport) -> Table:
    """Read, kept, quarantined and excluded counts by table and reason for one ingest."""
    title = f"ingest {report.source} ({report.ingest_id})"
    if report.already_ingested:
        title += ": already ingested, nothing added"
    table = RecordTable(title=title)
    for name in ("table", "read", "kept", "quarantined", "excluded", "reason"):
        table.add_column(name, justify="left" if name in ("table", "reason") else "right")
    for name in sorted(report.read):
        table.add_row(name, f"{report.read[name]:,}", f"{report.kept[name]:,}", "", "", "")
        table.records.append(
            _ingest_record(report, name, report.read[name], report.kept[name], None, None, None)
        )
        reasons = sorted((r, n) for (t, r), n in report.quarantined.items() if t == name)
        for reason, n in reasons:
            table.add_row("", "", "", f"{n:,}", "", reason)
            table.records.append(_ingest_record(report, name, None, None, n, None, reason))
        left_out = sorted((r, n) for (t, r), n in report.excluded.items() if t == name)
        for reason, n in left_out:
            table.add_row("", "", "", "", f"{n:,}", reason)
            table.records.append(_ingest_record(report, name, None, None, None, n, reason))
    return table


def files_table(report: IngestReport) -> RecordTable:
    """Every file of the source's folder: read, or skipped and why."""
    table = RecordTable(title=f"files of {report.source}")
    for name in ("file", "status", "why"):
        table.add_column(name)
    for f in report.files:
        status = "read" if f.read else "skipped"
        table.add_row(f.name, status, f.why)
        table.records.append({"file": f.name, "status": status, "why": f.why})
    return table


def print_ingest(report: IngestReport, fmt: str = "table") -> None:
    """An ingest's counts (and its files, where the source lists them) in the chosen format."""
    chosen = check_format(fmt)
    if chosen == "json":
        both = {
            "ingest": records_of(ingest_table(report)),
            "files": files_table(report).records,
            "unknown_event_types": dict(report.unknown_event_types.most_common()),
            "merged_names": report.merged_names,
        }
        sys.stdout.write(json.dumps(both, ensure_ascii=False, indent=1) + "\n")
        return
    if chosen == "csv":  # one table per CSV: the counts, which reconcile
        show(ingest_table(report), "csv")
        return
    out = console()
    if report.earlier is not None:  # nothing read: say what the ingest that has it did
        out.print(earlier_ingest_line(report), markup=False, highlight=False)
        unknown = Counter(report.earlier.get("unknown_event_types", {}))
    else:
        if report.files:
            out.print(files_table(report))
        out.print(ingest_table(report))
        unknown = report.unknown_event_types
        for line in report.merged_names:  # one custom type from several names: say which
            out.print(f"note: {line}", markup=False, highlight=False)
    if unknown:
        out.print(unknown_events_hint(unknown), markup=False, highlight=False)


def earlier_ingest_line(report: IngestReport) -> str:
    """'ingest S: already ingested as ID (DATE UTC), nothing added; that ingest read N rows,
    kept K, quarantined Q' (and excluded, where it left rows out)."""
    earlier = report.earlier or {}
    total = {key: sum(earlier.get(key, {}).values()) for key in ("read", "kept", "quarantined")}
    excluded = sum(earlier.get("excluded", {}).values())
    return (
        f"ingest {report.source}: already ingested as {report.ingest_id} "
        f"({str(earlier.get('at', ''))[:16].replace('T', ' ')} UTC), nothing added; that "
        f"ingest read {total['read']:,} rows, kept {total['kept']:,}, quarantined "
        f"{total['quarantined']:,}" + (f", excluded {excluded:,}" if excluded else "")
    )


SHOWN_UNKNOWN = 8  # unknown event type names listed by the hint


def unknown_events_hint(unknown: Counter[str]) -> str:
    """What to do about event types steward has no type for: their names, and the two fixes."""
    from features.schemas import EVENT_TYPES

    found = unknown.most_common()
    names = ", ".join(
        f"{name!r} ({n:,} row{'' if n == 1 else 's'})" for name, n in found[:SHOWN_UNKNOWN]
    )
    more = f" and {len(found) - SHOWN_UNKNOWN} more" if len(found) > SHOWN_UNKNOWN else ""
    first = found[0][0]
    return (
        f"{len(found)} event_type value{'s' if len(found) > 1 else ''} steward has no type for, "
        f"their rows in quarantine: {names}{more}. Map each onto one of steward's types with "
        f"--event-type SOURCE=TYPE (e.g. --event-type {first}=post; types: "
        f"{', '.join(EVENT_TYPES)}), or keep them as types of your own with --custom-events "
        "(named x_<name>); then ingest the file again."
    )


def _ingest_record(
    report: IngestReport,
    table: str,
    read: int | None,
    kept: int | None,
    quarantined: int | None,
    excluded: int | None,
    reason: str | None,
) -> dict[str, object]:
    """One row of the ingest table as plain values."""
    return {
        "ingest_id": report.ingest_id,
        "source": report.source,
        "table": table,
        "read": read,
        "kept": kept,
        "quarantined": quarantined,
        "excluded": excluded,
        "reason": reason,
    }


def rows_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    """A titled table of already formatted rows (their plain values kept for csv and json)."""
    table = RecordTable(title=title)
    for i, name in enumerate(columns):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(_fmt(v) for v in row))
        table.records.append(dict(zip(columns, row, strict=True)))
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
    """The console everything prints to (tables never cut when it is not a terminal)."""
    return Output()


def _custom_note(custom: tuple[str, ...]) -> str:
    """The custom event types a build counted, named (the first few) in the caption."""
    if not custom:
        return ""
    shown = ", ".join(custom[:6]) + (", ..." if len(custom) > 6 else "")
    return f"; {len(custom)} custom event types with features of their own ({shown})"


def features_table(report: FeatureBuildReport) -> Table:
    """Rows and churn labels per observation date of one feature build, for the console."""
    per_second = report.events / report.seconds if report.seconds else 0.0
    table = Table(
        title=f"member features: {report.rows:,} rows from {report.events:,} events "
        f"in {report.seconds:.1f} s ({per_second:,.0f} events/s) -> {report.out}",
        caption=f"labels known up to {report.data_end}; lake snapshot {report.lake_snapshot}"
        + ("; members' ages from their date_of_birth (age_years)" if report.member_age else "")
        + _custom_note(report.custom_events),
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
