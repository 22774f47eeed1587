"""`steward score members --engine spark`: the churn champion as a Spark UDF over the features.

The member rows of one as_of are read with spark.read from the feature build, scored by
mlflow.pyfunc.spark_udf over the champion (the same ChurnPyfunc, so the same probability, tier
and reasons as the default path), collected as Arrow and written by pipelines.churn's
at_risk_rows and write_at_risk: the same columns and the same atomic swap.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from features.lake import Lake
from models.churn.config import MODEL_NAME
from pipelines.churn import ScoreReport, at_risk_rows, publish_scores
from pipelines.steps import features_dir

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from features.uri_lake import UriLake

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


def champion_uri(model_name: str = MODEL_NAME) -> tuple[str, str]:
    """models:/NAME/VERSION of the champion now, and its version (one lookup, so they agree)."""
    from models.registry import champion_version
    from models.tracking import configure_tracking

    configure_tracking()
    version = champion_version(model_name)
    if version is None:
        raise ValueError(
            f"no champion for {model_name}: run `steward train churn --config FILE` first"
        )
    return f"models:/{model_name}/{version}", version


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


def score_frame_spark(spark: SparkSession, rows: DataFrame, model_uri: str) -> pa.Table:
    """member_id and the champion's output columns for every row, as Arrow."""
    import mlflow
    from pyspark.sql import functions as F

    udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=RESULT_TYPE, env_manager="local")
    inputs = mlflow.models.get_model_info(model_uri).signature.inputs.input_names()
    # The signature wants doubles (integer features with NULLs are NaN, as in model_input).
    struct = F.struct(*(F.col(c).cast("double").alias(c) for c in inputs))
    scored = rows.select("member_id", udf(struct).alias("s")).select("member_id", "s.*")
    table = scored.toArrow()
    return table.cast(pa.schema([("member_id", pa.string()), *SCORED_TYPES.items()]))


def score_members_spark(
    as_of: date | None = None,
    features: Path | None = None,
    model_name: str = MODEL_NAME,
    lake: Lake | UriLake | None = None,
    master: str | None = None,
    spark: SparkSession | None = None,
) -> ScoreReport:
    """score_members with a Spark UDF: the same at-risk table, swapped in the same way."""
    from features.spark_session import require_spark, spark_session

    require_spark()
    started = time.perf_counter()
    model_uri, version = champion_uri(model_name)
    session = spark or spark_session(master)
    rows, day = scoring_rows_spark(session, features or features_dir(), as_of)
    scored = score_frame_spark(session, rows, model_uri)
    frame = pd.DataFrame({"member_id": scored["member_id"].to_pylist()})
    label = _model_label(model_uri)
    table = at_risk_rows(frame, scored, day, model_name, version, label, lake)
    return publish_scores(table, scored, day, version, started)


def _model_label(model_uri: str) -> str:
    """The churn label the model predicts (churned_activity or churned_subscription)."""
    from pipelines.churn import load_scorer

    return load_scorer(model_uri).label
