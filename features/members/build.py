"""Point-in-time member features and churn labels: one row per (member_id, as_of).

Semantics (DESIGN.md, "Churn, precisely"):

- Days are UTC days. An observation date T (a DATE) means the end of day T: features use only
  events with CAST(ts AS DATE) <= T.
- Rows: members who joined on or before T (MIN(joined_at) of the members table, which may list a
  member twice after repeated ingests, else the day of their first event) and who are active at T
  (qualifying activity on days T-lookback+1 .. T) or subscribed at T (a merged subscription
  coverage that started on or before T and had not ended by the end of T).
- Windows: a w-day window is days T-w+1 .. T. days_since_* is NULL when there never was such an
  event; per-post ratios are NULL without posts; trends are (n last 14 days + 1) / (n the 14
  days before + 1). Tickets are matched to their resolution by target_id (tickets without one
  are left out). The days since the last redemption are days_since_last_points_redeemed.
- churned_activity (members active at T): 1 without qualifying activity on days T+1 .. T+horizon,
  0 with some, NULL when T + horizon > data_end (censored) or the member is not active at T.
- churned_subscription (members subscribed at T): subscription periods that overlap or touch
  (next start <= latest end so far + grace_days) are one coverage. 1 when the coverage ends in
  (T, T+horizon] on or before data_end; 0 when it runs past T+horizon (or is open) and
  T + horizon <= data_end; NULL otherwise, and NULL for members not subscribed at T.
- data_end (the last day the data is complete for) defaults to the latest event day.

The SQL lives in sql/member_features.sql as portable steps (DuckDB and Spark SQL): events are
read once into per member/bucket/event-type parts, where buckets are day ranges cut at every
window edge of every as_of, so each window is a sum over a few bucket rows instead of over
events. This module fills the SQL's slots (literals, and column lists generated from the same
names as FEATURE_COLUMNS) and owns the DuckDB-specific parts: views over the lake, session
settings, and turning steps into temporary tables or views. Two engines build the same table:
"sql" runs the file whole; "arrays" (the default, member_arrays.py) counts the same buckets with
NumPy and runs only the file's small steps (tickets, subscriptions, join days). Output: one
Parquet file per as_of under as_of=YYYY-MM-DD/ (Hive layout) plus _features.json, swapped in
atomically.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.lake.store import Lake, folder_lock
from features.members.event_codes import to_date
from features.schemas import EVENT_TYPES, QUALIFYING_EVENT_TYPES, TABLES, TS, Table
from features.storage.failpoints import failpoint

if TYPE_CHECKING:
    import duckdb
    from rich.table import Table as RichTable

    from features.members.arrays import SideTables
    from features.members.event_codes import CodedEvents

FEATURE_DEFINITION_VERSION = "1"
COUNT_WINDOWS: tuple[int, ...] = (7, 14, 30, 90)
ACTIVE_DAY_WINDOWS: tuple[int, ...] = (7, 30, 90)
TREND_DAYS = 14
# Trend feature name -> the daily count column it compares (n_qualifying: qualifying activity).
TRENDS: dict[str, str] = {"activity": "qualifying", "post": "post", "login": "login"}
LABEL_COLUMNS: tuple[str, ...] = ("churned_activity", "churned_subscription")
# How each label's counts are keyed per date in _features.json (activity_1, subscription_null).
LABEL_KEYS = {"churned_activity": "activity", "churned_subscription": "subscription"}
# Rows and label counts per observation date: {"rows": n, "activity_1": n, ...}.
Counts = dict[date, dict[str, int]]
DEFAULT_EVERY_DAYS = 14
LABEL_BAND = -1  # steward_bucket_bands' band of the days after as_of, up to the label horizon
# What steward_banded sums per member, as_of and band (columns of steward_buckets).
BAND_COLUMNS: tuple[str, ...] = (
    *(f"n_{t}" for t in EVENT_TYPES),
    "n_qualifying",
    "active_days",
    "points_redeemed",
)
METADATA = "_features.json"
Engine = Literal["arrays", "sql"]
ENGINES: tuple[str, ...] = get_args(Engine)
EVENT_COLUMNS: tuple[str, ...] = ("member_id", "ts", "event_type", "value", "target_id")
SIDE_INPUTS: tuple[str, ...] = ("members", "subscriptions")  # what the arrays engine's SQL reads
DAY_BITS = 62  # steward_calendar's day mask: bits 0..61 of a BIGINT

# The single source of truth for the features and their order; the SQL is generated from it.
FEATURE_COLUMNS: list[str] = [
    *(f"n_{t}_{w}d" for t in EVENT_TYPES for w in COUNT_WINDOWS),
    *(f"active_days_{w}d" for w in ACTIVE_DAY_WINDOWS),
    "days_since_last_activity",
    *(f"days_since_last_{t}" for t in EVENT_TYPES),
    "tenure_days",
    *(f"trend_{name}_{TREND_DAYS}d" for name in TRENDS),
    "distinct_members_interacted_30d",
    "replies_received_per_post_30d",
    "likes_received_per_post_30d",
    "tickets_open_unresolved",
    "oldest_open_ticket_days",
    "points_balance",
    "points_redeemed_90d",
]
DOUBLE_FEATURES: frozenset[str] = frozenset(
    {
        *(f"trend_{name}_{TREND_DAYS}d" for name in TRENDS),
        "replies_received_per_post_30d",
        "likes_received_per_post_30d",
        "points_balance",
        "points_redeemed_90d",
    }
)


@dataclass(frozen=True)
class FeatureConfig:
    """How churn is defined for one feature build."""

    horizon_days: int = 30
    lookback_days: int = 30
    qualifying: tuple[str, ...] = QUALIFYING_EVENT_TYPES
    grace_days: int = 0
    data_end: date | None = None


DEFAULT_CONFIG = FeatureConfig()


@dataclass(frozen=True)
class FeatureBuildReport:
    """What one feature build produced."""

    out: Path
    rows: int
    events: int
    as_of: list[date]
    data_end: date
    lake_snapshot: str
    seconds: float
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    rows_by_as_of: dict[date, dict[str, int]] = field(default_factory=dict)

    def table(self) -> RichTable:
        """Rows and churn labels per observation date, for the console."""
        from rich.table import Table as RichTable  # the CLI's dependency, loaded when shown

        per_second = self.events / self.seconds if self.seconds else 0.0
        table = RichTable(
            title=f"member features: {self.rows:,} rows from {self.events:,} events "
            f"in {self.seconds:.1f} s ({per_second:,.0f} events/s) -> {self.out}",
            caption=f"labels known up to {self.data_end}; lake snapshot {self.lake_snapshot}",
        )
        for name in ("as_of", "members", "churned", "stayed", "unknown", "subscription churned"):
            table.add_column(name, justify="left" if name == "as_of" else "right")
        for day, counts in sorted(self.rows_by_as_of.items()):
            table.add_row(
                day.isoformat(),
                *(f"{counts[k]:,}" for k in ("rows", "activity_1", "activity_0", "activity_null")),
                f"{counts['subscription_1']:,}",
            )
        return table


def output_schema() -> pa.Schema:
    """The Arrow schema of a feature table: keys, FEATURE_COLUMNS, labels."""
    features = [
        pa.field(n, pa.float64() if n in DOUBLE_FEATURES else pa.int64()) for n in FEATURE_COLUMNS
    ]
    return pa.schema(
        [
            pa.field("member_id", pa.string()),
            pa.field("as_of", pa.date32()),
            *features,
            *(pa.field(n, pa.int32()) for n in LABEL_COLUMNS),
        ]
    )


def build_features(
    con: duckdb.DuckDBPyConnection,
    as_of: Sequence[date],
    config: FeatureConfig,
    engine: Engine = "arrays",
) -> pa.Table:
    """Features and labels at each as_of date from the events, members, subscriptions on con.

    engine "sql" runs sql/member_features.sql whole (the definition, portable to Spark);
    "arrays" (the default, several times faster) counts the events with NumPy and runs the
    SQL's steps for tickets, subscriptions and join days: the same table.
    """
    _validate(config)
    dates = sorted(set(as_of))
    if not dates:
        return output_schema().empty_table()
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    with _build_session(con):
        if engine == "arrays":
            from features.members.event_codes import encode_table

            events = con.sql(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events").to_arrow_table()
            tables = {n: con.sql(f"SELECT * FROM {n}").to_arrow_table() for n in SIDE_INPUTS}
            return _build_arrays(encode_table(events), tables, dates, config)
        data_end = config.data_end or _last_event_day(con) or dates[-1]
        *steps, final = _render_steps(config, data_end)
        with _steps_on(con, dates, steps):
            result = con.sql(final.sql).to_arrow_table()
    return result.cast(output_schema())


def _build_arrays(
    coded: CodedEvents, tables: dict[str, pa.Table], dates: list[date], config: FeatureConfig
) -> pa.Table:
    """The arrays engine over coded events, with the SQL's tickets, subscription and members
    steps beside it (tables: members and subscriptions)."""
    from features.members import arrays as member_arrays

    data_end = config.data_end or coded.day_range()[1] or dates[-1]
    # DuckDB runs the SQL steps on the other core (it lets go of the GIL) while NumPy counts;
    # the tickets step reads ticket events alone, so it gets just those.
    inputs = {**tables, "events": coded.tickets}
    with ThreadPoolExecutor(1) as pool:
        side = pool.submit(_side_tables, inputs, dates, config, data_end)
        return member_arrays.build(coded, dates, config, data_end, side)


def _side_tables(
    tables: dict[str, pa.Table], dates: list[date], config: FeatureConfig, data_end: date
) -> SideTables:
    """The SQL steps the arrays engine takes as they are: tickets, subscriptions, join days.

    They run on a connection of their own over the Arrow tables.
    """
    import duckdb  # here, on the side thread: its import overlaps the counting

    from features.members.arrays import SideTables

    side = duckdb.connect()
    try:
        for name in ("events", *SIDE_INPUTS):
            side.register(name, tables[name])
        steps = {s.name: s for s in _render_steps(config, data_end)}
        wanted = ("steward_obs", "steward_listed", "steward_coverage", "steward_subscribed")
        with _build_session(side), _steps_on(side, dates, [steps[name] for name in wanted]):
            return SideTables(
                tickets=side.sql(steps["steward_tickets"].sql).to_arrow_table(),
                subscribed=side.sql("SELECT * FROM steward_subscribed").to_arrow_table(),
                listed=side.sql("SELECT * FROM steward_listed").to_arrow_table(),
            )
    finally:
        side.close()


@contextlib.contextmanager
def _steps_on(
    con: duckdb.DuckDBPyConnection, dates: list[date], steps: list[Step]
) -> Iterator[None]:
    """The steps as temporary tables or views on con (and the dates as steward_as_of), then gone."""
    con.register("steward_as_of", pa.table({"as_of": pa.array(dates, pa.date32())}))
    try:
        for step in steps:
            # The engine-specific part: each portable step becomes a temporary table or view.
            kind = "TABLE" if step.materialize else "VIEW"
            con.execute(f"CREATE OR REPLACE TEMP {kind} {step.name} AS {step.sql}")
        yield
    finally:
        for step in reversed(steps):
            kind = "TABLE" if step.materialize else "VIEW"
            con.execute(f"DROP {kind} IF EXISTS {step.name}")
        con.unregister("steward_as_of")


@contextlib.contextmanager
def _build_session(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB settings for a build, put back as they were afterwards."""
    before = {
        name: str(_scalar(con, f"SELECT current_setting('{name}')"))
        for name in ("TimeZone", "disabled_optimizers")
    }
    # CAST(TIMESTAMPTZ AS DATE) must give the UTC day when events.ts carries a zone.
    settings = {"TimeZone": "UTC"}
    # Pushing partial aggregates below the joins onto buckets makes those steps 2-3x slower.
    known = {row[0] for row in con.execute("SELECT name FROM duckdb_optimizers()").fetchall()}
    disabled = {o for o in before["disabled_optimizers"].split(",") if o}
    if "partial_aggregate_pushdown" in known:
        settings["disabled_optimizers"] = ",".join(
            sorted(disabled | {"partial_aggregate_pushdown"})
        )
    for name, value in settings.items():
        con.execute(f"SET {name} = '{value}'")
    try:
        yield
    finally:
        for name in settings:
            con.execute(f"SET {name} = '{before[name]}'")


