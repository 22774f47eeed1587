"""Property-based fuzzing of every route from steward's own OpenAPI schema (schemathesis).

The real uvicorn server answers; the properties are that nothing is a server error (our
generic handler's 500 included) and that every 4xx is JSON with a non-empty error.message.
Cases come from each operation's hypothesis strategy: schemathesis's lazy pytest loader
(`from_fixture`) does not run under pytest 9, and the server's port is known only at run time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.serving.conftest import auth
from tests.serving.server import Running

# Every route but reload: it takes no input to fuzz (only its key) and reloads every model
# per call; its 500 on a failed load is deliberate and tested in test_health_admin.py.
FUZZED = [
    ("POST", "/v1/posts:score"),
    ("POST", "/v1alpha1/comments:analyze"),
    ("GET", "/$discovery/rest"),
    ("GET", "/v1/members/at-risk"),
    ("GET", "/v1/members/cohorts"),
    ("GET", "/v1/members/{member_id}/churn"),
    ("POST", "/v1/members:score"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
]
NOT_FUZZED = [("POST", "/v1/admin/reload")]
IDS = [f"{m} {p}" for m, p in FUZZED]
# Routes with input that can break the schema (a body or constrained query values); the rest
# take none, or only a free-form string, so hypothesis has no invalid case to make for them.
CAN_BE_INVALID = {
    ("POST", "/v1/posts:score"),
    ("POST", "/v1alpha1/comments:analyze"),
    ("GET", "/v1/members/at-risk"),
    ("POST", "/v1/members:score"),
}


def no_server_error(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Fail on any 5xx: a request the server cannot handle is a bug whatever it sends."""
    if response.status_code >= 500:
        raise AssertionError(f"{response.status_code} from {case.operation.label}: {response.text}")


def errors_are_json(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every 4xx is Google's error shape with a message a client can show."""
    if not 400 <= response.status_code < 500:
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(
            f"{response.status_code} is not JSON: {response.text[:200]!r}"
        ) from None
    message = body.get("error", {}).get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        raise AssertionError(f"{response.status_code} without error.message: {response.text[:200]}")


CHECKS = [no_server_error, errors_are_json]


@pytest.fixture(scope="module")
def schema(server: Running) -> schemathesis.BaseSchema:
    """The schema as the server serves it."""
    return schemathesis.openapi.from_url(server.url + "/openapi.json")


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    """One keep-alive connection for every case (a new one per case is most of the time)."""
    with requests.Session() as s:
        yield s


def fuzz(
    schema: schemathesis.BaseSchema,
    route: tuple[str, str],
    modes: list[GenerationMode],
    examples: int,
    session: requests.Session,
) -> int:
    """Send `examples` generated cases per mode to one route, checking each; the cases sent."""
    method, path = route
    operation = schema[path][method]
    sent = 0
    for mode in modes:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            derandomize=True,  # the same cases on every run: a failure reproduces
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            nonlocal sent
            sent += 1
            case.call_and_validate(session=session, headers=auth("all"), checks=CHECKS)

        run()
    return sent


def test_every_route_is_fuzzed_or_deliberately_left_out(schema: schemathesis.BaseSchema) -> None:
    served = {(m.upper(), p) for p, ops in schema.raw_schema["paths"].items() for m in ops}
    assert served == set(FUZZED) | set(NOT_FUZZED)


@pytest.mark.parametrize("route", FUZZED, ids=IDS)
def test_valid_requests_get_no_server_error(
    schema: schemathesis.BaseSchema,
    route: tuple[str, str],
    session: requests.Session,
    record_property: Any,
) -> None:
    # 10 per route: ~3 s for posts:score (each case is scored) and ~5 s in all on 2 cores.
    sent = fuzz(schema, route, [GenerationMode.POSITIVE], 10, session)
    record_property("cases", sent)
    assert sent >= 1


@pytest.mark.slow
@pytest.mark.parametrize("route", FUZZED, ids=IDS)
def test_valid_and_invalid_requests_at_length(
    schema: schemathesis.BaseSchema,
    route: tuple[str, str],
    session: requests.Session,
    record_property: Any,
) -> None:
    modes = [GenerationMode.POSITIVE]
    if route in CAN_BE_INVALID:
        modes.append(GenerationMode.NEGATIVE)
    sent = fuzz(schema, route, modes, 300, session)
    record_property("cases", sent)
    assert sent >= 1
