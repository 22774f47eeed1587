"""One trained home and one real uvicorn server shared by the serving tests.

The home holds a simulated community, its features, a LightGBM churn champion with its
at-risk table and a linear toxicity champion, all in a real MLflow registry under tmp.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from serving.settings import ApiKey, ServeSettings, hash_key
from tests.conftest import isolated_home
from tests.serving.server import Running, start

KEYS = {
    "posts": ("k-posts-0123456789", ["posts:score"]),
    "members": ("k-members-0123456789", ["members:read"]),
    "admin": ("k-admin-0123456789", ["admin"]),
    "all": ("k-all-0123456789", ["posts:score", "members:read", "admin"]),
}


@dataclass
class Home:
    """What the trained home holds."""

    root: Path
    features: Path
    toxicity_uri: str


def settings_for(home: Home, **overrides: object) -> ServeSettings:
    """Server settings with the test keys; overrides win."""
    keys = [ApiKey(name=n, sha256=hash_key(k), scopes=s) for n, (k, s) in KEYS.items()]  # type: ignore[arg-type]
    values: dict[str, object] = {"api_keys": keys, "batch_max_wait_ms": 5.0, **overrides}
    return ServeSettings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="package")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    """Train the churn and toxicity champions once for the whole package."""
    from models.churn.config import ChurnConfig, LgbmParams
    from models.toxicity.config import DataConfig, ToxicityConfig
    from models.tracking import quiet_mlflow
    from pipelines.churn.score import score_members
    from pipelines.churn.train import train_churn
    from pipelines.toxicity.train import train_from_config
    from tests.support.lakes import churn_lake

    root = tmp_path_factory.mktemp("serving-home")
    with isolated_home(root):
        quiet_mlflow()
        _, features = churn_lake(root)
        train_churn(
            ChurnConfig(name="serve-lgbm", features=features, model=LgbmParams(num_threads=1))
        )
        score_members(features=features)
        data = DataConfig(
            sources=["simulator", "seed"], eval_only=[], max_rows_per_source=4_000, min_positives=10
        )
        toxicity = train_from_config(
            ToxicityConfig(name="serve-linear", data=data), log=lambda _: None
        )
        yield Home(root, features, toxicity.model_uri)


@pytest.fixture(scope="package")
def server(home: Home) -> Iterator[Running]:
    """The shared server: every component, the test keys, default limits."""
    running = start(settings_for(home))
    yield running
    running.stop()


@pytest.fixture
def client(server: Running) -> Iterator[httpx.Client]:
    """A client of the shared server (no key set)."""
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def auth(kind: str) -> dict[str, str]:
    """The Authorization header for one of the test keys."""
    return {"Authorization": f"Bearer {KEYS[kind][0]}"}
