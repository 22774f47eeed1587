"""Scoring members with the champion as a Spark UDF writes the default path's at-risk table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.members.build import build_member_features
from features.scores.at_risk import AT_RISK_COLUMNS, at_risk_path
from models.churn.config import ChurnConfig, LgbmParams
from pipelines.churn.score import score_members
from pipelines.churn.train import train_churn
from tests.conftest import isolated_home
from tests.support.lakes import simulated_lake
from tests.support.spark import every_shuffle_partition


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A STEWARD_HOME with a simulated lake, its features and a LightGBM champion."""
    root = tmp_path_factory.mktemp("spark-score-home")
    with isolated_home(root):
        lake = simulated_lake(root, members=2_000, days=120)
        features = root / "features" / "member_features"
        build_member_features(lake, features, every_days=14)
        # One LightGBM thread: two OpenMP threads collapse when the other core is busy.
        config = ChurnConfig(
            name="spark-parity", features=features, model=LgbmParams(num_threads=1)
        )
        assert train_churn(config).promoted
        yield root


def scored_table(path: Path) -> pa.Table:
    """The at-risk table without scored_at (the only column that depends on when it ran)."""
    return pq.read_table(path).drop_columns(["scored_at"])


def test_spark_udf_scores_write_the_default_at_risk_table(
    home: Path, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.churn import spark_scoring

    default = score_members()
    expected = scored_table(at_risk_path())
    concatenate, joined = spark_scoring._concatenate, []

    def counted(parts: list[Path], *args: Any) -> Any:
        joined.append(len(parts))  # how many sorted files the driver streamed, in order
        return concatenate(parts, *args)

    monkeypatch.setattr(spark_scoring, "_concatenate", counted)
    # All shuffle partitions kept: the sorted rows arrive in several files, joined in order.
    with every_shuffle_partition(spark):
        report = spark_scoring.score_members_spark(spark=spark)
    assert joined and joined[0] > 1, joined
    found = scored_table(report.path)
    assert report.path == at_risk_path()
    assert pq.read_schema(report.path).names == list(AT_RISK_COLUMNS)
    assert (report.rows, report.as_of, report.tiers) == (default.rows, default.as_of, default.tiers)
    assert report.left_out == default.left_out
    assert found.schema == expected.schema
    assert found["probability"].to_pylist() == expected["probability"].to_pylist()
    assert found.equals(expected)
    # Not a table of empty reasons: most members at risk are given at least one.
    assert sum(bool(r) for r in found["reasons"].to_pylist()) > found.num_rows // 2


def test_spark_scoring_without_a_champion_is_one_clear_error(tmp_path: Path, spark: Any) -> None:
    from pipelines.churn.spark_scoring import score_members_spark

    with (
        isolated_home(tmp_path),
        pytest.raises(ValueError, match=r"^no champion for steward-churn"),
    ):
        score_members_spark(spark=spark)


def test_spark_leaves_out_the_same_members_as_local_scoring(tmp_path: Path, spark: Any) -> None:
    from datetime import UTC, date, datetime

    import numpy as np
    import pandas as pd

    from features.lake.store import Lake
    from features.members.eligibility import can_still_leave, subscribed_on
    from features.schemas import SUBSCRIPTIONS
    from pipelines.churn.spark_scoring import still_can_leave_spark

    def ts(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, 23, 30, tzinfo=UTC)

    day = date(2020, 5, 10)
    periods = [
        ("ended", date(2020, 3, 1), date(2020, 5, 1)),
        ("open", date(2020, 3, 1), None),
        ("ends_today", date(2020, 4, 10), day),
        ("renews", date(2020, 4, 20), date(2020, 5, 11)),
        ("later", date(2020, 6, 1), None),
    ]
    subs = pa.Table.from_pylist(
        [
            {"member_id": m, "start_at": ts(a), "end_at": None if b is None else ts(b)}
            for m, a, b in periods
        ],
        schema=SUBSCRIPTIONS.schema,
    )
    lake = Lake(tmp_path / "lake")
    with lake.transaction("test", "fp") as txn:
        txn.write("subscriptions", subs)
    frame = pd.DataFrame(
        {
            "member_id": ["ended", "open", "ends_today", "renews", "later", "none"],
            "days_since_last_activity": [3.0, 40.0, np.nan, 29.0, 30.0, 1.0],
        }
    )
    rows = spark.createDataFrame(frame)
    for label in ("subscription", "activity"):
        keep, left_out = can_still_leave(
            frame, label, 30, subscribed_on(lake.read("subscriptions"), day)
        )
        kept, found = still_can_leave_spark(spark, rows, day, label, 30, lake)
        assert sorted(r.member_id for r in kept.collect()) == sorted(frame["member_id"][keep])
        assert found == left_out
    assert sorted(frame["member_id"][keep]) == ["ended", "none", "renews"]


def test_spark_scores_a_range_into_the_same_history_as_local_scoring(
    home: Path, spark: Any
) -> None:
    # --engine spark --from/--to --model-version: every date's scored history and the latest
    # at-risk table are local scoring's rows, from the version asked for.
    import shutil
    from datetime import date

    from features.scores.history import history_dates, history_dir, history_path
    from pipelines.churn.score import dates_between, score_range
    from pipelines.churn.spark_scoring import score_range_spark

    days = dates_between(home / "features" / "member_features", date.min, date.max)[-3:]
    score_range(days[0], days[-1])
    expected = {d: scored_table(history_path(d)) for d in days}
    latest = scored_table(at_risk_path())
    shutil.rmtree(history_dir())
    reports = score_range_spark(days[0], days[-1], spark=spark, version="1")
    assert [r.as_of for r in reports] == days
    assert {r.model_version for r in reports} == {"1"}
    assert history_dates(history_dir()) == days
    # Nothing else left in the history's folder (the aside files of earlier dates are gone).
    assert sorted(p.name for p in history_dir().iterdir()) == [f"as_of={d}" for d in days]
    for d in days:
        assert scored_table(history_path(d)).equals(expected[d]), d
    assert scored_table(at_risk_path()).equals(latest)
    # Each date its own scores, not one date's written three times.
    assert len({tuple(expected[d]["probability"].to_pylist()) for d in days}) == len(days)


def test_spark_scoring_with_a_version_that_does_not_exist_names_it(home: Path, spark: Any) -> None:
    from pipelines.churn.spark_scoring import score_members_spark

    with pytest.raises(ValueError, match=r"^steward-churn has no version 99: see"):
        score_members_spark(spark=spark, version="99")
    with pytest.raises(ValueError, match=r"^steward-churn has no alias 'nope': see"):
        score_members_spark(spark=spark, alias="nope")
