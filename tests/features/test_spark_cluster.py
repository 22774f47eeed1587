"""steward on a Spark cluster, as a person runs it: lake pushed to S3, features built and members
scored by executors in their own processes (a standalone master and worker on this machine)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from bench.spark_cluster import standalone_cluster
from features.lake.store import Lake
from features.lake.uri import UriLake
from features.members.build import build_member_features
from features.members.spark_session import spark_problem
from features.members.store import read_features
from models.churn.config import ChurnConfig, LgbmParams
from pipelines.churn.score import score_members
from pipelines.churn.train import train_churn
from tests.conftest import isolated_home
from tests.features.conftest import SECRET
from tests.support.cli import steward_script
from tests.support.spark import differences

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The master URL of a standalone cluster with one 2-core worker."""
    problem = spark_problem()
    if problem is not None:
        pytest.skip(problem)
    with standalone_cluster(tmp_path_factory.mktemp("cluster"), cores=2, memory="2g") as url:
        yield url


def test_a_cluster_builds_and_scores_from_a_lake_in_s3(
    tmp_path: Path, s3: str, cluster: str
) -> None:
    home = tmp_path / "home"
    uri = s3.format("cluster")
    assert steward_script(home, "simulate", "--members", "1000", "--days", "120").returncode == 0
    pushed = steward_script(home, "lake", "push", uri)
    assert pushed.returncode == 0, pushed.stderr
    built = steward_script(
        home,
        *("features", "build", "--every", "14d", "--engine", "spark"),
        *("--master", cluster, "--lake", uri),
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    assert SECRET not in built.stdout + built.stderr
    features = home / "features" / "member_features"
    expected = tmp_path / "duckdb"
    build_member_features(Lake(home / "lake"), expected, every_days=14, engine="sql")
    assert differences(read_features(expected), read_features(features)) == []
    assert UriLake(uri).snapshot_id() == Lake(home / "lake").snapshot_id()

    with isolated_home(home):
        config = ChurnConfig(name="cluster", features=features, model=LgbmParams(num_threads=1))
        assert train_churn(config).promoted
        score_members()
    local = pq.read_table(home / "scores" / "at_risk.parquet").drop_columns(["scored_at"])
    scored = steward_script(
        home,
        *("score", "members", "--engine", "spark", "--master", cluster, "--lake", uri),
        timeout=600,
    )
    assert scored.returncode == 0, scored.stderr
    on_cluster = pq.read_table(home / "scores" / "at_risk.parquet").drop_columns(["scored_at"])
    assert on_cluster.num_rows > 500
    # Member attributes came from the lake in S3; probabilities, tiers and reasons from the UDF.
    assert on_cluster.equals(local)
