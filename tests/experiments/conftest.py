"""A tiny simulated community with member features, and an MLflow store, per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from features.adapters.canonical import CanonicalFolderSource
from features.lake.store import Lake
from features.members.build import build_member_features
from features.synthetic.simulator import simulate, write_community
from pipelines.ingest import ingest_source
from tests.conftest import isolated_home

# Small enough for about 2 s of set-up; enough churners for a stable AUC on the validation date.
MEMBERS, DAYS, SEED = 1_500, 120, 7


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A STEWARD_HOME (lake, features, MLflow store) for one test module."""
    root = tmp_path_factory.mktemp("experiments-home")
    with isolated_home(root) as patch:
        patch.setenv("STEWARD_NO_PROGRESS", "1")
        yield root


@pytest.fixture(scope="module")
def features(home: Path) -> Path:
    """Member features every 14 days of a simulated community."""
    raw = home / "raw"
    write_community(simulate(members=MEMBERS, days=DAYS, seed=SEED), raw)
    lake = Lake(home / "lake")
    ingest_source(lake, CanonicalFolderSource(raw, name="simulator"))
    out = home / "features" / "member_features"
    build_member_features(lake, out, every_days=14)
    return out


def churn_file(folder: Path, stem: str, features: Path, extra: str = "") -> Path:
    """A churn experiment file on the given features, one LightGBM thread, a 2-key sweep."""
    path = folder / f"{stem}.yaml"
    path.write_text(
        f"""task: churn
name: {stem.replace("_", "-")}
features: {features}
model:
  kind: lgbm
  num_threads: 1
sweep:
  metric: roc_auc
  direction: maximize
  params:
    model.num_leaves: {{type: int, low: 3, high: 15}}
    model.learning_rate: {{type: float, low: 0.02, high: 0.3, log: true}}
{extra}"""
    )
    return path
