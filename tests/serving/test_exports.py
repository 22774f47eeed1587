"""The at-risk export over HTTP: formula cells neutralised, only the fields asked for, and
no URL that reaches a file."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from features.scores.export import DEFAULT_FIELDS
from tests.serving.conftest import Home, auth, settings_for
from tests.serving.server import start
from tests.support.exports import HOSTILE_IDS, SAFE_IDS, hostile_table

MEMBERS = auth("members")


@pytest.fixture(scope="module")
def hostile(home: Home, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A churn-only server serving an at-risk table whose cells start like formulas."""
    path = hostile_table(tmp_path_factory.mktemp("hostile"))
    running = start(settings_for(home, components=["churn"], at_risk_path=path))
    with httpx.Client(base_url=running.url, timeout=60) as client:
        yield client
    running.stop()


def rows(answer: httpx.Response) -> list[dict[str, str]]:
    """A CSV answer's rows."""
    assert answer.status_code == 200, answer.text
    return list(csv.DictReader(io.StringIO(answer.text)))


def test_formula_cells_are_neutralised_in_the_csv_download(hostile: httpx.Client) -> None:
    query = "format=csv&fields=member_id,reasons,intervention,probability"
    found = rows(hostile.get(f"/v1/members/at-risk?{query}", headers=MEMBERS))
    assert [r["member_id"] for r in found] == ["'" + i for i in HOSTILE_IDS] + SAFE_IDS
    assert (
        found[0]["reasons"].startswith("'=WEBSERVICE") and found[0]["intervention"] == "'@reach out"
    )
    assert float(found[0]["probability"]) == pytest.approx(0.9)
    # JSON carries the values as they are: escaping is the spreadsheet format's concern.
    page = hostile.get("/v1/members/at-risk?fields=member_id", headers=MEMBERS).json()
    assert page["members"][0] == {"member_id": HOSTILE_IDS[0]}


def test_only_the_fields_asked_for_are_sent(client: httpx.Client) -> None:
    default = client.get("/v1/members/at-risk?format=csv&limit=5", headers=MEMBERS)
    assert next(csv.reader(io.StringIO(default.text))) == list(DEFAULT_FIELDS)
    chosen = client.get(
        "/v1/members/at-risk?limit=5&fields=tier&fields=probability", headers=MEMBERS
    )
    members = chosen.json()["members"]
    assert len(members) == 5 and all(
        set(m) == {"member_id", "tier", "probability"} for m in members
    )
    full = client.get("/v1/members/at-risk?limit=1", headers=MEMBERS).json()["members"][0]
    assert set(full) == {
        "member_id",
        "probability",
        "tier",
        "reasons",
        "intervention",
        "attributes",
    }
    for query, message in (
        ("fields=email", "unknown fields ['email']"),
        ("fields=drivers", "add format=csv"),
        ("format=csv&fields=member_id,password", "unknown fields ['password']"),
    ):
        answer = client.get(f"/v1/members/at-risk?{query}", headers=MEMBERS)
        assert answer.status_code == 422 and message in answer.json()["error"]["message"], query


@pytest.mark.parametrize(
    "path",
    [
        "/v1/members/..%2F..%2F..%2Fetc%2Fpasswd/churn",
        "/v1/members/%2e%2e/churn",
        "/..%2F..%2Fetc%2Fpasswd",
        "/docs/../../../etc/passwd",
        "/v1/members/at-risk/../../../../etc/passwd",
        "/ui/static/../../../../etc/passwd",
        "/ui/static/..%2F..%2F..%2Fsettings.py",
        "/ui/static/%2e%2e/%2e%2e/settings.py",
    ],
)
def test_no_url_reaches_a_file(client: httpx.Client, path: str) -> None:
    # httpx would normalise dot segments: send the raw target as a hostile client would.
    request = client.build_request("GET", "/", headers=MEMBERS)
    request.url = request.url.copy_with(raw_path=path.encode())
    answer = client.send(request)
    assert answer.status_code == 404, (path, answer.text[:200])
    assert answer.headers["content-type"].startswith("application/json")
    assert "root:" not in answer.text and answer.json()["error"]["message"]


def test_the_export_path_setting_is_a_file_the_operator_chose(home: Home, tmp_path: Path) -> None:
    # The table path comes from settings only: no request parameter can name a file.
    from serving.app import create_app

    schema = create_app(settings_for(home)).openapi()
    names = {
        p["name"]
        for item in schema["paths"].values()
        for op in item.values()
        for p in op.get("parameters", [])
    }
    assert not {n for n in names if any(w in n.lower() for w in ("path", "file", "dir", "uri"))}
