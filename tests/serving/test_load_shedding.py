"""Overload: past max_in_flight the server refuses at once (503 JSON, Retry-After) and keeps
answering probes; the requests it takes are scored as usual, and it recovers when load ends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.serving.conftest import Home, auth, settings_for
from tests.serving.server import Running, start

POSTS = auth("posts")
BODY = {"posts": [{"id": str(i), "text": f"you are an idiot number {i}"} for i in range(256)]}
BURST = 24  # concurrent 256-post requests: each takes tens of ms, so they overlap


@pytest.fixture(scope="module")
def narrow(home: Home) -> Iterator[Running]:
    """A toxicity server that works on at most two requests at once."""
    running = start(settings_for(home, components=["toxicity"], max_in_flight=2))
    yield running
    running.stop()


async def burst(url: str) -> tuple[list[httpx.Response], list[int]]:
    """BURST scoring requests at once, and the status of /healthz asked while they run."""
    limits = httpx.Limits(max_connections=BURST + 4)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        scoring = [
            asyncio.create_task(client.post("/v1/posts:score", json=BODY, headers=POSTS))
            for _ in range(BURST)
        ]
        await asyncio.sleep(0.01)
        probes = [(await client.get("/healthz")).status_code for _ in range(3)]
        return list(await asyncio.gather(*scoring)), probes


def test_past_the_limit_requests_are_refused_at_once_and_probes_still_answer(
    narrow: Running,
) -> None:
    quiet = httpx.post(narrow.url + "/v1/posts:score", json=BODY, headers=POSTS, timeout=60)
    answers, probes = asyncio.run(burst(narrow.url))
    refused = [a for a in answers if a.status_code == 503]
    taken = [a for a in answers if a.status_code == 200]
    assert len(refused) + len(taken) == BURST and refused and taken
    error = refused[0].json()["error"]
    assert error["limit"] == "max_in_flight" and "retry after" in error["message"]
    assert refused[0].headers["retry-after"] == "1"
    assert all(a.json()["posts"] == quiet.json()["posts"] for a in taken)
    assert probes == [200, 200, 200]
    # Monitoring sees every refusal (refused before routing, so under route="unmatched").
    metrics = httpx.get(narrow.url + "/metrics").text
    line = 'steward_http_requests_total{method="POST",route="unmatched",status="503"}'
    assert f"{line} {float(len(refused))}" in metrics
    # Load over: nothing is left counted in flight, so two at once are served again.
    with httpx.Client(base_url=narrow.url, timeout=60) as client:
        for _ in range(3):
            assert client.post("/v1/posts:score", json=BODY, headers=POSTS).status_code == 200


def test_the_default_limit_sheds_nothing_at_the_benchmarked_concurrency(server: Running) -> None:
    answers, _ = asyncio.run(burst(server.url))
    assert [a.status_code for a in answers] == [200] * BURST
