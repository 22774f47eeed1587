"""Hostile input over HTTP: each gets a clear JSON error or safe handling, and serving goes on.

Huge and deeply nested bodies, bytes that are not UTF-8, 100k-character posts, invisible,
control and bidirectional characters, look-alike floods, and numbers JSON should not carry.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.serving.conftest import KEYS, Home, auth, settings_for
from tests.serving.server import Running, start

POSTS = "/v1/posts:score"
ANALYZE = f"/v1alpha1/comments:analyze?key={KEYS['posts'][0]}"
JSON = {"Content-Type": "application/json"}
# The plain insult, and the same post without it: the insult is what the score is made of
# (measured with the test home's linear model: 0.41 against 0.03).
INSULT = "thanks for the reply, idiot"
POLITE = "thanks for the reply"
# Measured: hidden or folded variants score within 0.002 of the plain insult; split ones
# ("id iot") fall to 0.07. 0.05 leaves a margin and still catches a lost insult.
CLOSE = 0.05
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
CONTROLS = ["\x00", "\x01", "\x07", "\x08", "\x1b", "\x1f", "\x7f", "\x80", "\x9b", "\x9f"]
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]


def _score(client: httpx.Client, text: str, spans: str = "all") -> dict[str, object]:
    """The one post's scores from /v1/posts:score (200 asserted)."""
    answer = client.post(
        POSTS, json={"posts": [{"id": "x", "text": text}], "spans": spans}, headers=auth("posts")
    )
    assert answer.status_code == 200, answer.text
    post: dict[str, object] = answer.json()["posts"][0]
    return post


def _toxicity(post: dict[str, object]) -> float:
    probabilities = post["probabilities"]
    assert isinstance(probabilities, dict)
    return float(probabilities["toxicity"])


def _assert_spans_index(text: str, spans: object) -> None:
    """Every span's offsets cut its own text out of the post as it was sent."""
    assert isinstance(spans, list)
    for span in spans:
        assert text[span["begin"] : span["end"]] == span["text"]


def _analyze(client: httpx.Client, text: str) -> dict[str, object]:
    """Perspective's TOXICITY for text, with spans (200 asserted)."""
    body = {
        "comment": {"text": text},
        "requestedAttributes": {"TOXICITY": {}},
        "spanAnnotations": True,
    }
    answer = client.post(ANALYZE, json=body)
    assert answer.status_code == 200, answer.text
    scores: dict[str, object] = answer.json()["attributeScores"]["TOXICITY"]
    return scores


def _error(answer: httpx.Response, status: int) -> str:
    """The JSON error's message, after checking the status and the shape."""
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"].startswith("application/json")
    message = answer.json()["error"]["message"]
    assert isinstance(message, str) and message
    return message


def _still_serving(client: httpx.Client) -> None:
    """The server scores a normal post after the attack."""
    assert _toxicity(_score(client, INSULT, "none")) > _toxicity(_score(client, POLITE, "none"))


def _chunks(body: bytes, size: int = 65_536) -> Iterator[bytes]:
    """The body in pieces: httpx sends it chunked, without Content-Length."""
    for i in range(0, len(body), size):
        yield body[i : i + size]


@pytest.fixture(scope="module")
def roomy(home: Home) -> Iterator[Running]:
    """A server whose text limit was raised to take 100k-character posts."""
    running = start(settings_for(home, max_text_chars=200_000, components=["toxicity"]))
    yield running
    running.stop()


