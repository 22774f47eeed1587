"""Perspective's own Python client (google-api-python-client), unchanged but for its URL.

The calls are those of Perspective's samples: discovery.build("commentanalyzer", "v1alpha1",
developerKey=KEY, discoveryServiceUrl=URL), then comments().analyze(body=...).execute(). A
missing or wrong key, or a request steward cannot score, must reach the caller as the
client's HttpError with the server's message, as Google's service would.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.serving.conftest import KEYS
from tests.serving.server import Running

discovery = pytest.importorskip("googleapiclient.discovery", reason="dev extra")
errors = pytest.importorskip("googleapiclient.errors", reason="dev extra")
httplib2 = pytest.importorskip("httplib2", reason="dev extra")

EXAMPLE = {
    "comment": {"text": "What kind of idiot name is foo? Sorry, I like your name."},
    "languages": ["en"],
    "requestedAttributes": {"TOXICITY": {}, "INSULT": {}},
}


def _perspective(server: Running, key: str | None) -> Any:
    """The client as Perspective's samples build it, pointed at steward."""
    return discovery.build(
        "commentanalyzer",
        "v1alpha1",
        developerKey=key,
        discoveryServiceUrl=f"{server.url}/$discovery/rest?version=v1alpha1",
        static_discovery=False,
        cache_discovery=False,
        # An explicit Http: without a key the client would otherwise look for Google
        # credentials on the machine before sending anything.
        http=None if key else httplib2.Http(timeout=60),
    )


def _error(failure: Any) -> dict[str, Any]:
    """The JSON error body an HttpError carries."""
    return dict(json.loads(failure.content)["error"])


def test_the_documented_call_scores_through_perspectives_client(server: Running) -> None:
    answer = _perspective(server, KEYS["posts"][0]).comments().analyze(body=EXAMPLE).execute()
    assert set(answer["attributeScores"]) == {"TOXICITY", "INSULT"}
    value = answer["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
    assert 0 <= value <= 1
    assert answer["languages"] == ["en"]


@pytest.mark.parametrize("key", ["not-a-key", None])
def test_a_wrong_or_missing_key_is_the_clients_http_error(server: Running, key: str | None) -> None:
    client = _perspective(server, key)
    with pytest.raises(errors.HttpError) as failure:
        client.comments().analyze(body=EXAMPLE).execute()
    assert failure.value.resp.status == 401
    message = _error(failure.value)["message"]
    assert ("unknown API key" if key else "missing API key") in message


def test_what_steward_cannot_score_is_the_clients_http_error(server: Running) -> None:
    client = _perspective(server, KEYS["posts"][0])
    unsupported = {**EXAMPLE, "requestedAttributes": {"SEVERE_TOXICITY": {}}}
    with pytest.raises(errors.HttpError) as failure:
        client.comments().analyze(body=unsupported).execute()
    assert failure.value.resp.status == 400
    assert _error(failure.value)["details"][0]["errorType"] == "ATTRIBUTE_NOT_SUPPORTED"
    empty = {**EXAMPLE, "comment": {"text": "  \n "}}
    with pytest.raises(errors.HttpError) as failure:
        client.comments().analyze(body=empty).execute()
    assert failure.value.resp.status == 400
    error = _error(failure.value)
    assert error["details"][0]["errorType"] == "COMMENT_EMPTY"
    assert "comment.text is empty or only whitespace" in error["message"]
