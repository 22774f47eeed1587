"""MLflow wiring: a SQLite tracking store and artifact folder under STEWARD_HOME.

Nothing here runs at import time; `configure_tracking()` is called by each pipeline step.
`MLFLOW_TRACKING_URI` overrides the local store (a tracking server in production).
"""

from __future__ import annotations

import os
from pathlib import Path

from features.lake import steward_home


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, or a SQLite store at STEWARD_HOME/mlflow.db."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{steward_home() / 'mlflow.db'}"


def artifact_root() -> Path:
    """Where runs of the local store keep their artifacts."""
    return steward_home() / "mlartifacts"


def configure_tracking() -> str:
    """Point MLflow at steward's store (creating STEWARD_HOME) and return the URI."""
    import mlflow

    # No usage pings from an offline machine; they only add latency and log noise.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    home = steward_home()
    home.mkdir(parents=True, exist_ok=True)
    uri = tracking_uri()
    chosen_by_user = "MLFLOW_TRACKING_URI" in os.environ
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if not chosen_by_user:
        # mlflow.set_tracking_uri exports the variable; left there it would outrank a later
        # STEWARD_HOME (tests, or a second home in the same process).
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
    return uri


def use_experiment(name: str) -> str:
    """Select (creating if needed) an experiment whose artifacts live under STEWARD_HOME."""
    import mlflow

    found = mlflow.get_experiment_by_name(name)
    if found is None:
        location = (artifact_root() / name).as_uri()
        experiment_id = mlflow.create_experiment(name, artifact_location=location)
    else:
        experiment_id = found.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return str(experiment_id)
