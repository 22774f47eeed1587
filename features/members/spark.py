"""The feature SQL on Apache Spark: the same steps as the sql engine, over the same lake.

`features/sql/member_features.sql`, rendered by member_features.render_steps exactly as the
DuckDB engine runs it, runs here step by step on a SparkSession: a step read more than once
becomes a cached temporary view (CACHE TABLE), a step read once a plain temporary view. The last
step is written by the executors themselves into the as_of partitions of a new build folder, and
member_features.publish_features adds _features.json and swaps it in, as for every engine. Only
the engine adapter differs from DuckDB's: views over the lake's Parquet files (a local lake with
spark.read, a lake at an object-store URI with pyarrow on the executors), and session settings
(UTC days). pyspark and Java are needed only when a Spark build runs; `spark_problem` says in one
line which one is missing.
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

from features.lake.store import Lake
from features.lake.uri import UriLake, read_conformed
from features.members.build import FeatureBuildReport, build_report, with_custom
from features.members.definition import (
    DEFAULT_CONFIG,
    DEFAULT_EVERY_DAYS,
    LABEL_KEYS,
    Counts,
    FeatureConfig,
    dates_back,
    output_schema,
    validate_config,
)
from features.members.spark_session import require_spark, spark_session
from features.members.sql import BIRTH_DAYS_SQL, CUSTOM_EVENTS_SQL, Step, render_steps
from features.members.store import publish_features
from features.schemas import TABLES, TS

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


def open_lake_spark(spark: SparkSession, lake: Lake | UriLake) -> None:
    """Temporary views events, members and subscriptions over the lake's published files."""
    for name in LAKE_TABLES:
        files = [str(p) for p in lake.files(name)]
        read_lake_files(spark, lake, files, TABLES[name].schema).createOrReplaceTempView(name)


def read_lake_files(
    spark: SparkSession, lake: Lake | UriLake, files: list[str], schema: pa.Schema
) -> DataFrame:
    """Some of a lake table's files as one DataFrame with exactly schema's columns."""
    frame: DataFrame
    if not files:
        return spark.createDataFrame([], _ddl(schema))
    if isinstance(lake, UriLake):
        frame = read_uris_spark(spark, files, schema)
    else:
        # mergeSchema: files of different ingests may lack optional columns (DuckDB's
        # union_by_name); a column no file has is added as NULL below.
        frame = spark.read.option("mergeSchema", "true").parquet(*files)
    present = set(frame.columns)
    columns = [
        f.name if f.name in present else f"CAST(NULL AS {SPARK_TYPES[f.type]}) AS {f.name}"
        for f in schema
    ]
    return frame.selectExpr(*columns)


def read_uris_spark(spark: SparkSession, uris: list[str], schema: pa.Schema) -> DataFrame:
    """Parquet files at URIs as one DataFrame of schema, each file read by an executor.

    pyarrow's filesystems read them, not Hadoop's: s3://, gs:// and abfs:// need no connector
    jars on the cluster, only steward and pyarrow where the executors run (as scoring needs).
    """
    target = schema

    def read(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for uri in batch.column(0).to_pylist():
                yield from read_conformed(uri, target)

    listing = spark.createDataFrame([(u,) for u in uris], "uri STRING")
    # One file per task: the files are the unit of parallelism, as spark.read splits by file.
    return listing.repartition(len(uris)).mapInArrow(read, _ddl(schema))


def _ddl(schema: pa.Schema) -> str:
    """A Spark DDL schema string for an Arrow schema of canonical types."""
    return ", ".join(f"{f.name} {SPARK_TYPES[f.type]}" for f in schema)


def write_features_spark(
    spark: SparkSession, version: Path, as_of: Sequence[date], config: FeatureConfig, data_end: date
) -> Counts:
    """Features and labels at each as_of, written by the executors into version's as_of folders.

    Nothing passes through the driver but the counts: each task writes the rows it holds, one
    file per task and date, so the output is bounded by the cluster's disks, not one machine's
    memory. version must be where the executors and the driver both see it (local for local[N],
    a shared mount on a cluster). The counts are read back from what was written.
    """
    validate_config(config)
    dates = sorted(set(as_of))
    if not dates:
        return {}
    *steps, final = render_steps(config, data_end)
    with _steps_on(spark, dates, steps):
        # The canonical types in the canonical order, so every engine's files read alike.
        frame = spark.sql(final.sql).selectExpr(*_canonical_columns(output_schema(config)))
        frame.write.partitionBy("as_of").parquet(version.as_uri(), compression="snappy")
    for marker in ("_SUCCESS", "._SUCCESS.crc"):  # the swap, not a marker, says it is done
        (version / marker).unlink(missing_ok=True)
    return _written_counts(spark, version)


def _canonical_columns(schema: pa.Schema) -> list[str]:
    """Spark SQL expressions casting each column of the SQL's result to schema's type."""
    types = {**SPARK_TYPES, pa.date32(): "DATE"}
    return [f"CAST({f.name} AS {types[f.type]}) AS {f.name}" for f in schema]


def _written_counts(spark: SparkSession, version: Path) -> Counts:
    """Rows and label values per as_of of the files under version (an empty build has none)."""
    from pyspark.sql import functions as F

    if not any(version.glob("as_of=*/*.parquet")):
        return {}
    labels = []
    for label, key in LABEL_KEYS.items():
        column = F.col(label)
        labels += [
            F.count(F.when(column == 1, 1)).alias(f"{key}_1"),
            F.count(F.when(column != 1, 1)).alias(f"{key}_0"),
            F.count(F.when(column.isNull(), 1)).alias(f"{key}_null"),
        ]
    written = (
        spark.read.parquet(version.as_uri())
        .groupBy("as_of")
        .agg(F.count(F.lit(1)).alias("rows"), *labels)
    )
    return {
        date.fromisoformat(str(row["as_of"])): {
            k: int(v) for k, v in row.asDict().items() if k != "as_of"
        }
        for row in written.collect()
    }


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
    lake: Lake | UriLake,
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
    found = [row[0] for row in session.sql(CUSTOM_EVENTS_SQL).collect()]
    born = bool(session.sql(BIRTH_DAYS_SQL).collect()[0][0])
    resolved = with_custom(replace(config, data_end=data_end), found, born)
    counts: Counts = {}

    def write(version: Path) -> Counts:
        counts.update(write_features_spark(session, version, as_of, resolved, data_end))
        return counts

    publish_features(out, write, resolved, as_of, snapshot)
    report = build_report(counts, out, count, as_of, data_end, snapshot, started)
    return replace(report, custom_events=resolved.custom_events, member_age=resolved.member_age)


def _open_snapshot(spark: SparkSession, lake: Lake | UriLake, tries: int = 3) -> str:
    """Views over the lake and the snapshot they show (an ingest may publish in between)."""
    for _ in range(tries):
        snapshot = lake.snapshot_id()
        open_lake_spark(spark, lake)
        if lake.snapshot_id() == snapshot:
            return snapshot
    raise RuntimeError(f"the lake at {lake.root} kept changing while it was being opened")
