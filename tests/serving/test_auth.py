"""API keys and scopes on every protected route; --no-auth only on loopback."""

from __future__ import annotations

import httpx
import pytest

from serving.settings import ServeSettings, hash_key, is_loopback, new_key
from tests.serving.conftest import KEYS, auth

ROUTES = [
    ("POST", "/v1/posts:score", {"posts": [{"id": "a", "text": "hi"}]}, "posts:score"),
    (
        "POST",
        "/v1alpha1/comments:analyze",
        {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}},
        "posts:score",
    ),
    ("GET", "/v1/members/at-risk", None, "members:read"),
    ("GET", "/v1/members/cohorts", None, "members:read"),
    ("GET", "/v1/members/nobody/churn", None, "members:read"),
    ("POST", "/v1/members:score", {"features": {}}, "members:read"),
    ("POST", "/v1/admin/reload", None, "admin"),
]
KIND_OF_SCOPE = {"posts:score": "posts", "members:read": "members", "admin": "admin"}


@pytest.mark.parametrize(("method", "path", "body", "scope"), ROUTES)
def test_every_protected_route_needs_a_key_with_its_scope(
    client: httpx.Client, method: str, path: str, body: object, scope: str
) -> None:
    missing = client.request(method, path, json=body)
    assert missing.status_code == 401
    assert missing.json()["error"]["status"] == "UNAUTHENTICATED"
    assert missing.headers["www-authenticate"] == 'Bearer realm="steward"'
    wrong = client.request(method, path, json=body, headers={"Authorization": "Bearer not-a-key"})
    assert wrong.status_code == 401 and "unknown API key" in wrong.json()["error"]["message"]
    other = next(k for s, k in KIND_OF_SCOPE.items() if s != scope)
    denied = client.request(method, path, json=body, headers=auth(other))
    assert denied.status_code == 403
    assert denied.json()["error"]["scope"] == scope and scope in denied.json()["error"]["message"]
    allowed = client.request(method, path, json=body, headers=auth(KIND_OF_SCOPE[scope]))
    assert allowed.status_code not in (401, 403), allowed.text


def test_the_key_is_accepted_from_x_api_key_and_from_the_query(client: httpx.Client) -> None:
    body = {"posts": [{"id": "a", "text": "hi"}]}
    key = KEYS["posts"][0]
    assert client.post("/v1/posts:score", json=body, headers={"X-API-Key": key}).status_code == 200
    assert client.post(f"/v1/posts:score?key={key}", json=body).status_code == 200


def test_health_and_metrics_need_no_key(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_no_auth_is_refused_off_loopback_and_keys_are_required_otherwise() -> None:
    with pytest.raises(ValueError, match="only on a loopback host"):
        ServeSettings(_env_file=None, no_auth=True, host="0.0.0.0")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="no API keys configured"):
        ServeSettings(_env_file=None, host="127.0.0.1")  # type: ignore[call-arg]
    assert ServeSettings(_env_file=None, no_auth=True, host="::1").no_auth  # type: ignore[call-arg]
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and not is_loopback("10.0.0.1")


def test_keys_are_stored_hashed_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key, entry = new_key("bot", ["posts:score"])
    assert entry.sha256 == hash_key(key) and key not in entry.model_dump_json()
    monkeypatch.setenv("STEWARD_SERVE_API_KEYS", f"[{entry.model_dump_json()}]")
    monkeypatch.setenv("STEWARD_SERVE_MAX_POSTS", "12")
    settings = ServeSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.api_keys == [entry] and settings.max_posts == 12
