"""Champion/challenger through a real MLflow SQLite registry in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest

from models.registry import champion_version, register_and_promote, set_champion
from models.tracking import configure_tracking, tracking_uri, use_experiment


class Constant(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """A model whose quality is a number: enough to test promotion."""

    def __init__(self, quality: float) -> None:
        self.quality = quality

    def predict(self, context: object, model_input: pd.DataFrame) -> list[float]:
        return [self.quality] * len(model_input)


def _log(quality: float) -> str:
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=Constant(quality), pip_requirements=[]
        )
    return str(info.model_uri)


def _score(uri: str) -> float:
    return float(mlflow.pyfunc.load_model(uri).predict([0])[0])


@pytest.fixture
def tracking(steward_home: Path) -> str:
    uri = configure_tracking()
    use_experiment("registry-test")
    return uri


def test_store_lives_under_steward_home(tracking: str, steward_home: Path) -> None:
    assert tracking == tracking_uri() == f"sqlite:///{steward_home / 'mlflow.db'}"
    _log(0.5)
    run = mlflow.last_active_run()
    assert run is not None
    # Artifacts go under STEWARD_HOME, not ./mlruns in whatever folder the user stood in.
    assert run.info.artifact_uri.startswith((steward_home / "mlartifacts").as_uri())


def test_champion_moves_only_when_beaten_and_rollback_works(tracking: str) -> None:
    first = register_and_promote(_log(0.70), "steward-test", 0.70, _score)
    assert first.promoted and champion_version("steward-test") == first.version

    worse = register_and_promote(_log(0.60), "steward-test", 0.60, _score)
    assert not worse.promoted and worse.champion_score == pytest.approx(0.70)
    assert champion_version("steward-test") == first.version

    better = register_and_promote(_log(0.80), "steward-test", 0.80, _score)
    assert better.promoted and champion_version("steward-test") == better.version

    forced = register_and_promote(_log(0.10), "steward-test", 0.10, _score, force=True)
    assert forced.promoted and champion_version("steward-test") == forced.version

    # Every version stays in the registry: rollback is moving the alias back.
    set_champion("steward-test", better.version)
    assert _score("models:/steward-test@champion") == pytest.approx(0.80)


def test_a_cut_short_model_is_tagged_and_never_champion_even_forced(tracking: str) -> None:
    from mlflow import MlflowClient

    from models.tracking import INCOMPLETE_TAG

    why = "transformer stopped by time_limit_minutes after 3 of 10 steps"
    alone = register_and_promote(_log(0.9), "steward-cut", 0.9, _score, incomplete=why)
    assert not alone.promoted and champion_version("steward-cut") is None  # not even the first
    done = register_and_promote(_log(0.5), "steward-cut", 0.5, _score)
    cut = register_and_promote(_log(0.99), "steward-cut", 0.99, _score, force=True, incomplete=why)
    assert not cut.promoted and "incomplete" in cut.reason
    assert champion_version("steward-cut") == done.version
    tags = MlflowClient().get_model_version("steward-cut", cut.version).tags
    assert tags[INCOMPLETE_TAG] == why
