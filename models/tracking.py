"""MLflow wiring: a SQLite tracking store and artifact folder under STEWARD_HOME.

Nothing here runs at import time; `configure_tracking()` is called by each pipeline step.
`MLFLOW_TRACKING_URI` overrides the local store (a tracking server in production).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from features.storage.catalog import Catalog
from features.storage.failpoints import failpoint
from features.storage.locks import exclusive_lock

# Tags that say which process owns a run, so that the next training can tell a run whose
# process was killed (left RUNNING forever by MLflow) from one still going.
OWNER_HOST, OWNER_PID, OWNER_STARTED = "steward.host", "steward.pid", "steward.pid_started"


# A version tag: the run that made it stopped early (killed, or at a limit the user set).
# Such a version is never promoted.
INCOMPLETE_TAG = "steward.incomplete"


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, or a SQLite store at STEWARD_HOME/mlflow.db."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Catalog.default().mlflow_db}"


def artifact_root() -> Path:
    """Where runs of the local store keep their artifacts."""
    return Catalog.default().mlflow_artifacts


@contextlib.contextmanager
def registry_lock() -> Iterator[None]:
    """Serialise registry writes of the processes sharing this STEWARD_HOME.

    MLflow has no compare-and-set on aliases: two trainings that both read the champion and
    both move the alias would leave whichever wrote last, not the better one. An flock is
    released by the kernel when its holder dies, so a killed training never blocks the next.
    """
    catalog = Catalog.default()
    catalog.home.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(catalog.registry_lock):
        yield


def configure_tracking() -> str:
    """Point MLflow at steward's store (creating STEWARD_HOME) and return the URI."""
    import mlflow

    # No usage pings from an offline machine; they only add latency and log noise.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    home = Catalog.default().home
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
    if uri.startswith("sqlite:"):
        _open_store()
    return uri


def _open_store() -> None:
    """Open the SQLite store once under the lock: two processes creating its tables at once fail."""
    from mlflow import MlflowClient

    with registry_lock():
        MlflowClient().search_experiments(max_results=1)


def use_experiment(name: str) -> str:
    """Select (creating if needed) an experiment whose artifacts live under STEWARD_HOME."""
    import re

    import mlflow

    from models.config import SAFE_NAME

    if not re.match(SAFE_NAME, name):  # the name becomes a folder under mlartifacts/
        raise ValueError(f"experiment name {name!r}: use letters, digits, '.', '_' and '-'")
    with registry_lock():  # two first trainings must not both create the experiment
        found = mlflow.get_experiment_by_name(name)
        if found is None:
            location = (artifact_root() / name).as_uri()
            experiment_id = mlflow.create_experiment(name, artifact_location=location)
        else:
            experiment_id = found.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return str(experiment_id)


@contextlib.contextmanager
def owned_run(experiment_id: str, run_name: str, nested: bool = False) -> Iterator[Any]:
    """mlflow.start_run in this experiment, after closing its runs whose process was killed."""
    import mlflow

    close_abandoned_runs(experiment_id)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, nested=nested) as run:
        mlflow.set_tags(_owner_tags(os.getpid()))
        failpoint("train.run_started")
        yield run


def _owner_tags(pid: int) -> dict[str, str]:
    """Host, pid and the pid's start time: a reused pid is not mistaken for the owner."""
    import psutil

    started = psutil.Process(pid).create_time()
    return {OWNER_HOST: socket.gethostname(), OWNER_PID: str(pid), OWNER_STARTED: f"{started:.2f}"}


def _owner_alive(tags: dict[str, str]) -> bool:
    """True unless the tags name a process on this host that no longer exists."""
    import psutil

    if tags.get(OWNER_HOST) != socket.gethostname() or OWNER_PID not in tags:
        return True  # another machine's run, or not started by steward: not ours to judge
    pid = int(tags[OWNER_PID])
    try:
        started = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return False
    return f"{started:.2f}" == tags.get(OWNER_STARTED)


def close_abandoned_runs(experiment_id: str) -> list[str]:
    """Mark KILLED the RUNNING runs whose process is gone; tag the versions they registered.

    KILLED, not FAILED: the run did not raise, its process was stopped from outside. A
    version registered by such a run never got the champion rule applied; the tag says so, and
    nothing promotes it (the next training compares itself with the champion only).
    """
    from mlflow import MlflowClient
    from mlflow.entities import RunStatus

    client = MlflowClient()
    running = client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
    )
    closed = []
    for run in running:
        if _owner_alive(run.data.tags):
            continue
        client.set_tag(run.info.run_id, "steward.closed", "its process died before the run ended")
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
        for version in client.search_model_versions(f"run_id = '{run.info.run_id}'"):
            client.set_model_version_tag(
                version.name, version.version, INCOMPLETE_TAG, "training was killed"
            )
        closed.append(run.info.run_id)
    return closed


def quiet_mlflow() -> None:
    """MLflow's INFO and WARNING lines (database setup, pickling notes) are noise on a terminal."""
    import logging

    import mlflow  # noqa: F401 (mlflow sets its loggers up on import: quiet them after)

    logging.getLogger("mlflow").setLevel(logging.ERROR)
