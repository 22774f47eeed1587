"""A reload that meets a damaged model or table keeps the old one serving, and says why.

A server of its own follows the `reload-test` alias (not `champion`, which the other serving
tests rely on) and an at-risk table copied into tmp. Each damaged version is a real copy of the
good version's artifact folder, registered in the real MLflow store, then broken on disk:
overwritten with garbage, truncated, or deleted.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from tests.serving.conftest import Home, auth, settings_for
from tests.serving.server import Running, start

ALIAS = "reload-test"
NAMES = {"toxicity": "steward-toxicity", "churn": "steward-churn"}
POST = {"posts": [{"id": "a", "text": "You are a pathetic idiot."}, {"id": "b", "text": "Thanks!"}]}
MEMBER = {"member_id": "m", "features": {"n_post_30d": 3.0, "days_since_last_activity": 9.0}}


def _garbage(folder: Path) -> None:
    """Every file of the model overwritten with bytes that are no pickle, YAML or Parquet."""
    for path in folder.rglob("*"):
        if path.is_file():
            path.write_bytes(b"\x00garbage\xff" * 64)


def _truncated(folder: Path) -> None:
    """The model's pickled payloads cut to half their length (an interrupted copy)."""
    payloads = [p for p in folder.rglob("*.pkl")] or [p for p in folder.rglob("*") if p.is_file()]
    for path in payloads:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])


def _deleted(folder: Path) -> None:
    """The model's artifact folder gone (a cleaned disk, a lost volume)."""
    shutil.rmtree(folder)


DAMAGES: dict[str, Callable[[Path], None]] = {
    "garbage": _garbage,
    "truncated": _truncated,
    "deleted": _deleted,
}


def _register_copy(part: str, tmp: Path, name: str) -> str:
    """A new version of part whose artifacts are a private copy of the good version's."""
    good = _good_versions()[part]
    folder = mlflow.artifacts.download_artifacts(
        f"models:/{NAMES[part]}/{good}", dst_path=str(tmp / name)
    )
    return str(MlflowClient().create_model_version(NAMES[part], source=folder).version)


_GOOD: dict[str, str] = {}


def _good_versions() -> dict[str, str]:
    """The champion versions when this module started (what `reload-test` first names)."""
    return _GOOD


@pytest.fixture(scope="module")
def faulty(home: Home, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """A server following the reload-test alias and a private at-risk table."""
    client = MlflowClient()
    for part, name in NAMES.items():
        _GOOD[part] = str(client.get_model_version_by_alias(name, "champion").version)
        client.set_registered_model_alias(name, ALIAS, _GOOD[part])
    table = tmp_path_factory.mktemp("at-risk") / "at_risk.parquet"
    shutil.copyfile(home.root / "scores" / "at_risk.parquet", table)
    settings = settings_for(
        home,
        toxicity_uri=f"models:/{NAMES['toxicity']}@{ALIAS}",
        churn_uri=f"models:/{NAMES['churn']}@{ALIAS}",
        at_risk_path=table,
    )
    running = start(settings)
    yield running
    running.stop()
    for name in NAMES.values():
        client.delete_registered_model_alias(name, ALIAS)


def _scores(c: httpx.Client) -> dict[str, Any]:
    """What the server answers now: versions and scores of both models, and the at-risk page."""
    posts = c.post("/v1/posts:score", json=POST, headers=auth("posts"))
    member = c.post("/v1/members:score", json=MEMBER, headers=auth("members"))
    page = c.get("/v1/members/at-risk", params={"limit": 5}, headers=auth("members"))
    for answer in (posts, member, page):
        assert answer.status_code == 200, answer.text
    body = posts.json()
    return {
        "toxicity": body["model"]["version"],
        "posts": body["posts"],
        "churn": member.json()["model"]["version"],
        "member": member.json()["probability"],
        "at_risk": page.json(),
    }


def _reload(c: httpx.Client) -> httpx.Response:
    """POST /v1/admin/reload with the admin key."""
    return c.post("/v1/admin/reload", headers=auth("admin"))


@pytest.mark.parametrize("damage", list(DAMAGES))
@pytest.mark.parametrize("part", list(NAMES))
def test_a_damaged_new_version_keeps_the_old_one_serving(
    faulty: Running, tmp_path: Path, part: str, damage: str
) -> None:
    with httpx.Client(base_url=faulty.url, timeout=120) as c:
        before = _scores(c)
        broken = _register_copy(part, tmp_path, f"{part}-{damage}")
        DAMAGES[damage](tmp_path / f"{part}-{damage}")
        MlflowClient().set_registered_model_alias(NAMES[part], ALIAS, broken)
        try:
            answer = _reload(c)
            assert answer.status_code == 500, answer.text
            error = answer.json()["error"]
            assert list(error["failed"]) == [part]
            assert f"reload failed for {part}" in error["message"]
            assert (
                f"Still serving the previous {part} {NAMES[part]} v{before[part]}"
                in (error["message"])
            )
            assert _scores(c) == before  # same versions, the very same scores
            ready = c.get("/readyz").json()
            assert ready["ready"] is True and list(ready["errors"]) == [part]
            assert ready["models"][part]["version"] == before[part]
        finally:
            MlflowClient().set_registered_model_alias(NAMES[part], ALIAS, _GOOD[part])


@pytest.mark.parametrize("part", list(NAMES))
def test_once_fixed_a_reload_picks_up_the_good_version(
    faulty: Running, tmp_path: Path, part: str
) -> None:
    with httpx.Client(base_url=faulty.url, timeout=120) as c:
        before = _scores(c)
        broken = _register_copy(part, tmp_path, "broken")
        _garbage(tmp_path / "broken")
        MlflowClient().set_registered_model_alias(NAMES[part], ALIAS, broken)
        assert _reload(c).status_code == 500
        fixed = _register_copy(part, tmp_path, "fixed")  # the fix: a good artifact, promoted
        MlflowClient().set_registered_model_alias(NAMES[part], ALIAS, fixed)
        answer = _reload(c)
        assert answer.status_code == 200, answer.text
        assert answer.json()["models"][part]["version"] == fixed
        assert c.get("/readyz").json()["errors"] == {}
        after = _scores(c)
        assert after[part] == fixed and after[part] != before[part]
        assert {k: v for k, v in after.items() if k != part} == {
            k: v for k, v in before.items() if k != part
        }  # a copy of the same model: the same scores under a new version
        MlflowClient().set_registered_model_alias(NAMES[part], ALIAS, _GOOD[part])
        assert _reload(c).status_code == 200


@pytest.mark.parametrize("damage", ["garbage", "truncated", "deleted"])
def test_a_damaged_at_risk_table_keeps_the_old_one_serving(faulty: Running, damage: str) -> None:
    table = faulty.app.state.steward.settings.at_risk_path
    good = table.read_bytes()
    with httpx.Client(base_url=faulty.url, timeout=120) as c:
        before = _scores(c)
        if damage == "garbage":
            table.write_bytes(b"PAR1" + b"\x00garbage" * 100 + b"PAR1")
        elif damage == "truncated":
            table.write_bytes(good[: len(good) // 2])
        else:
            table.unlink()
        try:
            answer = _reload(c)
            assert answer.status_code == 500, answer.text
            assert list(answer.json()["error"]["failed"]) == ["at_risk"]
            assert _scores(c) == before
            assert list(c.get("/readyz").json()["errors"]) == ["at_risk"]
        finally:
            table.write_bytes(good)
        fixed = _reload(c)
        assert fixed.status_code == 200, fixed.text
        assert c.get("/readyz").json()["errors"] == {}
        assert _scores(c) == before
