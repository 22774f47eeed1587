"""POST /v1/posts:score through the real server: scores, parity with batch, limits, batching."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from pipelines.toxicity.train import score_posts
from tests.serving.conftest import Home, auth
from tests.serving.server import Running

POSTS = [
    {"id": "p1", "text": "You are a pathetic idiot."},
    {"id": "p2", "text": "The weekend meetup looks great so far!"},
    {"id": "p3", "text": "你就是个白痴。", "lang": "zh-CN"},
    {"id": "p4", "text": "这道菜真的很有用，谢谢大家！"},
]


def test_scores_match_the_batch_pipeline_exactly(client: httpx.Client, home: Home) -> None:
    answer = client.post("/v1/posts:score", json={"posts": POSTS}, headers=auth("posts"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    batch = score_posts([p["text"] for p in POSTS], [p.get("lang") for p in POSTS])
    assert [p["id"] for p in body["posts"]] == ["p1", "p2", "p3", "p4"]
    for served, expected in zip(body["posts"], batch, strict=True):
        assert served["probabilities"] == expected.probabilities  # exact, through JSON
        assert (served["action"], served["lang"]) == (expected.action, expected.lang)
        assert [s["text"] for s in served["spans"]] == [s.text for s in expected.spans]
    assert [p["action"] for p in body["posts"]] == ["block", "allow", "block", "allow"]
    assert body["model"] == {"name": "steward-toxicity", "version": "1"}
    assert body["model_version"] == batch[0].model_version


def test_languages_no_model_scores_are_reviewed_unscored_and_named(
    server: Running, client: httpx.Client
) -> None:
    posts = [
        {"id": "fr", "text": "Tu es vraiment un idiot, personne ne veut de toi ici."},
        {"id": "es", "text": "Eres un idiota, nadie te quiere aquí.", "lang": "es-MX"},
        {"id": "de", "text": "Halt die Klappe, du bist ein Idiot und niemand mag dich."},
        {"id": "en", "text": "You are a pathetic idiot."},
    ]
    answer = client.post("/v1/posts:score", json={"posts": posts}, headers=auth("posts"))
    assert answer.status_code == 200, answer.text
    served = {p["id"]: p for p in answer.json()["posts"]}
    for lang in ("fr", "es", "de"):
        post = served[lang]
        assert post["lang"] == lang  # detected (fr, de) or the given tag's language (es-MX)
        assert post["action"] == "review" and post["spans"] == []
        assert set(post["probabilities"].values()) == {None}  # never scored as English
    assert served["en"]["lang"] == "en" and served["en"]["probabilities"]["toxicity"] > 0.5
    settings = server.app.state.steward.settings
    settings.unsupported_language_action = "allow"  # the documented setting
    try:
        again = client.post("/v1/posts:score", json={"posts": posts[:1]}, headers=auth("posts"))
    finally:
        settings.unsupported_language_action = "review"
    assert again.json()["posts"][0]["action"] == "allow"


def test_spans_point_into_the_text_and_can_be_turned_off(client: httpx.Client) -> None:
    text = "Shut up, you pathetic idiot"
    one = [{"id": "x", "text": text}]
    spans = client.post(
        "/v1/posts:score", json={"posts": one, "spans": "all"}, headers=auth("posts")
    )
    found = spans.json()["posts"][0]["spans"]
    assert found and all(text[s["begin"] : s["end"]] == s["text"] for s in found)
    assert "idiot" in " ".join(s["text"] for s in found)
    none = client.post(
        "/v1/posts:score", json={"posts": one, "spans": "none"}, headers=auth("posts")
    )
    assert none.json()["posts"][0]["spans"] == []


def test_256_posts_pass_and_257_are_refused_naming_the_limit(client: httpx.Client) -> None:
    posts = [{"id": str(i), "text": f"post number {i}"} for i in range(257)]
    ok = client.post("/v1/posts:score", json={"posts": posts[:256]}, headers=auth("posts"))
    assert ok.status_code == 200 and len(ok.json()["posts"]) == 256
    over = client.post("/v1/posts:score", json={"posts": posts}, headers=auth("posts"))
    assert over.status_code == 422
    error = over.json()["error"]
    assert error["limit"] == "max_posts" and "257 posts" in error["message"]


def test_a_text_over_the_length_limit_is_refused(client: httpx.Client) -> None:
    posts = [{"id": "a", "text": "fine"}, {"id": "b", "text": "x" * 10_001}]
    answer = client.post("/v1/posts:score", json={"posts": posts}, headers=auth("posts"))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["limit"] == "max_text_chars" and "posts[1].text" in error["message"]


def test_a_body_over_the_size_limit_is_refused_before_parsing(client: httpx.Client) -> None:
    body = json.dumps({"posts": [{"id": "a", "text": "y" * 1_100_000}]}).encode()
    declared = client.post(
        "/v1/posts:score",
        content=body,
        headers={**auth("posts"), "Content-Type": "application/json"},
    )
    assert declared.status_code == 413
    assert declared.json()["error"]["limit"] == "max_body_bytes"

    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        for i in range(0, len(body), 65_536):
            yield body[i : i + 65_536]

    streamed = client.post(
        "/v1/posts:score",
        content=chunks(),
        headers={**auth("posts"), "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    assert "max_body_bytes" in streamed.json()["error"]["message"]


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"posts": []}, "posts"),
        ({"posts": [{"text": "no id"}]}, "posts.0.id"),
        ({"posts": [{"id": "a", "text": "t", "colour": "red"}]}, "colour"),
        ({"posts": [{"id": "a", "text": "t"}], "spans": "some"}, "spans"),
    ],
)
def test_malformed_requests_get_422_saying_where(
    client: httpx.Client, payload: dict[str, object], where: str
) -> None:
    answer = client.post("/v1/posts:score", json=payload, headers=auth("posts"))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and where in error["message"]


def test_invalid_json_is_a_json_error(client: httpx.Client) -> None:
    answer = client.post(
        "/v1/posts:score",
        content=b"{not json",
        headers={**auth("posts"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 422 and "invalid request" in answer.json()["error"]["message"]


def _batch_count(client: httpx.Client) -> float:
    """How many model batches the server has run so far."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("steward_batch_posts_count"):
            return float(line.split()[-1])
    return 0.0


def test_concurrent_single_posts_are_micro_batched_with_unchanged_scores(
    server: Running, client: httpx.Client
) -> None:
    texts = [f"you idiot number {i}" if i % 2 else f"lovely meetup number {i}" for i in range(48)]
    before = _batch_count(client)

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as ac:
            calls = [
                ac.post(
                    "/v1/posts:score",
                    json={"posts": [{"id": str(i), "text": t}]},
                    headers=auth("posts"),
                )
                for i, t in enumerate(texts)
            ]
            return await asyncio.gather(*calls)

    answers = asyncio.run(fire())
    assert all(a.status_code == 200 for a in answers)
    batches = _batch_count(client) - before
    assert batches < len(texts)  # several requests shared a batch
    alone = score_posts(texts)
    served = [a.json()["posts"][0]["probabilities"] for a in answers]
    assert served == [s.probabilities for s in alone]
