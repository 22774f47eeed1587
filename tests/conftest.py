"""Shared fixtures: a throwaway STEWARD_HOME and the real data folder beside the project."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Where the real public data sets live: STEWARD_SHARED_DATA or ../shared/data."""
    return Path(os.environ.get("STEWARD_SHARED_DATA", ROOT.parent / "shared" / "data"))


def require_shared(name: str) -> Path:
    """The folder of one real data set, or skip the test saying what is missing."""
    folder = shared_data_dir() / name
    if not folder.is_dir():
        pytest.skip(f"real data set {folder} is absent; see ../shared/data/README.md")
    return folder


@pytest.fixture
def steward_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh STEWARD_HOME for one test."""
    home = tmp_path / "steward"
    monkeypatch.setenv("STEWARD_HOME", str(home))
    return home


@contextmanager
def isolated_home(root: Path) -> Iterator[pytest.MonkeyPatch]:
    """STEWARD_HOME and MLflow's store pinned to root until the block ends (module fixtures)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STEWARD_HOME", str(root))
        # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI, which steward reads first: pin it
        # to this home, so that it points here and is put back when the block ends.
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        yield patch


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local[2] SparkSession for the whole run (starting one costs 5-15 s); skips without
    pyspark or Java, saying which."""
    from features.members.spark_session import spark_problem, spark_session

    problem = spark_problem()
    if problem is not None:
        pytest.skip(problem)
    with pytest.MonkeyPatch.context() as patch:
        # Only the JIT's quick tier: these jobs are short, and full JIT warm-up costs a JVM that
        # runs them for a minute about 20% (measured on this machine); results are unaffected.
        if "PYSPARK_SUBMIT_ARGS" not in os.environ:
            patch.setenv(
                "PYSPARK_SUBMIT_ARGS", "--driver-java-options -XX:TieredStopAtLevel=1 pyspark-shell"
            )
        session = spark_session("local[2]", app_name="steward-tests")
    yield session
    session.stop()
