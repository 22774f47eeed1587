"""Feature benchmark: simulate ~10M events, ingest them, build features for 6 observation dates.

Prints ingest and feature-build throughput (events/s), wall time and peak RSS of steward's two
engines (arrays, the default, and SQL) beside the same feature build written with pandas
groupby, all in one run, and checks that all three write the same table. Run: `make bench` or
`python -m bench.features --members 60000`; `--repeat 3` reports the median of three builds of
each (the machine is shared), `--floor` adds what any SQL build of these features costs at least.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from bench.measure import Measured, in_fresh_process

if TYPE_CHECKING:
    from features.members.definition import Engine

TARGET_EVENTS_PER_S = 5_000_000
TARGET_SPEEDUP = 10.0
TARGET_RSS_MB = 4096.0


def simulate_step(members: int, days: int, seed: int, folder: Path) -> int:
    """Simulate and write the community; returns the number of events."""
    from features.synthetic.simulator import simulate, write_community

    community = simulate(members=members, days=days, seed=seed)
    write_community(community, folder)
    return len(community.events)


def ingest_step(folder: Path, lake_root: Path) -> int:
    """Ingest the simulated folder into a fresh lake; returns events kept."""
    from features.adapters.canonical import CanonicalFolderSource
    from features.lake.store import Lake
    from pipelines.ingest import ingest_source

    report = ingest_source(Lake(lake_root), CanonicalFolderSource(folder, name="simulator"))
    return int(report.kept["events"])


def feature_step(lake_root: Path, out: Path, as_of: list[date], engine: Engine = "arrays") -> int:
    """steward's feature build with one engine; returns the number of feature rows."""
    from features.lake.store import Lake
    from features.members.build import build_member_features

    report = build_member_features(Lake(lake_root), out, as_of=as_of, engine=engine)
    return int(report.rows)


def pandas_step(lake_root: Path, as_of: list[date], out: Path) -> int:
    """The pandas groupby reference, loading the same Parquet files; returns rows."""
    from bench.pandas_reference import build_reference, load_tables
    from features.lake.store import Lake

    lake = Lake(lake_root)
    tables = load_tables(lake.files("events"), lake.files("members"), lake.files("subscriptions"))
    frame = build_reference(tables, as_of)
    frame.to_parquet(out)
    return len(frame)


def floor_step(lake_root: Path, as_of: list[date]) -> dict[str, tuple[float, float]]:
    """Wall and CPU seconds of what any SQL build of these features must at least do.

    Reading the three columns every feature needs, and the one GROUP BY that reduces events to
    per-(member, bucket, event type) cells, the smallest table that still holds every window of
    every date (buckets: day ranges cut at every window edge). Everything else comes on top.
    """
    import resource
    import time

    import pyarrow as pa

    from features.lake.store import Lake
    from features.members.build import _last_event_day, build_session, open_lake
    from features.members.definition import DEFAULT_CONFIG
    from features.members.sql import render_steps
    from features.schemas import EVENT_TYPES

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    con = open_lake(Lake(lake_root))
    found: dict[str, tuple[float, float]] = {}
    with build_session(con):
        data_end = _last_event_day(con)
        assert data_end is not None
        steps = {s.name: s for s in render_steps(DEFAULT_CONFIG, data_end)}
        con.register("steward_as_of", pa.table({"as_of": pa.array(as_of, pa.date32())}))
        for name in ("steward_obs", "steward_calendar"):
            con.execute(f"CREATE TEMP TABLE {name} AS {steps[name].sql}")
        queries = {
            "scan member_id, day, event_type": "SELECT MAX(member_id), MAX(CAST(ts AS DATE)), "
            "MAX(event_type) FROM events",
            "GROUP BY member, bucket, type": "SELECT COUNT(*), SUM(n) FROM (SELECT e.member_id, "
            "c.bucket, e.event_type, COUNT(*) AS n FROM events e JOIN steward_calendar c "
            "ON c.event_day = CAST(e.ts AS DATE) GROUP BY e.member_id, c.bucket, e.event_type) p",
        }
        cells = queries["GROUP BY member, bucket, type"].split("FROM (", 1)[1].rsplit(") p", 1)[0]
        con.execute(f"CREATE TEMP TABLE steward_cells AS {cells}")
        counts = ", ".join(
            f"MAX(CASE WHEN event_type = '{t}' THEN n END) AS n_{t}" for t in EVENT_TYPES
        )
        # Only the counts, one column per type: the least pivot the wide output needs. Every
        # column is read back, or the optimizer drops the unused aggregates.
        queries[f"pivot cells to (member, bucket) x {len(EVENT_TYPES)} counts"] = (
            f"SELECT COUNT(*), {', '.join(f'MAX(n_{t})' for t in EVENT_TYPES)} "
            f"FROM (SELECT member_id, bucket, {counts} "
            "FROM steward_cells GROUP BY member_id, bucket) b"
        )
        for label, sql in queries.items():
            started, used = time.perf_counter(), cpu()
            con.execute(sql).fetchall()
            found[label] = (time.perf_counter() - started, cpu() - used)
    return found


def observation_dates(
    lake_root: Path, count: int, every: int = 14, horizon: int = 30
) -> list[date]:
    """The last `count` dates, `every` days apart, whose churn labels are known."""
    from features.lake.store import Lake

    files = Lake(lake_root).files("events")
    last = _last_day(files)
    end = last - timedelta(days=horizon)
    return sorted(end - timedelta(days=every * k) for k in range(count))


