"""The artifact catalog: the one place that knows where steward keeps what it stores.

Every stored table and file (the lake, member features, the at-risk table, the review queue,
MLflow's store) is named here, relative to STEWARD_HOME, so the CLI, the pipelines and the
server find the same files without each computing a path of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_VARIABLE = "STEWARD_HOME"
DEFAULT_HOME = ".steward"


def steward_home() -> Path:
    """STEWARD_HOME, or ./.steward when unset (read each call: nothing is fixed at import)."""
    return Path(os.environ.get(HOME_VARIABLE, DEFAULT_HOME)).resolve()


@dataclass(frozen=True)
class Catalog:
    """Paths of everything steward stores under one home folder."""

    home: Path

    @classmethod
    def default(cls) -> Catalog:
        """The catalog of STEWARD_HOME."""
        return cls(steward_home())

    @property
    def lake(self) -> Path:
        """The canonical Parquet tables and their manifest."""
        return self.home / "lake"

    @property
    def raw(self) -> Path:
        """Exports written by the simulator before they are ingested."""
        return self.home / "raw"

    @property
    def member_features(self) -> Path:
        """Member features and churn labels, partitioned by as_of."""
        return self.home / "features" / "member_features"

    @property
    def scores(self) -> Path:
        """Batch scoring output."""
        return self.home / "scores"

    @property
    def at_risk(self) -> Path:
        """The latest at-risk table (what `steward at-risk` and the server read)."""
        return self.scores / "at_risk.parquet"

    @property
    def scored_history(self) -> Path:
        """Scores per observation date (Hive layout as_of=YYYY-MM-DD), for backtests."""
        return self.home / "scored_history"

    @property
    def moderation(self) -> Path:
        """The moderators' review queue."""
        return self.home / "moderation"

    @property
    def mlflow_db(self) -> Path:
        """MLflow's SQLite tracking store and registry."""
        return self.home / "mlflow.db"

    @property
    def mlflow_artifacts(self) -> Path:
        """Artifacts of runs in the local store."""
        return self.home / "mlartifacts"

    @property
    def registry_lock(self) -> Path:
        """The lock file that serialises registry writes."""
        return self.home / "registry.lock"
