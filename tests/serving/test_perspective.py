"""Perspective API compatibility: request and response shapes of its public documentation.

Shapes from developers.perspectiveapi.com "About the API: Methods" (AnalyzeComment request,
response and example) and its error format ({"error": {"code", "message", "status"}}).
"""

from __future__ import annotations

import logging

import httpx
import pytest

from pipelines.toxicity.train import score_posts
from tests.serving.conftest import KEYS, auth
from tests.serving.server import Running

URL = "/v1alpha1/comments:analyze"
DOC_EXAMPLE = {
    "comment": {"text": "What kind of idiot name is foo? Sorry, I like your name."},
    "languages": ["en"],
    "requestedAttributes": {"TOXICITY": {}, "INSULT": {}},
}


def _analyze(client: httpx.Client, body: dict[str, object]) -> httpx.Response:
    """As a Perspective client sends it: the key in ?key=, JSON body."""
    return client.post(f"{URL}?key={KEYS['posts'][0]}", json=body)


def test_the_documented_example_gets_the_documented_response_shape(client: httpx.Client) -> None:
    answer = _analyze(client, DOC_EXAMPLE)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"attributeScores", "languages"}
    assert body["languages"] == ["en"]
    assert set(body["attributeScores"]) == {"TOXICITY", "INSULT"}
    for scores in body["attributeScores"].values():
        assert set(scores) == {"summaryScore"}  # no spanScores unless spanAnnotations
        assert scores["summaryScore"]["type"] == "PROBABILITY"
        assert 0 <= scores["summaryScore"]["value"] <= 1
    batch = score_posts([DOC_EXAMPLE["comment"]["text"]], ["en"])[0]  # type: ignore[index]
    assert (
        body["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
        == batch.probabilities["toxicity"]
    )
    assert (
        body["attributeScores"]["INSULT"]["summaryScore"]["value"] == batch.probabilities["insult"]
    )


def test_span_annotations_threshold_client_token_and_detected_language(
    client: httpx.Client,
) -> None:
    text = "Thanks for coming. You are a pathetic idiot."
    body = {
        "comment": {"text": text, "type": "PLAIN_TEXT"},
        "requestedAttributes": {
            "TOXICITY": {"scoreType": "PROBABILITY"},
            "THREAT": {"scoreThreshold": 0.999},
        },
        "spanAnnotations": True,
        "doNotStore": True,
        "clientToken": "comment-53922",
        "sessionId": "s1",
        "communityId": "/forum/movies",
        "context": {"entries": [{"text": "earlier", "type": "PLAIN_TEXT"}]},
    }
    answer = _analyze(client, body).json()
    assert answer["clientToken"] == "comment-53922"
    assert answer["languages"] == ["en"] and answer["detectedLanguages"] == ["en"]
    assert set(answer["attributeScores"]) == {"TOXICITY"}  # THREAT is under its threshold
    spans = answer["attributeScores"]["TOXICITY"]["spanScores"]
    assert spans and all(set(s) == {"begin", "end", "score"} for s in spans)
    assert any("idiot" in text[s["begin"] : s["end"]] for s in spans)
    assert all(s["score"]["type"] == "PROBABILITY" and 0 <= s["score"]["value"] <= 1 for s in spans)


def test_chinese_is_detected_and_scored(client: httpx.Client) -> None:
    body = {
        "comment": {"text": "你就是个白痴，滚出这个论坛"},
        "requestedAttributes": {"TOXICITY": {}},
    }
    answer = _analyze(client, body).json()
    assert answer["languages"] == ["zh"]
    assert answer["attributeScores"]["TOXICITY"]["summaryScore"]["value"] > 0.5


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Bonjour à tous, tu es vraiment un idiot.", "fr"),
        ("Eres un idiota, nadie te quiere aquí.", "es"),
        ("Ты просто идиот, тебя здесь никто не ждёт.", "ru"),
    ],
)
def test_a_detected_language_no_model_scores_gets_perspectives_language_error(
    client: httpx.Client, text: str, lang: str
) -> None:
    answer = _analyze(client, {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["message"] == f"Attribute TOXICITY does not support request languages: {lang}"
    detail = error["details"][0]
    assert detail["errorType"] == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"
    assert detail["languageNotSupportedByAttributeError"] == {
        "detectedLanguages": [lang],
        "attribute": "TOXICITY",
    }


def test_the_discovery_document_advertises_exactly_what_the_model_serves(
    server: Running, client: httpx.Client
) -> None:
    from serving.routes.perspective import ATTRIBUTES, served_attributes

    labels = server.app.state.steward.holder.current.toxicity.scorer.labels
    method = client.get("/$discovery/rest").json()["resources"]["comments"]["methods"]["analyze"]
    advertised = method["supportedAttributes"]
    assert advertised == served_attributes(labels) and "TOXICITY" in advertised
    for name in advertised:
        answer = _analyze(client, {"comment": {"text": "hi"}, "requestedAttributes": {name: {}}})
        assert answer.status_code == 200, (name, answer.text)
    for name in set(ATTRIBUTES) - set(advertised):
        answer = _analyze(client, {"comment": {"text": "hi"}, "requestedAttributes": {name: {}}})
        assert answer.status_code == 400 and ", ".join(advertised) in answer.text


@pytest.mark.parametrize(
    ("body", "message", "error_type"),
    [
        (
            {"comment": {"text": "hi"}, "requestedAttributes": {"SEVERE_TOXICITY": {}}},
            "Attribute SEVERE_TOXICITY is not supported",
            "ATTRIBUTE_NOT_SUPPORTED",
        ),
        (
            {
                "comment": {"text": "salut"},
                "languages": ["fr"],
                "requestedAttributes": {"TOXICITY": {}},
            },
            "Attribute TOXICITY does not support request languages: fr",
            "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
        ),
        (
            {
                "comment": {"text": "hi"},
                "requestedAttributes": {"TOXICITY": {"scoreType": "STD_DEV_SCORE"}},
            },
            "does not support score type",
            "SCORE_TYPE_NOT_SUPPORTED",
        ),
        (
            {
                "comment": {"text": "<b>hi</b>", "type": "HTML"},
                "requestedAttributes": {"TOXICITY": {}},
            },
            "PLAIN_TEXT",
            "COMMENT_TYPE_NOT_SUPPORTED",
        ),
    ],
)
def test_what_the_model_cannot_score_gets_perspectives_error(
    client: httpx.Client, body: dict[str, object], message: str, error_type: str
) -> None:
    answer = _analyze(client, body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"]
    assert error["details"][0]["errorType"] == error_type


def test_missing_required_fields_and_long_text_are_json_errors(client: httpx.Client) -> None:
    no_attributes = _analyze(client, {"comment": {"text": "hi"}, "requestedAttributes": {}})
    assert no_attributes.status_code == 422
    assert "requestedAttributes" in no_attributes.json()["error"]["message"]
    too_long = _analyze(
        client, {"comment": {"text": "z" * 10_001}, "requestedAttributes": {"TOXICITY": {}}}
    )
    assert too_long.status_code == 422 and too_long.json()["error"]["limit"] == "max_text_chars"


def test_text_is_not_logged_by_default_nor_with_do_not_store(
    server: Running, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "my-private-comment-4242"
    settings = server.app.state.steward.settings
    with caplog.at_level(logging.DEBUG):
        _analyze(client, {"comment": {"text": secret}, "requestedAttributes": {"TOXICITY": {}}})
        client.post(
            "/v1/posts:score", json={"posts": [{"id": "a", "text": secret}]}, headers=auth("posts")
        )
        settings.log_text = True  # configured on: logged, except where doNotStore says no
        try:
            body = {
                "comment": {"text": secret},
                "requestedAttributes": {"TOXICITY": {}},
                "doNotStore": True,
            }
            _analyze(client, body)
            assert secret not in caplog.text
            _analyze(
                client,
                {"comment": {"text": secret + "-kept"}, "requestedAttributes": {"TOXICITY": {}}},
            )
        finally:
            settings.log_text = False
    assert secret + "-kept" in caplog.text
    assert caplog.text.count(secret) == 1


def test_the_discovery_document_leads_a_google_api_client_here(client: httpx.Client) -> None:
    """What googleapiclient.discovery.build reads (checked by hand with google-api-python-client
    2.202: Perspective's Python sample works with only discoveryServiceUrl changed)."""
    found = client.get("/$discovery/rest?version=v1alpha1").json()
    assert (found["name"], found["version"]) == ("commentanalyzer", "v1alpha1")
    method = found["resources"]["comments"]["methods"]["analyze"]
    assert method["httpMethod"] == "POST" and found["parameters"]["key"]["location"] == "query"
    url = found["rootUrl"] + found["servicePath"] + method["path"]
    assert url.startswith(str(client.base_url))
    answer = client.post(f"{url}?key={KEYS['posts'][0]}&alt=json", json=DOC_EXAMPLE)
    assert answer.status_code == 200 and "TOXICITY" in answer.json()["attributeScores"]
