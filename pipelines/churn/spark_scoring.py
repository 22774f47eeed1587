"""`steward score members --engine spark`: the churn champion as a Spark UDF over the features.

The member rows of one as_of are read with spark.read from the feature build and scored by
mlflow.pyfunc.spark_udf over the champion (the same ChurnPyfunc, so the same probability, tier
and reasons as the default path). The executors also join each member's attributes from the lake
(the latest ingest's, as member_attributes), sort by probability, and write the sorted rows into a
folder beside the at-risk table. The driver then streams those files, in order and a batch at a
time, into the one at-risk file the server reads, and swaps it in as the default path does
(features.scores.at_risk.publish_at_risk), and streams the same rows into the scored history.
No step holds every member in the driver's memory. `--from/--to` scores each built date in
turn in one Spark session; `--model-version`/`--alias` score with another registered version.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from features.lake.store import Lake
from features.schemas import TABLES
from features.scores.at_risk import TIERS, publish_at_risk
from models.churn.config import MODEL_NAME
from pipelines.churn.score import ScoreReport
from pipelines.steps import features_dir

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from features.lake.uri import UriLake

# What ChurnPyfunc.predict returns per row, as Spark types (list columns as array<string>).
RESULT_TYPE = (
    "probability DOUBLE, tier STRING, reasons ARRAY<STRING>, interventions ARRAY<STRING>, "
    "intervention STRING, drivers ARRAY<STRING>"
)
SCORED_TYPES: dict[str, pa.DataType] = {
    "probability": pa.float64(),
    "tier": pa.string(),
    "reasons": pa.list_(pa.string()),
    "interventions": pa.list_(pa.string()),
    "intervention": pa.string(),
    "drivers": pa.list_(pa.string()),
}
# The at-risk table's columns and types, as pipelines.churn.score.at_risk_rows writes them.
AT_RISK_SCHEMA = pa.schema(
    [
        ("member_id", pa.string()),
        ("as_of", pa.date32()),
        *SCORED_TYPES.items(),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("label", pa.string()),
        ("scored_at", pa.timestamp("us", tz="UTC")),
        ("attributes", pa.string()),
    ]
)
BATCH_ROWS = 1 << 16  # rows the driver holds at once while it concatenates the sorted parts


def model_uri(
    model_name: str = MODEL_NAME, version: str | None = None, alias: str | None = None
) -> tuple[str, str]:
    """models:/NAME/VERSION of the champion now (or of this version or alias), and the
    version (one lookup, so they agree)."""
    from models.champions import churn_version

    found = churn_version(model_name, version, alias)
    return f"models:/{model_name}/{found}", found


def scoring_rows_spark(
    spark: SparkSession, features: Path, as_of: date | None
) -> tuple[DataFrame, date]:
    """The feature rows of as_of (default: the latest built date) as a Spark DataFrame."""
    from models.churn.dataset import read_metadata

    # The version folder behind the link: a rebuild swapping in meanwhile cannot mix two builds.
    folder = Path(features).resolve()
    written = sorted(map(date.fromisoformat, read_metadata(folder)["as_of"]))
    if not written:
        raise ValueError(f"the features at {features} have no observation dates")
    day = as_of or written[-1]
    if day not in written:
        raise ValueError(
            f"no features as of {day}: build it with `steward features build --as-of {day}`"
        )
    return spark.read.parquet(str(folder / f"as_of={day.isoformat()}")), day


def scored_frame_spark(spark: SparkSession, rows: DataFrame, model_uri: str) -> DataFrame:
    """member_id and the champion's output columns for every row (lazy: nothing runs yet)."""
    import mlflow
    from pyspark.sql import functions as F

    udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=RESULT_TYPE, env_manager="local")
    inputs = mlflow.models.get_model_info(model_uri).signature.inputs.input_names()
    # The signature wants doubles (integer features with NULLs are NaN, as in model_input).
    struct = F.struct(*(F.col(c).cast("double").alias(c) for c in inputs))
    return rows.select("member_id", udf(struct).alias("s")).select("member_id", "s.*")


