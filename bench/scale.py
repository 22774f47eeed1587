"""Scale benchmark: feature-build events/s on DuckDB (sql), NumPy (arrays) and Spark, and what
a nightly build of 1B events/day would need.

Simulates a community of about --events events over --days days, ingests it, then builds the
member features (every 14 days) with each engine in a fresh process. `spark` runs on
local[--cores]; `spark-cluster` on a standalone cluster (a master and one worker of --cores, each
its own JVM, started here; bench/spark_cluster.py), or on the cluster at --master, with the lake
and output under --workdir (which the executors must see). Session start is reported apart from
the build. Per-core throughput is events / (wall s x cores the engine was given): an upper bound
on the cores used, so a lower bound on throughput. The estimate divides a night's work by that
throughput. Run: `python -m bench.scale --events 1000000 --events 10000000`.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.measure import in_fresh_process, peak_rss_mb

EVENTS_PER_MEMBER_DAY = 0.84  # what the simulator gives over 180 days; sizes the community
EVENTS_PER_DAY = 1_000_000_000
HISTORY_DAYS = 90  # the widest feature window: what a full nightly rebuild reads per day of data
CLUSTER_EFFICIENCY = 0.7  # network shuffles and stragglers a cluster adds over local[N]
SPARK_ENGINES = ("spark", "spark-cluster")
WORKER_MEMORY, EXECUTOR_MEMORY = "6g", "5g"  # the standalone worker started here, its executor


@dataclass(frozen=True)
class EngineRun:
    """One engine's build of one community."""

    engine: str
    events: int
    rows: int
    seconds: float  # the build alone
    start_seconds: float  # Spark's session start (0 for the in-process engines)
    cores: int
    driver_mb: float  # peak RSS of the driver: the Python process, and Spark's driver JVM

    @property
    def per_core(self) -> float:
        """Events per second per core given to the engine."""
        return self.events / (self.seconds * self.cores)


def prepare(folder: Path, events: int, days: int, seed: int) -> tuple[Path, int]:
    """Simulate about `events` events and ingest them; returns the lake and the events kept."""
    from features.adapters.canonical import CanonicalFolderSource
    from features.lake.store import Lake
    from features.synthetic.simulator import simulate, write_community
    from pipelines.ingest import ingest_source

    members = max(100, round(events / (EVENTS_PER_MEMBER_DAY * days)))
    write_community(simulate(members=members, days=days, seed=seed), folder / "raw")
    report = ingest_source(Lake(folder / "lake"), CanonicalFolderSource(folder / "raw", "sim"))
    return folder / "lake", int(report.kept["events"])


def build_local(lake: Path, out: Path, engine: str) -> tuple[int, float, float, float]:
    """steward's in-process build with one engine: rows, build seconds, no session start, no
    JVM."""
    from features.lake.store import Lake
    from features.members.build import build_member_features

    started = time.perf_counter()
    report = build_member_features(Lake(lake), out, every_days=14, engine=engine)  # type: ignore[arg-type]
    return report.rows, time.perf_counter() - started, 0.0, 0.0


def build_spark(lake: Path, out: Path, master: str, cores: int) -> tuple[int, float, float, float]:
    """The Spark build on master: rows, build seconds, session start seconds, and the peak RSS
    of the driver JVM (on local[N] it runs the tasks too; on a cluster only the driver)."""
    import os

    from features.lake.store import Lake
    from features.members.spark import build_member_features_spark
    from features.members.spark_session import spark_session

    if not master.startswith("local"):
        # What spark_session sets for local[N] only: shuffle partitions sized to the cores, and
        # executors given most of the worker (spark-defaults.conf would say so on a cluster).
        os.environ.setdefault(
            "PYSPARK_SUBMIT_ARGS",
            f"--conf spark.sql.shuffle.partitions={2 * cores} "
            f"--executor-memory {EXECUTOR_MEMORY} pyspark-shell",
        )
    started = time.perf_counter()
    spark = spark_session(master, app_name="steward-bench")
    spark.sql("SELECT 1").collect()
    start = time.perf_counter() - started
    started = time.perf_counter()
    report = build_member_features_spark(Lake(lake), out, every_days=14, spark=spark)
    seconds = time.perf_counter() - started
    jvm = spark.sparkContext._gateway.proc  # type: ignore[union-attr]  # the JVM pyspark started
    jvm_mb = peak_rss_mb(jvm.pid)
    spark.stop()
    return report.rows, seconds, start, jvm_mb