def test_a_huge_perspective_body_is_refused_declared_or_chunked(client: httpx.Client) -> None:
    text = "y" * 1_100_000
    body = json.dumps({"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}})
    declared = client.post(ANALYZE, content=body.encode(), headers=JSON)
    assert "max_body_bytes" in _error(declared, 413)
    streamed = client.post(ANALYZE, content=_chunks(body.encode()), headers=JSON)
    assert "max_body_bytes" in _error(streamed, 413)
    # A chunked body under the limit is read whole and scored.
    small = json.dumps({"comment": {"text": INSULT}, "requestedAttributes": {"TOXICITY": {}}})
    assert client.post(ANALYZE, content=_chunks(small.encode(), 7), headers=JSON).status_code == 200
    _still_serving(client)


@pytest.mark.parametrize(
    "body",
    [
        '{"posts": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"posts": [{"id": "a", "text": "t", "x": '
        + '{"a": ' * 50_000
        + "1"
        + "}" * 50_000
        + "}]}",
        '{"comment": {"text": "t"}, "context": ' + '{"a": [' * 40_000 + "]}" * 40_000 + "}",
    ],
    ids=["arrays", "objects", "perspective"],
)
def test_deeply_nested_json_is_a_json_error_in_bounded_time(
    client: httpx.Client, body: str
) -> None:
    assert len(body) < 1_000_000  # under max_body_bytes: the parser itself must cope
    url = ANALYZE if "comment" in body else POSTS
    started = time.perf_counter()
    answer = client.post(url, content=body.encode(), headers={**auth("posts"), **JSON})
    elapsed = time.perf_counter() - started
    assert "nested" in _error(answer, 422)
    assert elapsed < 5  # measured under 0.2 s; a margin for 2 shared cores
    _still_serving(client)


@pytest.mark.parametrize("url", [POSTS, ANALYZE])
def test_bytes_that_are_not_utf8_are_a_json_error_saying_so(client: httpx.Client, url: str) -> None:
    if url == POSTS:
        body = b'{"posts": [{"id": "a", "text": "caf\xe9 \xff\xfe"}]}'
    else:
        body = b'{"comment": {"text": "caf\xe9 \xff"}, "requestedAttributes": {"TOXICITY": {}}}'
    answer = client.post(url, content=body, headers={**auth("posts"), **JSON})
    assert "UTF-8" in _error(answer, 422)
    _still_serving(client)


def test_a_100k_character_post_is_refused_naming_the_limit(client: httpx.Client) -> None:
    text = "lovely weekend meetup. " * 4_348  # 100,004 characters
    answer = client.post(POSTS, json={"posts": [{"id": "a", "text": text}]}, headers=auth("posts"))
    assert "max_text_chars" in _error(answer, 422)
    body = {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}}
    assert "max_text_chars" in _error(client.post(ANALYZE, json=body), 422)


def test_with_a_raised_limit_a_100k_post_is_scored_in_bounded_time(roomy: Running) -> None:
    text = "The weekend meetup looks great so far. " * 2_564 + INSULT  # 100,023 characters
    with httpx.Client(base_url=roomy.url, timeout=120) as c:
        started = time.perf_counter()
        post = _score(c, text)
        elapsed = time.perf_counter() - started
        _still_serving(c)
    # Measured 1-6 s on 2 shared cores, most of it the linear model's per-character spans.
    assert elapsed < 30
    assert 0 <= _toxicity(post) <= 1
    _assert_spans_index(text, post["spans"])


def test_a_long_posts_span_is_the_insult_not_its_padding(roomy: Running) -> None:
    text = "." * 99_000 + " " + INSULT
    with httpx.Client(base_url=roomy.url, timeout=120) as c:
        spans = _score(c, text)["spans"]
    _assert_spans_index(text, spans)
    assert spans and all(len(s["text"]) < 100 for s in spans)  # type: ignore[attr-defined]


@pytest.mark.parametrize("char", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_zero_width_characters_do_not_hide_an_insult(client: httpx.Client, char: str) -> None:
    plain = _toxicity(_score(client, INSULT))
    assert plain - _toxicity(_score(client, POLITE)) > 0.2  # the insult carries the score
    hidden = INSULT.replace("idiot", char.join("idiot"))
    post = _score(client, hidden)
    assert abs(_toxicity(post) - plain) < CLOSE
    _assert_spans_index(hidden, post["spans"])
    assert any(char.join("idiot") in s["text"] for s in post["spans"])  # type: ignore[attr-defined]
    spans = _analyze(client, hidden)["spanScores"]
    assert any(hidden[s["begin"] : s["end"]] == char.join("idiot") for s in spans)  # type: ignore[attr-defined]


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_control_characters_are_dropped_and_spans_index_the_original(
    client: httpx.Client, char: str
) -> None:
    text = f"{char}thanks for{char} the reply, id{char}iot{char}"
    post = _score(client, text)
    assert abs(_toxicity(post) - _toxicity(_score(client, INSULT))) < CLOSE
    _assert_spans_index(text, post["spans"])
    assert any("iot" in s["text"] for s in post["spans"])  # type: ignore[attr-defined]
    analyzed = _analyze(client, text)
    assert analyzed["spanScores"]


@pytest.mark.parametrize("char", BIDI, ids=[f"U+{ord(c):04X}" for c in BIDI])
def test_bidirectional_controls_are_ignored_for_scoring(client: httpx.Client, char: str) -> None:
    text = f"thanks for the reply, {char}id{char}iot\u202c"
    post = _score(client, text)
    assert abs(_toxicity(post) - _toxicity(_score(client, INSULT))) < CLOSE
    _assert_spans_index(text, post["spans"])
    analyzed = _analyze(client, text)
    summary = analyzed["summaryScore"]
    assert isinstance(summary, dict)
    assert abs(summary["value"] - _toxicity(post)) < 1e-9  # the same model, the same text


LOOK_ALIKES = {
    "cyrillic": "thanks for the reply, іdіот",
    "math-bold": "thanks for the reply, 𝐢𝐝𝐢𝐨𝐭",
    "math-script": "thanks for the reply, 𝒾𝒹𝒾𝑜𝓉",
    "full-width": "thanks for the reply, ｉｄｉｏｔ",
    "capitals": "THANKS FOR THE REPLY, ІDІОТ",
}


@pytest.mark.parametrize("text", LOOK_ALIKES.values(), ids=LOOK_ALIKES.keys())
def test_an_insult_in_look_alikes_scores_like_the_plain_one(
    client: httpx.Client, text: str
) -> None:
    post = _score(client, text)
    assert abs(_toxicity(post) - _toxicity(_score(client, INSULT))) < CLOSE
    _assert_spans_index(text, post["spans"])
    assert post["spans"]


FLOODS = {
    "cyrillic": "аеорсух" * 1_428,
    "greek": "αβεικνορτυχω" * 833,
    "math-bold": "𝐚𝐛𝐜𝐝𝐞" * 2_000,
    "full-width": "ｉｄｉｏｔ" * 2_000,
    "mixed-words": "іdіот 𝐢𝐝𝐢𝐨𝐭 ｉｄｉｏｔ " * 500,
}


@pytest.mark.parametrize("text", FLOODS.values(), ids=FLOODS.keys())
def test_look_alike_floods_are_scored_in_bounded_time(client: httpx.Client, text: str) -> None:
    assert len(text) <= 10_000  # the default max_text_chars
    started = time.perf_counter()
    post = _score(client, text)
    analyzed = _analyze(client, text)
    elapsed = time.perf_counter() - started
    assert elapsed < 10  # measured under 1.5 s for both calls; margin for 2 shared cores
    _assert_spans_index(text, post["spans"])
    assert 0 <= _toxicity(post) <= 1 and analyzed["summaryScore"]


@pytest.mark.parametrize(
    ("features", "where"),
    [
        ('{"days_since_last_activity": NaN}', "days_since_last_activity"),
        ('{"days_since_last_activity": Infinity}', "days_since_last_activity"),
        ('{"days_since_last_activity": -Infinity}', "days_since_last_activity"),
        ('{"days_since_last_activity": 1e400}', "days_since_last_activity"),
        ('{"days_since_last_activity": ' + "9" * 400 + "}", "days_since_last_activity"),
        ('{"days_since_last_activity": "many"}', "days_since_last_activity"),
        ('{"days_since_last_activity": [1]}', "days_since_last_activity"),
        ('{"days_since_last_activity": {"a": 1}}', "days_since_last_activity"),
        ("[1, 2]", "features"),
        ('"features"', "features"),
    ],
    ids=["nan", "inf", "-inf", "1e400", "400-digits", "string", "list", "object", "array", "str"],
)
def test_numbers_json_should_not_carry_and_wrong_types_are_422(
    client: httpx.Client, features: str, where: str
) -> None:
    body = '{"member_id": "m1", "features": ' + features + "}"
    answer = client.post(
        "/v1/members:score", content=body.encode(), headers={**auth("members"), **JSON}
    )
    assert where in _error(answer, 422)
    fine = client.post(
        "/v1/members:score",
        json={"features": {"days_since_last_activity": 3}},
        headers=auth("members"),
    )
    assert fine.status_code == 200, fine.text