def member_attributes_spark(spark: SparkSession, lake: Lake | UriLake) -> DataFrame:
    """member_id, attributes: member_attributes on Spark (the latest non-NULL one wins)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from features.members.spark import read_lake_files

    schema = TABLES["members"].schema
    frames = [
        # Later ingests, and later rows of one file, win: member_attributes' keep="last".
        read_lake_files(spark, lake, [str(file)], schema).select(
            "member_id",
            "attributes",
            F.lit(ingest).alias("ingest"),
            F.monotonically_increasing_id().alias("row"),
        )
        for ingest, file in enumerate(lake.files("members"))
    ]
    if not frames:
        return spark.createDataFrame([], "member_id STRING, attributes STRING")
    stacked = functools.reduce(lambda a, b: a.unionByName(b), frames)
    latest = Window.partitionBy("member_id").orderBy(F.desc("ingest"), F.desc("row"))
    return (
        stacked.where(F.col("attributes").isNotNull() & F.col("member_id").isNotNull())
        .withColumn("n", F.row_number().over(latest))
        .where("n = 1")
        .select("member_id", "attributes")
    )


def score_members_spark(
    as_of: date | None = None,
    features: Path | None = None,
    model_name: str = MODEL_NAME,
    lake: Lake | UriLake | None = None,
    master: str | None = None,
    spark: SparkSession | None = None,
    version: str | None = None,
    alias: str | None = None,
    publish: bool = True,
) -> ScoreReport:
    """score_members with a Spark UDF: the same at-risk table, swapped in the same way (unless
    it holds a later date), and the same rows in the scored history (publish=False: the history
    only)."""
    from pyspark.sql import functions as F

    from features.members.spark_session import require_spark, spark_session

    require_spark()
    started = time.perf_counter()
    uri, version = model_uri(model_name, version, alias)
    session = spark or spark_session(master)
    from models.churn.dataset import read_metadata

    rows, day = scoring_rows_spark(session, features or features_dir(), as_of)
    label = _model_label(uri)
    horizon = int(read_metadata(features or features_dir())["config"]["horizon_days"])
    rows, left_out = still_can_leave_spark(session, rows, day, label, horizon, lake)
    scored = scored_frame_spark(session, rows, uri)
    attributes = member_attributes_spark(session, lake or Lake.default())
    # Kept once computed: the sort samples its input before it sorts it, and the UDF is the cost.
    joined = scored.join(attributes, "member_id", "left").persist()
    ranked = joined.orderBy(F.desc("probability"), F.asc("member_id"))
    constants = {
        "as_of": pa.scalar(day, pa.date32()),
        "model_name": pa.scalar(model_name, pa.string()),
        "model_version": pa.scalar(version, pa.string()),
        "label": pa.scalar(label, pa.string()),
        "scored_at": pa.scalar(datetime.now(UTC), AT_RISK_SCHEMA.field("scored_at").type),
    }
    tiers: Counter[str] = Counter()

    def write(aside: Path) -> None:
        staging = aside.parent / f"{aside.name}.parts.tmp"  # swept with the aside file if killed
        try:
            # Each task writes its range of the sorted rows: part-00000 holds the highest risks.
            ranked.write.parquet(staging.as_uri(), compression="snappy")
            tiers.update(_concatenate(sorted(staging.glob("part-*.parquet")), constants, aside))
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    from pipelines.churn.score import publishes

    try:
        if publish and publishes(day):
            path = publish_at_risk(write)
            _write_history(path, day)
        else:
            path = _history_only(write, day)
    finally:
        joined.unpersist()
    return ScoreReport(
        path=path,
        as_of=day,
        rows=sum(tiers.values()),
        model_version=version,
        tiers={t: tiers.get(t, 0) for t in TIERS},
        seconds=time.perf_counter() - started,
        left_out=left_out,
    )


def score_range_spark(
    start: date,
    end: date,
    features: Path | None = None,
    model_name: str = MODEL_NAME,
    lake: Lake | UriLake | None = None,
    master: str | None = None,
    spark: SparkSession | None = None,
    version: str | None = None,
    alias: str | None = None,
) -> list[ScoreReport]:
    """score_range with Spark: every built date from start to end into the scored history,
    the at-risk table the latest of them (unless it holds a later date), all with one version."""
    from features.members.spark_session import require_spark, spark_session
    from pipelines.churn.score import dates_between, publishes

    require_spark()
    days = dates_between(features or features_dir(), start, end)
    _, found = model_uri(model_name, version, alias)  # one version for every date
    session = spark or spark_session(master)
    last = days[-1] if publishes(days[-1]) else None
    return [
        score_members_spark(
            d, features, model_name, lake, spark=session, version=found, publish=d == last
        )
        for d in days
    ]


def _write_history(at_risk: Path, day: date) -> Path:
    """Stream a written at-risk file into the scored history's partition of its date."""
    from features.scores.history import HISTORY_COMPRESSION, history_path
    from features.storage.publish import replace_file

    path = history_path(day)
    path.parent.mkdir(parents=True, exist_ok=True)

    def copy(aside: Path) -> None:
        source = pq.ParquetFile(at_risk)
        schema = source.schema_arrow
        kept = schema.remove(schema.get_field_index("as_of"))  # the folder names the date
        with pq.ParquetWriter(aside, kept, compression=HISTORY_COMPRESSION) as out:
            for batch in source.iter_batches(BATCH_ROWS):
                out.write_batch(batch.drop_columns(["as_of"]))

    return replace_file(path, copy)


