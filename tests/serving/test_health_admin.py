"""Health, readiness, metrics and reload (to a new champion, and to a broken one)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.pyfunc import PythonModel

from models.registry import set_champion
from tests.serving.conftest import Home, auth, settings_for
from tests.serving.server import Running, start

POST = {"posts": [{"id": "a", "text": "You are a pathetic idiot."}]}


class NotAToxicityModel(PythonModel):
    """A model that loads in MLflow but is no steward toxicity scorer."""

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return model_input


def test_readyz_lists_what_is_served(client: httpx.Client) -> None:
    body = client.get("/readyz").json()
    assert body["ready"] is True and body["errors"] == {}
    assert body["models"]["toxicity"]["name"] == "steward-toxicity"
    assert body["models"]["churn"]["name"] == "steward-churn"
    assert body["models"]["at_risk"]["members"] > 0


def test_metrics_count_requests_time_them_and_record_scores_and_versions(
    client: httpx.Client,
) -> None:
    client.post("/v1/posts:score", json=POST, headers=auth("posts"))
    text = client.get("/metrics").text
    assert 'steward_http_requests_total{method="POST",route="/v1/posts:score",status="200"}' in text
    assert (
        'steward_http_request_seconds_bucket{le="0.05",method="POST",route="/v1/posts:score"}'
        in text
    )
    for label in ("toxicity", "insult", "threat"):
        assert f'steward_score_count{{label="{label}",model="toxicity"}}' in text
    assert (
        'steward_model_info{component="toxicity",name="steward-toxicity",version="1"} 1.0' in text
    )
    assert 'steward_post_actions_total{action="block"}' in text


def test_unknown_routes_and_methods_are_json(client: httpx.Client) -> None:
    missing = client.get("/v2/nothing")
    assert (
        missing.status_code == 404
        and "no route GET /v2/nothing" in missing.json()["error"]["message"]
    )
    wrong = client.get("/v1/posts:score")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == 405


@pytest.fixture(scope="module")
def second(home: Home) -> Iterator[Running]:
    """A server of its own for the reload tests; the champion alias is put back after."""
    running = start(settings_for(home))
    yield running
    running.stop()
    set_champion("steward-toxicity", "1")


def _served_version(client: httpx.Client) -> str:
    answer = client.post("/v1/posts:score", json=POST, headers=auth("posts"))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["model"]["version"])


def test_reload_picks_up_a_new_champion_without_dropping_requests(
    second: Running, home: Home
) -> None:
    version = mlflow.register_model(home.toxicity_uri, "steward-toxicity").version
    set_champion("steward-toxicity", str(version))
    failures: list[int] = []
    stop = threading.Event()

    def keep_asking() -> None:
        with httpx.Client(base_url=second.url, timeout=60) as c:
            while not stop.is_set():
                status = c.post("/v1/posts:score", json=POST, headers=auth("posts")).status_code
                if status != 200:
                    failures.append(status)

    worker = threading.Thread(target=keep_asking)
    worker.start()
    with httpx.Client(base_url=second.url, timeout=120) as c:
        answer = c.post("/v1/admin/reload", headers=auth("admin"))
        stop.set()
        worker.join()
        assert answer.status_code == 200, answer.text
        assert answer.json()["models"]["toxicity"]["version"] == str(version)
        assert answer.json()["before"]["toxicity"]["version"] == "1"
        assert _served_version(c) == str(version)
    assert failures == []


def test_a_broken_champion_keeps_the_old_model_serving_and_says_why(second: Running) -> None:
    with httpx.Client(base_url=second.url, timeout=120) as c:
        before = _served_version(c)
        with mlflow.start_run(run_name="broken"):
            info = mlflow.pyfunc.log_model(
                name="model", python_model=NotAToxicityModel(), pip_requirements=["mlflow"]
            )
        broken = mlflow.register_model(info.model_uri, "steward-toxicity").version
        set_champion("steward-toxicity", str(broken))
        answer = c.post("/v1/admin/reload", headers=auth("admin"))
        assert answer.status_code == 500
        error = answer.json()["error"]
        assert "reload failed for toxicity" in error["message"]
        assert f"Still serving the previous toxicity steward-toxicity v{before}" in error["message"]
        assert error["models"]["toxicity"]["version"] == before and "toxicity" in error["failed"]
        assert _served_version(c) == before
        ready = c.get("/readyz").json()
        assert ready["ready"] is True and "toxicity" in ready["errors"]
        assert 'steward_model_reloads_total{outcome="failed"} 1.0' in c.get("/metrics").text
    champion = MlflowClient().get_model_version_by_alias("steward-toxicity", "champion")
    assert str(champion.version) == str(broken)  # the alias stays where the user put it


def test_a_server_whose_model_cannot_load_is_alive_but_not_ready(home: Home) -> None:
    settings = settings_for(
        home, components=["toxicity"], toxicity_uri="models:/steward-toxicity@nope"
    )
    running = start(settings, wait_ready=False)
    try:
        with httpx.Client(base_url=running.url, timeout=60) as c:
            assert c.get("/healthz").status_code == 200
            for _ in range(600):  # until the load attempt has ended
                ready = c.get("/readyz")
                if not ready.json()["loading"]:
                    break
                threading.Event().wait(0.1)
            assert ready.status_code == 503 and ready.json()["ready"] is False
            assert "no steward-toxicity@nope in the registry" in ready.json()["errors"]["toxicity"]
            posts = c.post("/v1/posts:score", json=POST, headers=auth("posts"))
            assert posts.status_code == 503
            assert "toxicity is not loaded" in posts.json()["error"]["message"]
            members = c.get("/v1/members/at-risk", headers=auth("members"))
            assert (
                members.status_code == 503
                and "STEWARD_SERVE_COMPONENTS" in members.json()["error"]["message"]
            )
    finally:
        running.stop()