def run_engines(
    lake: Path, out: Path, events: int, engines: list[str], cores: int, master: str | None
) -> list[EngineRun]:
    """Each engine's build in its own process (a standalone cluster started for spark-cluster)."""
    runs = []
    for engine in engines:
        target = out / engine
        if engine == "spark":
            measured = in_fresh_process(build_spark, lake, target, f"local[{cores}]", cores)
        elif engine == "spark-cluster" and master is not None:
            measured = in_fresh_process(build_spark, lake, target, master, cores)
        elif engine == "spark-cluster":
            from bench.spark_cluster import standalone_cluster

            with standalone_cluster(out / "cluster", cores, WORKER_MEMORY) as url:
                measured = in_fresh_process(build_spark, lake, target, url, cores)
        else:
            measured = in_fresh_process(build_local, lake, target, engine)
        rows, seconds, start, jvm_mb = measured.result
        driver = measured.peak_rss_mb + jvm_mb
        runs.append(EngineRun(engine, events, rows, seconds, start, cores, driver))
    return runs


def cluster_cores(per_core: float, events: float, window_hours: float) -> int:
    """Cores that process `events` within the window at per_core events/s (CLUSTER_EFFICIENCY)."""
    return math.ceil(events / (per_core * CLUSTER_EFFICIENCY * window_hours * 3600))


def marginal_per_core(small: EngineRun, large: EngineRun) -> float:
    """Events/s/core of the extra events between two sizes: the fixed start-up cost left out."""
    extra = large.seconds - small.seconds
    if extra <= 0:
        return large.per_core
    return (large.events - small.events) / (extra * large.cores)


def estimate(spark_runs: list[EngineRun], window_hours: float) -> list[str]:
    """The written estimate for EVENTS_PER_DAY from one Spark engine's per-core throughput."""
    runs = sorted(spark_runs, key=lambda r: r.events)
    largest = runs[-1]
    per_core = largest.per_core
    how = f"{largest.events:,} events on {largest.cores} cores in {largest.seconds:.1f} s"
    if len(runs) > 1 and runs[0].events < largest.events:
        per_core = marginal_per_core(runs[0], largest)
        how = f"marginal, between {runs[0].events:,} and {largest.events:,} events"
    full = EVENTS_PER_DAY * HISTORY_DAYS
    return [
        f"{largest.engine} per-core throughput: {per_core:,.0f} events/s/core ({how}); "
        f"cluster efficiency assumed {CLUSTER_EFFICIENCY:.0%}.",
        f"- Full nightly rebuild (every feature window re-read: {HISTORY_DAYS} days x 1B = "
        f"{full / 1e9:.0f}B events) in {window_hours:g} h: "
        f"{cluster_cores(per_core, full, window_hours):,} cores.",
        f"- The day's 1B events only (incremental per-day parts, not built yet) in "
        f"{window_hours:g} h: {cluster_cores(per_core, EVENTS_PER_DAY, window_hours):,} cores.",
    ]


def main() -> None:
    """Run every engine at each size and print events/s and the cluster estimate."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, action="append", help="repeatable; default 1M")
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cores", type=int, default=2, help="Spark's cores (local[N], worker)")
    parser.add_argument("--engines", default="arrays,sql,spark,spark-cluster")
    parser.add_argument(
        "--master", help="spark-cluster on this cluster instead of one started here"
    )
    parser.add_argument("--workdir", type=Path, help="lake and output here (default: a temp dir)")
    parser.add_argument("--window-hours", type=float, default=4.0)
    args = parser.parse_args()
    engines = args.engines.split(",")
    console = Console()
    table = Table(title="feature build throughput")
    columns = ("engine", "events", "rows", "build s", "events/s", "events/s/core", "start s")
    for name in (*columns, "driver MB"):
        table.add_column(name, justify="left" if name == "engine" else "right")
    runs: list[EngineRun] = []
    for target in args.events or [1_000_000]:
        with tempfile.TemporaryDirectory(prefix="steward-scale-", dir=args.workdir) as tmp:
            lake, events = prepare(Path(tmp), target, args.days, args.seed)
            out = Path(tmp) / "out"
            found = run_engines(lake, out, events, engines, args.cores, args.master)
        runs += found
        for run in found:
            table.add_row(
                run.engine,
                f"{run.events:,}",
                f"{run.rows:,}",
                f"{run.seconds:.1f}",
                f"{run.events / run.seconds:,.0f}",
                f"{run.per_core:,.0f}",
                f"{run.start_seconds:.1f}",
                f"{run.driver_mb:,.0f}",
            )
    console.print(table)
    for engine in SPARK_ENGINES:
        spark_runs = [r for r in runs if r.engine == engine]
        if spark_runs:
            for line in estimate(spark_runs, args.window_hours):
                console.print(line)


if __name__ == "__main__":
    main()
