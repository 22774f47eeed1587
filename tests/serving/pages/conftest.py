"""A server for the pages: the trained home's models, its own lake, queue and at-risk copy.

Decisions and recalibration write to a lake, a queue and a registered model of their own
(`steward-toxicity-pages`), so the shared server and its tests never see them. One member
of the at-risk copy carries hostile attributes and an intervention that is a formula.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

from serving.settings import ApiKey, hash_key
from tests.serving.conftest import KEYS, Home, settings_for
from tests.serving.server import Running, start

MODEL = "steward-toxicity-pages"
PAGE_KEYS = {
    **KEYS,
    "moderator": ("k-moderator-0123456789", ["posts:score", "posts:moderate"]),
    "lead": ("k-lead-0123456789", ["posts:score", "posts:moderate", "members:read", "admin"]),
}
HOSTILE = "<script>alert('pwned')</script>"
FORMULA = '=HYPERLINK("http://evil.example","click")'


@dataclass
class Pages:
    """The pages' server and where it keeps its state."""

    running: Running
    lake: Path
    queue: Path
    hostile_member: str

    @property
    def url(self) -> str:
        return self.running.url


def _at_risk_copy(home: Home, folder: Path) -> tuple[Path, str]:
    """The home's at-risk table with one member's attributes and intervention made hostile."""
    from features.scores.at_risk import at_risk_path

    frame = pd.read_parquet(at_risk_path())
    member = str(frame["member_id"].iloc[0])
    frame.loc[0, "attributes"] = json.dumps({"channel": HOSTILE, "country": "=1+2"})
    frame.loc[0, "intervention"] = FORMULA
    path = folder / "at_risk.parquet"
    frame.to_parquet(path, index=False)
    return path, member


def _seed_lake(home: Home, folder: Path) -> Path:
    """A lake holding the home's moderation decisions and posts (labels to recalibrate on)."""
    from features.lake.store import Lake

    source = Lake(home.root / "lake")
    lake = Lake(folder / "lake")
    with lake.transaction("seed", "seed") as txn:
        txn.write("posts", source.read("posts"))
        txn.write("moderation", source.read("moderation"))
    return lake.root


def _register_copy(home: Home) -> None:
    """The home's toxicity model registered again under MODEL, as its champion."""
    import mlflow
    from mlflow import MlflowClient

    version = mlflow.register_model(home.toxicity_uri, MODEL).version
    MlflowClient().set_registered_model_alias(MODEL, "champion", str(version))


@pytest.fixture(scope="package")
def pages(home: Home, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pages]:
    """The pages' server, started once for this package."""
    folder = tmp_path_factory.mktemp("pages")
    at_risk, member = _at_risk_copy(home, folder)
    lake = _seed_lake(home, folder)
    _register_copy(home)
    keys = [ApiKey(name=n, sha256=hash_key(k), scopes=s) for n, (k, s) in PAGE_KEYS.items()]  # type: ignore[arg-type]
    settings = settings_for(
        home,
        api_keys=keys,
        at_risk_path=at_risk,
        lake_path=lake,
        moderation_dir=folder / "moderation",
        toxicity_uri=f"models:/{MODEL}@champion",
    )
    running = start(settings)
    yield Pages(running, lake, folder / "moderation", member)
    running.stop()


def csrf_of(html: str) -> str:
    """The CSRF token in a page's first form."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def sign_in(url: str, kind: str) -> httpx.Client:
    """A client signed in through the form with one of the page keys."""
    client = httpx.Client(base_url=url, timeout=60)
    form = client.get("/ui/sign-in")
    answer = client.post(
        "/ui/sign-in",
        data={"csrf": csrf_of(form.text), "next": "/ui/moderation", "key": PAGE_KEYS[kind][0]},
    )
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture
def signed_in(pages: Pages) -> Iterator[dict[str, httpx.Client]]:
    """Signed-in clients by key kind, made on first use."""
    clients: dict[str, httpx.Client] = {}

    class Clients(dict[str, httpx.Client]):
        def __missing__(self, kind: str) -> httpx.Client:
            clients[kind] = self[kind] = sign_in(pages.url, kind)
            return clients[kind]

    yield Clients()
    for c in clients.values():
        c.close()