def _history_only(write: Callable[[Path], None], day: date) -> Path:
    """Scores of a date before the latest: written aside, then streamed into the history."""
    from features.scores.history import history_dir

    history_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".spark-scores-", dir=history_dir()) as tmp:
        written = Path(tmp) / "scores.parquet"
        write(written)
        return _write_history(written, day)


def still_can_leave_spark(
    spark: SparkSession,
    rows: DataFrame,
    day: date,
    label: str,
    horizon: int,
    lake: Lake | UriLake | None,
) -> tuple[DataFrame, dict[str, int]]:
    """features.members.eligibility.can_still_leave on Spark: the rows of members who can still churn,
    and how many were left out, by reason."""
    from pyspark.sql import functions as F

    from features.members.eligibility import INACTIVE, NOT_SUBSCRIBED
    from features.members.spark import read_lake_files

    if label == "subscription":
        lake = lake or Lake.default()
        files = [str(f) for f in lake.files("subscriptions")]
        subs = read_lake_files(spark, lake, files, TABLES["subscriptions"].schema)
        on = F.lit(day).cast("date")
        running = subs.where(
            (F.to_date("start_at") <= on) & (F.col("end_at").isNull() | (F.to_date("end_at") > on))
        ).select("member_id")
        kept, reason = rows.join(running.distinct(), "member_id", "left_semi"), NOT_SUBSCRIBED
    else:
        since = F.col("days_since_last_activity")
        kept = rows.where(since.isNotNull() & (since < horizon))
        reason = INACTIVE.format(horizon=horizon)
    left = rows.count() - kept.count()
    return kept, ({reason: left} if left else {})


def _concatenate(parts: list[Path], constants: dict[str, pa.Scalar], out: Path) -> Counter[str]:
    """The sorted parts, in order, as one at-risk file; the members per tier it holds."""
    tiers: Counter[str] = Counter()
    with pq.ParquetWriter(out, AT_RISK_SCHEMA, compression="zstd") as writer:
        for part in parts:
            for batch in pq.ParquetFile(part).iter_batches(batch_size=BATCH_ROWS):
                n = batch.num_rows
                columns = {
                    name: pa.repeat(constants[name], n)
                    if name in constants
                    else batch.column(name).cast(AT_RISK_SCHEMA.field(name).type)
                    for name in AT_RISK_SCHEMA.names
                }
                writer.write_table(pa.table(columns, schema=AT_RISK_SCHEMA))
                tiers.update(batch.column("tier").to_pylist())
    return tiers


def _model_label(model_uri: str) -> str:
    """The churn label the model predicts (churned_activity or churned_subscription)."""
    from models.champions import load_churn_scorer

    return load_churn_scorer(model_uri).label