def open_lake(
    lake: Lake, con: duckdb.DuckDBPyConnection | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection with views events, members and subscriptions over the lake's published files."""
    import duckdb

    con = con or duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name in ("events", "members", "subscriptions"):
        table = TABLES[name]
        files = lake.files(name)
        if files:
            # read_parquet with a list literal is DuckDB's; on Spark these are spark.read views.
            paths = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
            source = f"read_parquet([{paths}], union_by_name = true)"
        else:
            source = f"steward_empty_{name}"
            con.register(source, table.schema.empty_table())
        columns = _lake_columns(table)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {columns} FROM {source}")
    return con


def _lake_columns(table: Table) -> str:
    """A table's columns, with UTC timestamps as plain (zone-less) TIMESTAMPs."""
    # DuckDB-only functions, here in the engine adapter: casting TIMESTAMPTZ to DATE goes through
    # ICU time zone rules (5x slower over 10M events); the UTC wall time as a plain TIMESTAMP
    # gives the same UTC day, and is what Spark reads these Parquet columns as (timestamp_ntz).
    return ", ".join(
        f"make_timestamp(epoch_us({c.name})) AS {c.name}" if c.type == TS else c.name
        for c in table.columns
    )


def observation_dates(
    con: duckdb.DuckDBPyConnection,
    every_days: int,
    data_end: date | None = None,
    lookback_days: int = DEFAULT_CONFIG.lookback_days,
) -> list[date]:
    """Dates every_days apart back from data_end (or the last event day) with a full lookback."""
    with _build_session(con):
        query = "SELECT MIN(CAST(ts AS DATE)), MAX(CAST(ts AS DATE)) FROM events"
        first, last = con.execute(query).fetchall()[0]
    return dates_back(first, data_end or last, every_days, lookback_days)


def dates_back(
    first: date | None, end: date | None, every_days: int, lookback_days: int
) -> list[date]:
    """Dates every_days apart back from end, none before first + lookback_days - 1."""
    if every_days < 1:
        raise ValueError(f"every_days must be at least 1, got {every_days}")
    if first is None or end is None:
        return []
    earliest = first + timedelta(days=lookback_days - 1)
    dates: list[date] = []
    day = end
    while day >= earliest:
        dates.append(day)
        day -= timedelta(days=every_days)
    return sorted(dates)


def write_features(
    table: pa.Table,
    out: Path,
    config: FeatureConfig,
    as_of: Sequence[date],
    lake_snapshot: str,
    counts: Counts | None = None,
) -> Path:
    """Write as_of=YYYY-MM-DD/part-0.parquet and _features.json aside, then swap them in at out.

    counts: the table's _counts_by_as_of, where the caller has them already.
    """
    parts = _by_as_of(table)

    def write(version: Path) -> Counts:
        def write_day(day: date) -> None:
            rows = parts.get(day)
            if rows is not None:
                write_part(rows.drop_columns(["as_of"]), version / as_of_folder(day))

        # Parquet encoding lets go of the GIL: one file per core at a time.
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            list(pool.map(write_day, sorted(set(as_of))))
        return _counts_by_as_of(table) if counts is None else counts

    return publish_features(out, write, config, as_of, lake_snapshot)


def publish_features(
    out: Path,
    write: Callable[[Path], Counts],
    config: FeatureConfig,
    as_of: Sequence[date],
    lake_snapshot: str,
) -> Path:
    """Let `write` fill a new version folder beside out (as_of=... partitions), add an empty
    part for each date it wrote none for and _features.json, then swap the version in at out.

    Every engine publishes this way; `write` returns the rows and labels per date it wrote.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    version = out.parent / f".{out.name}.{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    dates = sorted(set(as_of))
    with folder_lock(out.parent):  # one build writes beside out at a time
        _remove_stale_versions(out)
        try:
            counts = write(version)
            empty = output_schema().empty_table().drop_columns(["as_of"])
            for day in dates:
                if not any((version / as_of_folder(day)).glob("*.parquet")):
                    write_part(empty, version / as_of_folder(day))
            metadata = _metadata(counts, config, dates, lake_snapshot)
            (version / METADATA).write_text(json.dumps(metadata, indent=1, sort_keys=True))
            failpoint("features.written_aside")
            _swap_in(version, out)
        except BaseException:
            shutil.rmtree(version, ignore_errors=True)
            raise
    return out


def as_of_folder(day: date) -> str:
    """The Hive partition folder of one observation date."""
    return f"as_of={day.isoformat()}"


def write_part(rows: pa.Table, folder: Path) -> None:
    """One partition's rows as folder/part-0.parquet.

    Hive layout: as_of lives in the folder name only, so pandas, pyarrow, DuckDB and Spark all
    read the folder as one table (a copy inside the files clashes in pyarrow). Snappy: half the
    write time of zstd here, for files 30% larger.
    """
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(rows, folder / "part-0.parquet", compression="snappy")


def _remove_stale_versions(out: Path) -> None:
    """Remove builds, links and moved-aside folders that a killed build left beside out.

    Called with the writer lock held: anything beside out that out does not point at belongs
    to no live build. Readers follow out only, so leftovers cost disk space, never correctness.
    """
    current = out.resolve() if out.is_symlink() else None
    for entry in out.parent.glob(f".{out.name}.*"):
        if entry.is_symlink() or not entry.is_dir():
            entry.unlink(missing_ok=True)  # a link never swapped in
        elif entry.resolve() != current:
            shutil.rmtree(entry, ignore_errors=True)


def read_features(out: Path, as_of: Sequence[date] | None = None) -> pa.Table:
    """Features written by publish_features (all dates, or these), in build_features' schema.

    A partition may hold several files (a Spark build writes one per task); rows come back in
    (as_of, member_id) order however many there are.
    """
    metadata = json.loads((Path(out) / METADATA).read_text())
    written = [date.fromisoformat(d) for d in metadata["as_of"]]
    schema = output_schema()
    parts = []
    for day in written if as_of is None else sorted(set(as_of) & set(written)):
        files = sorted((Path(out) / as_of_folder(day)).glob("*.parquet"))
        part = pa.concat_tables(pq.read_table(f).cast(schema.remove(1)) for f in files)
        if len(files) > 1:
            part = part.sort_by("member_id")
        dates = pa.array([day] * part.num_rows, pa.date32())
        parts.append(part.add_column(1, "as_of", dates))
    return pa.concat_tables(parts) if parts else schema.empty_table()


def build_member_features(
    lake: Lake,
    out: Path,
    as_of: Sequence[date] | None = None,
    every_days: int | None = None,
    config: FeatureConfig = DEFAULT_CONFIG,
    engine: Engine = "arrays",
) -> FeatureBuildReport:
    """Features and labels from the lake at as_of (default: every 14 days) written to out."""
    if as_of is not None and every_days is not None:
        raise ValueError("give as_of or every_days, not both")
    started = time.perf_counter()
    if engine == "arrays":
        snapshot, coded, tables = _read_snapshot(lake)
        count = len(coded)
        first, last = coded.day_range()
        data_end = _data_end(lake, config.data_end or last)
        if as_of is None:
            as_of = dates_back(
                first, data_end, every_days or DEFAULT_EVERY_DAYS, config.lookback_days
            )
        resolved = replace(config, data_end=data_end)
        _validate(resolved)
        dates = sorted(set(as_of))
        table = (
            _build_arrays(coded, tables, dates, resolved)
            if dates
            else output_schema().empty_table()
        )
    else:
        snapshot, con = _open_snapshot(lake)
        try:
            count = int(_scalar(con, "SELECT COUNT(*) FROM events") or 0)
            data_end = _data_end(lake, config.data_end or _last_event_day(con))
            if as_of is None:
                every = every_days or DEFAULT_EVERY_DAYS
                as_of = observation_dates(con, every, data_end, config.lookback_days)
            resolved = replace(config, data_end=data_end)
            table = build_features(con, as_of, resolved, engine)
        finally:
            con.close()
    counts = _counts_by_as_of(table)
    write_features(table, out, resolved, as_of, snapshot, counts)
    return build_report(counts, out, count, as_of, data_end, snapshot, started)


def build_report(
    counts: Counts,
    out: Path,
    events: int,
    as_of: Sequence[date],
    data_end: date,
    snapshot: str,
    started: float,
) -> FeatureBuildReport:
    """What a build wrote (every engine reports the same way)."""
    return FeatureBuildReport(
        out=Path(out),
        rows=sum(c["rows"] for c in counts.values()),
        events=events,
        as_of=sorted(set(as_of)),
        data_end=data_end,
        lake_snapshot=snapshot,
        seconds=time.perf_counter() - started,
        label_counts=label_totals(counts),
        rows_by_as_of=counts,
    )


def _data_end(lake: Lake, day: date | None) -> date:
    """The given or found data end; a lake without events has none, which is an error."""
    if day is None:
        raise ValueError(f"the lake at {lake.root} has no events to build features from")
    return day


def _read_snapshot(lake: Lake, tries: int = 3) -> tuple[str, CodedEvents, dict[str, pa.Table]]:
    """The lake's events (coded for the arrays engine), members and subscriptions, and the
    snapshot they are."""
    from features.members.event_codes import encode_files, read_parquet

    for _ in range(tries):
        snapshot = lake.snapshot_id()
        files = {name: lake.files(name) for name in ("events", *SIDE_INPUTS)}
        if lake.snapshot_id() != snapshot:
            continue  # an ingest published in between: list again
        coded = encode_files(files["events"])  # first: it starts what runs on the side
        tables = {}
        for name in SIDE_INPUTS:
            found = files[name]
            tables[name] = read_parquet(found) if found else TABLES[name].schema.empty_table()
        return snapshot, coded, tables
    raise RuntimeError(f"the lake at {lake.root} kept changing while it was being read")


def _open_snapshot(lake: Lake, tries: int = 3) -> tuple[str, duckdb.DuckDBPyConnection]:
    """Views over the lake and the snapshot they show (an ingest may publish in between)."""
    for _ in range(tries):
        snapshot = lake.snapshot_id()
        con = open_lake(lake)
        if lake.snapshot_id() == snapshot:
            return snapshot, con
        con.close()
    raise RuntimeError(f"the lake at {lake.root} kept changing while it was being opened")


def feature_sql(config: FeatureConfig, data_end: date) -> str:
    """The whole build as portable SQL text, one statement per step (for review, Spark parity)."""
    return "\n\n".join(f"-- {s.name}\n{s.sql};" for s in _render_steps(config, data_end))


def _validate(config: FeatureConfig) -> None:
    """Reject configs the SQL cannot mean (and keep event type literals to known names)."""
    unknown = sorted(set(config.qualifying) - set(EVENT_TYPES))
    if unknown or not config.qualifying:
        raise ValueError(
            f"qualifying must be a non-empty subset of EVENT_TYPES; unknown: {unknown}"
        )
    for name in ("horizon_days", "lookback_days"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(config, name)}")
    if config.grace_days < 0:
        raise ValueError(f"grace_days must be >= 0, got {config.grace_days}")


class Step(NamedTuple):
    """One SELECT of the build, and whether the engine should materialise it (read twice)."""

    name: str
    sql: str
    materialize: bool


def _render_steps(config: FeatureConfig, data_end: date) -> list[Step]:
    """The SQL steps with every slot filled, in order; the last one is the result."""
    windows = _windows(config)
    edges = sorted({0, *(day for window in windows.values() for day in window)})
    recent = [e for e in edges if e <= max(ACTIVE_DAY_WINDOWS)]
    if max(b - a for a, b in itertools.pairwise(recent)) > DAY_BITS:
        raise RuntimeError("a band inside the active-day windows is too long for the day mask")
    text = Template(_sql_template()).substitute(
        max_window=edges[-1],
        horizon=config.horizon_days,
        grace=config.grace_days,
        data_end=data_end.isoformat(),
        qualifying=", ".join(f"'{t}'" for t in config.qualifying),
        window_edges=_union_all(
            [
                *(f"SELECT {_minus('as_of', k)} AS edge FROM steward_obs" for k in edges),
                "SELECT label_end AS edge FROM steward_obs",
            ]
        ),
        bucket_parts=_join(_bucket_parts()),
        bucket_columns=_join(_bucket_columns()),
        # Sums of the per-type columns, not SUMs over parts (see steward_buckets).
        qualifying_sum=" + ".join(f"COALESCE(n_{t}, 0)" for t in config.qualifying),
        qualifying_last=", ".join(f"last_{t}" for t in config.qualifying),
        band=_band_case(edges),
        label_band=LABEL_BAND,
        band_sums=_join(f"SUM(b.{c}) AS {c}" for c in BAND_COLUMNS),
        window_sums=_join(_window_sums(windows, edges)),
        band_joins="\n".join(
            f"LEFT JOIN steward_banded {alias} ON {alias}.member_id = k.member_id "
            f"AND {alias}.as_of = k.as_of AND {alias}.band = {band}"
            for band, alias in _band_aliases(edges).items()
        ),
        bands_30d=", ".join(str(band) for band in _bands(edges, (0, 30))),
        lookback_bands=", ".join(str(band) for band in _bands(edges, windows["lookback"])),
        history_columns=_join(f"MAX(last_{t}) AS last_{t}" for t in EVENT_TYPES),
        features=_join(f"{expr} AS {name}" for name, expr in _feature_expressions().items()),
    )
    parts = re.split(r"^-- (step|view): (\w+)\s*$", text, flags=re.MULTILINE)
    return [
        Step(name, body.strip().rstrip(";"), kind == "step")
        for kind, name, body in zip(parts[1::3], parts[2::3], parts[3::3], strict=True)
    ]


def _sql_template() -> str:
    """The step file, read when a build runs (nothing is loaded at import time)."""
    return (Path(__file__).parent / "sql" / "member_features.sql").read_text()


def _join(expressions: Iterable[str]) -> str:
    """Column expressions as one comma-separated SELECT list fragment."""
    return ",\n    ".join(expressions)


def _union_all(selects: Iterable[str]) -> str:
    """SELECTs combined with UNION ALL."""
    return "\n        UNION ALL ".join(selects)


def _minus(day: str, days: int) -> str:
    """A DATE expression days before day."""
    return day if days == 0 else f"CAST({day} - INTERVAL '{days}' DAY AS DATE)"


def _windows(config: FeatureConfig) -> dict[str, tuple[int, int]]:
    """Every feature window as (start, end): the days d with start <= T - d < end."""
    windows = {f"{w}d": (0, w) for w in sorted({*COUNT_WINDOWS, *ACTIVE_DAY_WINDOWS})}
    windows[f"previous_{TREND_DAYS}d"] = (TREND_DAYS, 2 * TREND_DAYS)
    windows["lookback"] = (0, config.lookback_days)
    return windows


def _bands(edges: list[int], window: tuple[int, int]) -> list[int]:
    """The bands (ranges between consecutive edges, numbered from 0) that make up a window."""
    return [i for i in range(len(edges) - 1) if window[0] <= edges[i] and edges[i + 1] <= window[1]]


def _band_aliases(edges: list[int]) -> dict[int, str]:
    """Table alias of each feature band in steward_windowed: b0, b1, ..."""
    return {i: f"b{i}" for i in range(len(edges) - 1)}


def _band_case(edges: list[int]) -> str:
    """The band of bucket b relative to as_of o: LABEL_BAND after it, else the edge range."""
    whens = [f"WHEN b.bucket > o.as_of THEN {LABEL_BAND}"]
    whens += [
        f"WHEN b.bucket > {_minus('o.as_of', edges[i + 1])} THEN {i}" for i in range(len(edges) - 1)
    ]
    return "CASE\n        " + "\n        ".join(whens) + "\n    END"


def _bucket_parts() -> list[str]:
    """steward_buckets' per-type values: the count and the last day of each event type."""
    return [
        *(f"MAX(CASE WHEN event_type = '{t}' THEN n END) AS n_{t}" for t in EVENT_TYPES),
        *(f"MAX(CASE WHEN event_type = '{t}' THEN last_day END) AS last_{t}" for t in EVENT_TYPES),
    ]


def _bucket_columns() -> list[str]:
    """steward_buckets' per-type columns: counts as INT, 0 without a part; the last days."""
    return [
        *(f"CAST(COALESCE(n_{t}, 0) AS INT) AS n_{t}" for t in EVENT_TYPES),
        *(f"last_{t}" for t in EVENT_TYPES),
    ]


def _window_sums(windows: dict[str, tuple[int, int]], edges: list[int]) -> list[str]:
    """steward_windowed's columns: each window's value as the sum of its bands' values."""
    aliases = _band_aliases(edges)

    def window_sum(column: str, window: str, alias: str) -> str:
        bands = _bands(edges, windows[window])
        terms = " + ".join(f"COALESCE({aliases[b]}.{column}, 0)" for b in bands)
        return f"{terms} AS {alias}"

    trend_series = list(dict.fromkeys(TRENDS.values()))
    return [
        *(window_sum(f"n_{t}", f"{w}d", f"n_{t}_{w}d") for t in EVENT_TYPES for w in COUNT_WINDOWS),
        *(window_sum("active_days", f"{w}d", f"active_days_{w}d") for w in ACTIVE_DAY_WINDOWS),
        window_sum("n_qualifying", "lookback", "n_qualifying_lookback"),
        *(window_sum(f"n_{s}", f"{TREND_DAYS}d", f"recent_{s}") for s in trend_series),
        *(window_sum(f"n_{s}", f"previous_{TREND_DAYS}d", f"previous_{s}") for s in trend_series),
        window_sum("points_redeemed", "90d", "points_redeemed_90d"),
    ]


def _days_since(day: str) -> str:
    """Whole days from day to as_of (MEASURED.md: the portable spelling of a date difference)."""
    return (
        f"CAST(EXTRACT(DAY FROM CAST(s.as_of AS TIMESTAMP) - CAST({day} AS TIMESTAMP)) AS BIGINT)"
    )


def _feature_expressions() -> dict[str, str]:
    """steward_features' expression for each feature, in FEATURE_COLUMNS order."""

    def count(column: str) -> str:
        return f"CAST(COALESCE({column}, 0) AS BIGINT)"

    def ratio(numerator: str, denominator: str) -> str:
        return f"CAST({numerator} AS DOUBLE) / NULLIF({denominator}, 0)"

    def trend(series: str) -> str:
        recent, previous = f"w.recent_{series}", f"w.previous_{series}"
        smoothed = [f"(CAST(COALESCE({c}, 0) AS DOUBLE) + 1)" for c in (recent, previous)]
        return " / ".join(smoothed)

    found: dict[str, str] = {
        **{f"n_{t}_{w}d": count(f"w.n_{t}_{w}d") for t in EVENT_TYPES for w in COUNT_WINDOWS},
        **{f"active_days_{w}d": count(f"w.active_days_{w}d") for w in ACTIVE_DAY_WINDOWS},
        "days_since_last_activity": _days_since("h.last_qualifying"),
        **{f"days_since_last_{t}": _days_since(f"h.last_{t}") for t in EVENT_TYPES},
        "tenure_days": _days_since("m.joined"),
        **{f"trend_{name}_{TREND_DAYS}d": trend(s) for name, s in TRENDS.items()},
        "distinct_members_interacted_30d": count("i.distinct_members_interacted_30d"),
        "replies_received_per_post_30d": ratio("w.n_reply_received_30d", "w.n_post_30d"),
        "likes_received_per_post_30d": ratio("w.n_like_received_30d", "w.n_post_30d"),
        "tickets_open_unresolved": count("t.tickets_open_unresolved"),
        "oldest_open_ticket_days": _days_since("t.oldest_opened"),
        "points_balance": (
            "CAST(COALESCE(h.points_earned, 0) - COALESCE(h.points_redeemed, 0) AS DOUBLE)"
        ),
        "points_redeemed_90d": "CAST(COALESCE(w.points_redeemed_90d, 0) AS DOUBLE)",
    }
    if list(found) != FEATURE_COLUMNS:  # a feature added in one place only must fail loudly
        raise RuntimeError("feature expressions and FEATURE_COLUMNS disagree")
    return found


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """The single value a query returns."""
    rows = con.execute(sql).fetchall()  # fetchall: duckdb 2 refuses new work after a partial fetch
    return rows[0][0] if rows else None


def _last_event_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The latest UTC event day, or None without events."""
    day = _scalar(con, "SELECT MAX(CAST(ts AS DATE)) FROM events")
    return day if isinstance(day, date) else None


def _label_counts(table: pa.Table) -> dict[str, dict[str, int]]:
    """How many rows of each label are 1, 0 and NULL."""
    counts: dict[str, dict[str, int]] = {}
    for label in LABEL_COLUMNS:
        column = table[label]
        positive = int(pc.sum(pc.equal(column, 1)).as_py() or 0)
        nulls = column.null_count
        counts[label] = {"1": positive, "0": table.num_rows - positive - nulls, "null": nulls}
    return counts


def _counts_by_as_of(table: pa.Table) -> Counts:
    """Rows and label values per observation date."""
    counts: Counts = {}
    for day, rows in _by_as_of(table).items():
        labels = _label_counts(rows)
        counts[day] = {
            "rows": rows.num_rows,
            **{f"{LABEL_KEYS[n]}_{k}": v for n, found in labels.items() for k, v in found.items()},
        }
    return counts


def label_totals(counts: Counts) -> dict[str, dict[str, int]]:
    """How many rows of each label are 1, 0 and NULL over every date."""
    return {
        label: {k: sum(c.get(f"{key}_{k}", 0) for c in counts.values()) for k in ("1", "0", "null")}
        for label, key in LABEL_KEYS.items()
    }


def _by_as_of(table: pa.Table) -> dict[date, pa.Table]:
    """The rows of each as_of date: slices (no copies) of the table sorted by as_of."""
    days = table["as_of"].cast(pa.int32()).to_numpy()
    if days.size and np.any(days[1:] < days[:-1]):
        table = table.sort_by("as_of")
        days = np.sort(days)
    found, starts = np.unique(days, return_index=True)
    ends = [*starts[1:], len(days)]
    return {
        to_date(int(d)): table.slice(int(a), int(b) - int(a))
        for d, a, b in zip(found, starts, ends, strict=True)
    }


def _metadata(
    counts: Counts, config: FeatureConfig, dates: list[date], lake_snapshot: str
) -> dict[str, Any]:
    """What _features.json records: enough to tell exactly which build a model was trained on."""
    settings = asdict(config)
    settings["qualifying"] = list(config.qualifying)
    settings["data_end"] = config.data_end.isoformat() if config.data_end else None
    empty = {key: 0 for key in next(iter(counts.values()), {})} or {"rows": 0}
    return {
        "feature_columns": FEATURE_COLUMNS,
        "feature_definition_version": FEATURE_DEFINITION_VERSION,
        "label_columns": list(LABEL_COLUMNS),
        "config": settings,
        "as_of": [d.isoformat() for d in dates],
        "lake_snapshot": lake_snapshot,
        "rows": sum(c["rows"] for c in counts.values()),
        "by_as_of": {d.isoformat(): counts.get(d, empty) for d in dates},
        "label_counts": label_totals(counts),
        "created_at": datetime.now(UTC).isoformat(),
    }


def _swap_in(version: Path, out: Path) -> None:
    """Point out at version with one os.replace of a symlink, then remove the previous version."""
    link = out.parent / f".{out.name}.link-{uuid.uuid4().hex[:8]}"
    link.symlink_to(version.name, target_is_directory=True)
    previous: Path | None = None
    if out.is_symlink():
        previous = out.parent / os.readlink(out)
    elif out.exists():
        # A plain folder (not written by this function): moved aside once, not atomically.
        previous = out.parent / f".{out.name}.previous-{uuid.uuid4().hex[:8]}"
        os.rename(out, previous)
    try:
        os.replace(link, out)
    except BaseException:
        link.unlink(missing_ok=True)
        if previous is not None and not out.exists() and not out.is_symlink():
            os.rename(previous, out)  # put the moved-aside folder back
        raise
    failpoint("features.swapped")
    if previous is not None and previous.resolve() != version.resolve():
        shutil.rmtree(previous, ignore_errors=True)
