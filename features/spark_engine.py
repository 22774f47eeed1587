"""The feature SQL on Apache Spark: the same steps as the sql engine, over the same lake.

`features/sql/member_features.sql`, rendered by member_features._render_steps exactly as the
DuckDB engine runs it, runs here step by step on a SparkSession: a step read more than once
becomes a cached temporary view (CACHE TABLE), a step read once a plain temporary view, and the
last step is collected as Arrow and written by member_features.write_features (as_of partitions,
_features.json, the atomic swap). Only the engine adapter differs from DuckDB's: views over the
lake's Parquet files with spark.read, and session settings (UTC days). pyspark and Java are
needed only when a Spark build runs; `spark_problem` says in one line which one is missing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from features.lake import Lake
from features.member_features import (
    DEFAULT_CONFIG,
    DEFAULT_EVERY_DAYS,
    FeatureBuildReport,
    FeatureConfig,
    Step,
    _render_steps,
    _validate,
    build_report,
    dates_back,
    output_schema,
    write_features,
)
from features.schemas import TABLES, TS
from features.spark_session import require_spark, spark_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

LAKE_TABLES: tuple[str, ...] = ("events", "members", "subscriptions")
# Arrow types of the canonical tables -> Spark SQL types (for empty tables and missing columns).
SPARK_TYPES: dict[pa.DataType, str] = {
    pa.string(): "STRING",
    TS: "TIMESTAMP",
    pa.float64(): "DOUBLE",
    pa.int64(): "BIGINT",
    pa.int32(): "INT",
}


def open_lake_spark(spark: SparkSession, lake: Lake) -> None:
    """Temporary views events, members and subscriptions over the lake's published files."""
    for name in LAKE_TABLES:
        table = TABLES[name]
        files = [str(p) for p in lake.files(name)]
        frame: DataFrame
        if files:
            # mergeSchema: files of different ingests may lack optional columns (DuckDB's
            # union_by_name); a column no file has is added as NULL below.
            frame = spark.read.option("mergeSchema", "true").parquet(*files)
        else:
            frame = spark.createDataFrame([], _ddl(table.schema))
        present = set(frame.columns)
        columns = [
            c.name if c.name in present else f"CAST(NULL AS {SPARK_TYPES[c.type]}) AS {c.name}"
            for c in table.columns
        ]
        frame.selectExpr(*columns).createOrReplaceTempView(name)


def _ddl(schema: pa.Schema) -> str:
    """A Spark DDL schema string for an Arrow schema of canonical types."""
    return ", ".join(f"{f.name} {SPARK_TYPES[f.type]}" for f in schema)


def build_features_spark(
    spark: SparkSession, as_of: Sequence[date], config: FeatureConfig, data_end: date
) -> pa.Table:
    """Features and labels at each as_of from the events, members, subscriptions views."""
    _validate(config)
    dates = sorted(set(as_of))
    if not dates:
        return output_schema().empty_table()
    *steps, final = _render_steps(config, data_end)
    with _steps_on(spark, dates, steps):
        result = spark.sql(final.sql).toArrow()
    return result.select(output_schema().names).cast(output_schema())


@contextlib.contextmanager
def _steps_on(spark: SparkSession, dates: list[date], steps: list[Step]) -> Iterator[None]:
    """The steps as cached or plain temporary views (and the dates as steward_as_of), then gone."""
    spark.createDataFrame([(d,) for d in dates], "as_of DATE").createOrReplaceTempView(
        "steward_as_of"
    )
    try:
        for step in steps:
            if step.materialize:
                # Eager: computed once here, then read by every later step that names it.
                spark.sql(f"CACHE TABLE {step.name} AS {step.sql}")
            else:
                spark.sql(f"CREATE OR REPLACE TEMP VIEW {step.name} AS {step.sql}")
        yield
    finally:
        for step in reversed(steps):
            if step.materialize:
                spark.sql(f"UNCACHE TABLE IF EXISTS {step.name}")
            spark.catalog.dropTempView(step.name)
        spark.catalog.dropTempView("steward_as_of")


def _day_range(spark: SparkSession) -> tuple[int, date | None, date | None]:
    """Events, and the first and last UTC event day, of the events view."""
    row = spark.sql(
        "SELECT COUNT(*), MIN(CAST(ts AS DATE)), MAX(CAST(ts AS DATE)) FROM events"
    ).collect()[0]
    return int(row[0]), row[1], row[2]


def build_member_features_spark(
    lake: Lake,
    out: Path,
    as_of: Sequence[date] | None = None,
    every_days: int | None = None,
    config: FeatureConfig = DEFAULT_CONFIG,
    master: str | None = None,
    spark: SparkSession | None = None,
) -> FeatureBuildReport:
    """build_member_features on Spark: the same table, files and report as the sql engine."""
    if as_of is not None and every_days is not None:
        raise ValueError("give as_of or every_days, not both")
    require_spark()
    started = time.perf_counter()
    session = spark or spark_session(master)
    snapshot = _open_snapshot(session, lake)
    count, first, last = _day_range(session)
    data_end = config.data_end or last
    if data_end is None:
        raise ValueError(f"the lake at {lake.root} has no events to build features from")
    if as_of is None:
        as_of = dates_back(first, data_end, every_days or DEFAULT_EVERY_DAYS, config.lookback_days)
    resolved = replace(config, data_end=data_end)
    table = build_features_spark(session, as_of, resolved, data_end)
    write_features(table, out, resolved, as_of, snapshot)
    return build_report(table, out, count, as_of, data_end, snapshot, started)


def _open_snapshot(spark: SparkSession, lake: Lake, tries: int = 3) -> str:
    """Views over the lake and the snapshot they show (an ingest may publish in between)."""
    for _ in range(tries):
        snapshot = lake.snapshot_id()
        open_lake_spark(spark, lake)
        if lake.snapshot_id() == snapshot:
            return snapshot
    raise RuntimeError(f"the lake at {lake.root} kept changing while it was being opened")
