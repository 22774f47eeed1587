"""Building member features from the lake with DuckDB (the sql engine) or NumPy (arrays)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from features.lake.store import Lake
from features.members.definition import (
    DEFAULT_CONFIG,
    DEFAULT_EVERY_DAYS,
    ENGINES,
    EVENT_COLUMNS,
    SIDE_INPUTS,
    Counts,
    Engine,
    FeatureConfig,
    dates_back,
    output_schema,
    validate_config,
)
from features.members.sql import BIRTH_DAYS_SQL, CUSTOM_EVENTS_SQL, Step, render_steps
from features.members.store import counts_by_as_of, label_totals, write_features
from features.schemas import TABLES, TS, Table

if TYPE_CHECKING:
    import duckdb

    from features.members.arrays import SideTables
    from features.members.event_codes import CodedEvents


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
    custom_events: tuple[str, ...] = ()  # the lake's custom event types, each with features
    member_age: bool = False  # whether members have birth days (an age_years feature)


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
    validate_config(config)
    dates = sorted(set(as_of))
    if not dates:
        return output_schema(config).empty_table()
    _check_engine(engine)
    if engine == "sql":
        return _build_sql(con, dates, found_on(con, config))
    from features.members.event_codes import encode_table

    with build_session(con):
        events = con.sql(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events").to_arrow_table()
        tables = {n: con.sql(f"SELECT * FROM {n}").to_arrow_table() for n in SIDE_INPUTS}
        born = bool(_scalar(con, BIRTH_DAYS_SQL))
    coded = encode_table(events)
    resolved = with_custom(config, coded.custom, born)
    return _build_arrays(coded, tables, dates, resolved)


def _check_engine(engine: str) -> None:
    """An engine name build_features knows, or an error naming them."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")


def _build_sql(
    con: duckdb.DuckDBPyConnection, dates: list[date], config: FeatureConfig
) -> pa.Table:
    """The sql engine over con's tables, config's custom event types already found."""
    with build_session(con):
        data_end = config.data_end or _last_event_day(con) or dates[-1]
        *steps, final = render_steps(config, data_end)
        with _steps_on(con, dates, steps):
            result = con.sql(final.sql).to_arrow_table()
    return result.cast(output_schema(config))


def with_custom(
    config: FeatureConfig, found: Sequence[str], member_age: bool = False
) -> FeatureConfig:
    """config with the custom event types found in the events (sorted) and whether members
    have birth days, checked."""
    resolved = replace(config, custom_events=tuple(sorted(found)), member_age=member_age)
    validate_config(resolved)
    return resolved


def found_on(con: duckdb.DuckDBPyConnection, config: FeatureConfig) -> FeatureConfig:
    """config with what the tables on con hold: custom event types, members' birth days."""
    custom = [row[0] for row in con.execute(CUSTOM_EVENTS_SQL).fetchall()]
    with build_session(con):
        born = bool(_scalar(con, BIRTH_DAYS_SQL))
    return with_custom(config, custom, born)


def has_birth_days(members: pa.Table) -> bool:
    """Whether any member of a members table has a date_of_birth attribute that is a date."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("members", members)
        with build_session(con):
            return bool(_scalar(con, BIRTH_DAYS_SQL))
    finally:
        con.close()


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
        steps = {s.name: s for s in render_steps(config, data_end)}
        wanted = ("steward_obs", "steward_listed", "steward_coverage", "steward_subscribed")
        with build_session(side), _steps_on(side, dates, [steps[name] for name in wanted]):
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
def build_session(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
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
    # The feature SQL reads JSON attributes with Spark's function name, and as Spark does, gets
    # NULL from a value that is not JSON (DuckDB's own function fails the whole query).
    con.execute(
        "CREATE OR REPLACE TEMP MACRO get_json_object(j, p) AS "
        "CASE WHEN json_valid(j) THEN json_extract_string(j, p) END"
    )
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
        born = has_birth_days(tables["members"])
        resolved = with_custom(replace(config, data_end=data_end), coded.custom, born)
        dates = sorted(set(as_of))
        table = (
            _build_arrays(coded, tables, dates, resolved)
            if dates
            else output_schema(resolved).empty_table()
        )
    else:
        _check_engine(engine)
        snapshot, con = _open_snapshot(lake)
        try:
            count = int(_scalar(con, "SELECT COUNT(*) FROM events") or 0)
            data_end = _data_end(lake, config.data_end or _last_event_day(con))
            if as_of is None:
                every = every_days or DEFAULT_EVERY_DAYS
                as_of = observation_dates(con, every, data_end, config.lookback_days)
            resolved = found_on(con, replace(config, data_end=data_end))
            dates = sorted(set(as_of))
            # The custom types are found once, above: _build_sql, not build_features (which
            # would look for them again over every event).
            table = (
                _build_sql(con, dates, resolved) if dates else output_schema(resolved).empty_table()
            )
        finally:
            con.close()
    counts = counts_by_as_of(table)
    write_features(table, out, resolved, as_of, snapshot, counts)
    report = build_report(counts, out, count, as_of, data_end, snapshot, started)
    return replace(report, custom_events=resolved.custom_events, member_age=resolved.member_age)


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


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """The single value a query returns."""
    rows = con.execute(sql).fetchall()  # fetchall: duckdb 2 refuses new work after a partial fetch
    return rows[0][0] if rows else None


def _last_event_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The latest UTC event day, or None without events."""
    day = _scalar(con, "SELECT MAX(CAST(ts AS DATE)) FROM events")
    return day if isinstance(day, date) else None


def observation_dates(
    con: duckdb.DuckDBPyConnection,
    every_days: int,
    data_end: date | None = None,
    lookback_days: int = DEFAULT_CONFIG.lookback_days,
) -> list[date]:
    """Dates every_days apart back from data_end (or the last event day) with a full lookback."""
    with build_session(con):
        query = "SELECT MIN(CAST(ts AS DATE)), MAX(CAST(ts AS DATE)) FROM events"
        first, last = con.execute(query).fetchall()[0]
    return dates_back(first, data_end or last, every_days, lookback_days)