def _last_day(files: list[Path]) -> date:
    import duckdb

    row = (
        duckdb.connect()
        .execute("SELECT MAX(CAST(ts AS DATE)) FROM read_parquet(?)", [[str(f) for f in files]])
        .fetchone()
    )
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def compare(steward_out: Path, pandas_out: Path) -> str:
    """Check that both builds agree on every feature and label (doubles to 1e-6)."""
    import duckdb

    from features.members.definition import FEATURE_COLUMNS, LABEL_COLUMNS

    con = duckdb.connect()
    columns = [*FEATURE_COLUMNS, *LABEL_COLUMNS]
    diff = con.execute(
        f"""
        SELECT COUNT(*) FROM read_parquet(?, hive_partitioning = true) s
        FULL OUTER JOIN read_parquet(?) p
          ON s.member_id = p.member_id AND CAST(s.as_of AS DATE) = CAST(p.as_of AS DATE)
        WHERE s.member_id IS NULL OR p.member_id IS NULL OR NOT (
            {" AND ".join(f"(s.{c} IS NOT DISTINCT FROM p.{c} OR abs(s.{c} - p.{c}) < 1e-6)" for c in columns)})
        """,
        [str(steward_out / "**" / "*.parquet"), str(pandas_out)],
    ).fetchone()
    assert diff is not None
    return "identical" if diff[0] == 0 else f"{diff[0]:,} rows differ"


def row(name: str, events: int, m: Measured, target: str = "") -> list[str]:
    """One printed row: throughput from events and wall time, CPU time, load."""
    return [
        name,
        f"{events:,}",
        f"{m.seconds:.2f}",
        f"{m.cpu_seconds:.2f}",
        f"{events / m.seconds:,.0f}",
        f"{m.peak_rss_mb:,.0f}",
        f"{m.load:.1f}",
        target,
    ]


def median_run(runs: list[Measured]) -> Measured:
    """The run with the median wall time (a shared machine makes single runs noisy)."""
    return sorted(runs, key=lambda m: m.seconds)[len(runs) // 2]


def main() -> None:
    """Run every step in its own process and print the figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=60_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--dates", type=int, default=6)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--floor", action="store_true", help="time the least any SQL build does")
    parser.add_argument(
        "--repeat", type=int, default=1, help="feature builds (steward, pandas alternately)"
    )
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="steward-bench-"))
    folder, lake_root = work / "synthetic", work / "lake"
    console = Console(width=150)  # the table stays readable when piped to a log
    console.print(
        f"bench/features: {args.members:,} members x {args.days} days (synthetic), work in {work}"
    )
    sim = in_fresh_process(simulate_step, args.members, args.days, args.seed, folder)
    events = int(sim.result)
    ing = in_fresh_process(ingest_step, folder, lake_root)
    as_of = observation_dates(lake_root, args.dates)
    feats, sqls, refs = [], [], []
    for _ in range(max(args.repeat, 1)):
        feats.append(in_fresh_process(feature_step, lake_root, work / "features", as_of))
        sqls.append(in_fresh_process(feature_step, lake_root, work / "features-sql", as_of, "sql"))
        refs.append(in_fresh_process(pandas_step, lake_root, as_of, work / "pandas.parquet"))
    feat, sql, ref = median_run(feats), median_run(sqls), median_run(refs)
    table = Table(
        title=f"feature build for {len(as_of)} observation dates ({as_of[0]} .. {as_of[-1]})",
        caption=f"{nproc()} cores; load: 1-minute load average at the end of each step"
        + (f"; features: median of {len(feats)} runs" if len(feats) > 1 else ""),
    )
    for name in ("step", "events", "wall s", "CPU s", "events/s", "peak RSS MB", "load", "target"):
        table.add_column(name, justify="left" if name in ("step", "target") else "right")
    table.add_row(*row("simulate (steward simulator)", events, sim))
    table.add_row(
        *row("ingest (validate + Parquet)", int(ing.result), ing, f"RSS < {TARGET_RSS_MB:,.0f} MB")
    )
    table.add_row(
        *row("features: steward, arrays engine", events, feat, f">= {TARGET_EVENTS_PER_S:,} ev/s")
    )
    table.add_row(*row("features: steward, SQL engine (DuckDB)", events, sql))
    table.add_row(*row("features: pandas groupby, same features", events, ref))
    if args.floor:
        floor = in_fresh_process(floor_step, lake_root, as_of).result
        for label, (wall, cpu) in floor.items():
            table.add_row(f"floor: {label}", f"{events:,}", f"{wall:.2f}", f"{cpu:.2f}",
                          f"{events / wall:,.0f}", "", "", "")  # fmt: skip
    console.print(table)
    console.print(
        f"feature rows: arrays {feat.result:,}, SQL {sql.result:,}, pandas {ref.result:,}; "
        f"every column, arrays vs pandas: {compare(work / 'features', work / 'pandas.parquet')}, "
        f"SQL vs pandas: {compare(work / 'features-sql', work / 'pandas.parquet')}"
    )
    for name, mine in (("arrays engine", feat), ("SQL engine", sql)):
        console.print(
            f"speed-up of the {name} over pandas: {ref.seconds / mine.seconds:.1f}x wall, "
            f"{ref.cpu_seconds / mine.cpu_seconds:.1f}x CPU-seconds (target >= {TARGET_SPEEDUP:.0f}x)"
        )
    if len(feats) > 1:
        console.print(
            "all runs (wall s / CPU s): "
            + "; ".join(
                f"{name} " + ", ".join(f"{m.seconds:.2f}/{m.cpu_seconds:.2f}" for m in runs)
                for name, runs in (("arrays", feats), ("SQL", sqls), ("pandas", refs))
            )
        )


def nproc() -> int:
    """CPU cores this process may use."""
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
