"""What a client is told when its request is not what the server expects (issue 21)."""

from __future__ import annotations

import httpx
import pytest

from tests.serving.conftest import auth

SCORE = "/v1/posts:score"


def _message(answer: httpx.Response) -> str:
    return str(answer.json()["error"]["message"])


def test_a_body_that_is_not_json_says_so_and_what_to_send(client: httpx.Client) -> None:
    answer = client.post(
        SCORE,
        content=b"posts=hello",
        headers={**auth("posts"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    message = _message(answer)
    assert "the body is not valid JSON" in message
    assert "Content-Type: application/json" in message
    assert "JSON decode error" not in message


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_sent_as_another_type_names_the_type_and_what_to_send(
    client: httpx.Client, content_type: str
) -> None:
    answer = client.post(
        SCORE,
        content=b'{"posts": [{"id": "a", "text": "hello"}]}',
        headers={**auth("posts"), "Content-Type": content_type},
    )
    assert answer.status_code == 422
    message = _message(answer)
    assert f"Content-Type is '{content_type}', not JSON" in message
    assert "Content-Type: application/json" in message
    assert "valid dictionary" not in message


def test_a_missing_body_says_it_is_empty(client: httpx.Client) -> None:
    answer = client.post(SCORE, headers=auth("posts"))
    assert answer.status_code == 422
    assert "the body is empty" in _message(answer)


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_an_empty_post_is_refused_naming_it_on_both_routes(client: httpx.Client, text: str) -> None:
    posts = {"posts": [{"id": "a", "text": "fine words"}, {"id": "b", "text": text}]}
    answer = client.post(SCORE, json=posts, headers=auth("posts"))
    assert answer.status_code == 422
    assert _message(answer).startswith("posts[1].text is empty or only whitespace")
    body = {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}}
    perspective = client.post("/v1alpha1/comments:analyze", json=body, headers=auth("posts"))
    assert perspective.status_code == 400
    assert _message(perspective).startswith("comment.text is empty or only whitespace")
    assert perspective.json()["error"]["details"][0]["errorType"] == "COMMENT_EMPTY"


def test_a_long_member_id_is_echoed_cut(client: httpx.Client) -> None:
    member = "x" * 5_000
    answer = client.get(f"/v1/members/{member}/churn", headers=auth("members"))
    assert answer.status_code == 404
    text = answer.text
    assert "x" * 65 not in text
    assert "(5,000 characters)" in _message(answer)
    assert len(text) < 1_000


def test_readyz_shows_no_file_path(client: httpx.Client) -> None:
    body = client.get("/readyz").json()
    assert body["models"]["at_risk"]["members"] > 0
    assert "path" not in body["models"]["at_risk"]
    assert "/" not in str(body["models"]["at_risk"])
