"""The feature SQL on Apache Spark gives DuckDB's table: same rows, same values, same files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from features.lake.store import Lake
from features.members.build import build_member_features
from features.members.definition import FEATURE_COLUMNS
from features.members.spark_session import SparkUnavailable, require_spark, spark_problem
from features.members.store import read_features
from tests.support.lakes import simulated_lake, with_birth_days, with_custom_events
from tests.support.spark import assert_same_build, differences, every_shuffle_partition


def build_both(lake: Lake, out: Path, spark: Any) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """The sql engine's and the Spark engine's tables as written, and both _features.json."""
    from features.members.spark import build_member_features_spark

    build_member_features(lake, out / "duckdb", every_days=14, engine="sql")
    report = build_member_features_spark(lake, out / "spark", every_days=14, spark=spark)
    assert report.rows > 0 and report.events > 0
    meta = {
        engine: json.loads((out / engine / "_features.json").read_text())
        for engine in ("duckdb", "spark")
    }
    return read_features(out / "duckdb"), read_features(out / "spark"), meta


def test_spark_builds_duckdbs_table_on_10k_rows(tmp_path: Path, spark: Any) -> None:
    lake = with_birth_days(with_custom_events(simulated_lake(tmp_path, members=2_000, days=120)))
    with every_shuffle_partition(spark):
        duckdb_table, spark_table, meta = build_both(lake, tmp_path / "features", spark)
    # Written by the tasks, not collected: dates split over several tasks' files read back whole.
    written = (tmp_path / "features" / "spark").resolve()
    files = {d.name: len(list(d.glob("*.parquet"))) for d in written.glob("as_of=*")}
    assert max(files.values()) > 1, files
    assert not (written / "_SUCCESS").exists()
    assert 8_000 <= duckdb_table.num_rows <= 14_000
    # The community exercises what is easy to get wrong: NULL days_since, ratios and labels.
    names = ("days_since_last_post", "replies_received_per_post_30d", "churned_activity")
    for name in (*names, "days_since_last_x_rsvp", "days_since_last_x_share_link", "age_years"):
        assert 0 < duckdb_table[name].null_count < duckdb_table.num_rows, name
    assert_same_build(duckdb_table, spark_table, meta)


def test_differences_catches_a_changed_double_and_a_changed_count() -> None:
    table = pa.table({"x": pa.array([1.0, None, 0.5]), "n": pa.array([1, 2, 3], pa.int64())})
    nudged = table.set_column(0, "x", pa.array([1.0, None, 0.5 + 1e-6]))
    assert differences(table, table) == []
    assert differences(table, nudged) == ["x: 1 rows, first 0.5 != 0.500001"]
    recounted = table.set_column(1, "n", pa.array([1, 2, 4], pa.int64()))
    assert differences(table, recounted) == ["n: 1 rows, first 3 != 4"]
    assert differences(table, table.cast(pa.schema([("x", pa.float32()), ("n", pa.int64())])))


def test_missing_java_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'steward[spark]')")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    problem = spark_problem()
    assert problem is not None and problem.startswith("Java is not installed")
    with pytest.raises(SparkUnavailable, match=r"^Java is not installed"):
        require_spark()
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert spark_problem() == problem


@pytest.mark.slow
def test_spark_builds_duckdbs_table_at_scale(tmp_path: Path, spark: Any) -> None:
    members = int(os.environ.get("STEWARD_SPARK_PARITY_MEMBERS", "20000"))
    lake = simulated_lake(tmp_path, members=members, days=180, seed=5)
    duckdb_table, spark_table, meta = build_both(lake, tmp_path / "features", spark)
    assert duckdb_table.num_rows > 50_000
    assert set(FEATURE_COLUMNS) <= set(spark_table.schema.names)
    assert_same_build(duckdb_table, spark_table, meta)
