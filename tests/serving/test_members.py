"""Member routes through the real server: one member, on-demand scores, at-risk pages; parity."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, time
from typing import Any

import httpx
import pandas as pd
import pytest

from features.lake.store import Lake
from features.members.store import read_features
from features.scores.at_risk import at_risk
from models.champions import load_churn_champion
from tests.serving.conftest import Home, auth

MEMBERS = auth("members")


@pytest.fixture(scope="module")
def table(home: Home) -> pd.DataFrame:
    """The batch pipeline's at-risk table, as `steward at-risk` reads it."""
    return at_risk(path=home.root / "scores" / "at_risk.parquet")


@pytest.fixture(scope="module")
def top(table: pd.DataFrame, home: Home) -> dict[str, Any]:
    """The member most at risk, with their feature row and their events up to as_of."""
    row = table.iloc[0]
    as_of = pd.Timestamp(row["as_of"]).date()
    features = read_features(home.features, [as_of]).to_pandas()
    mine = features[features["member_id"] == row["member_id"]].iloc[0]
    lake = Lake(home.root / "lake")
    events = lake.read("events").to_pandas()
    end = datetime.combine(as_of, time.max, tzinfo=UTC)
    events = events[(events["member_id"] == row["member_id"]) & (events["ts"] <= end)]
    members = lake.read("members").to_pandas()
    joined = members[members["member_id"] == row["member_id"]]["joined_at"].min()
    return {"row": row, "as_of": as_of, "features": mine, "events": events, "joined_at": joined}


def test_one_member_matches_the_batch_table(client: httpx.Client, table: pd.DataFrame) -> None:
    for i in (0, len(table) // 2, len(table) - 1):
        row = table.iloc[i]
        answer = client.get(f"/v1/members/{row['member_id']}/churn", headers=MEMBERS)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["probability"] == row["probability"] and body["tier"] == row["tier"]
        assert (
            body["reasons"] == list(row["reasons"]) and body["intervention"] == row["intervention"]
        )
        assert body["as_of"] == pd.Timestamp(row["as_of"]).date().isoformat()
        assert body["model"] == {"name": "steward-churn", "version": row["model_version"]}


def test_an_unknown_member_is_a_404_that_says_what_to_do(client: httpx.Client) -> None:
    answer = client.get("/v1/members/no-such-member/churn", headers=MEMBERS)
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert "'no-such-member' is not in the at-risk table" in error["message"]
    assert "POST /v1/members:score" in error["message"]


def test_scoring_raw_feature_values_gives_the_batch_score(
    client: httpx.Client, top: dict[str, Any]
) -> None:
    scorer, _ = load_churn_champion()
    values = {
        c: None if pd.isna(top["features"][c]) else float(top["features"][c])
        for c in scorer.feature_columns
    }
    answer = client.post(
        "/v1/members:score", json={"member_id": "m", "features": values}, headers=MEMBERS
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["probability"] == top["row"]["probability"]
    assert body["reasons"] == list(top["row"]["reasons"]) and body["missing_features"] == []
    assert body["source"] == "features" and body["features"] == values


def test_scoring_the_members_events_builds_the_batch_features_and_score(
    client: httpx.Client, top: dict[str, Any]
) -> None:
    events = [
        {
            "ts": ts.isoformat(),
            "event_type": kind,
            "value": None if pd.isna(value) else float(value),
            "target_id": None if pd.isna(target) else str(target),
        }
        for ts, kind, value, target in top["events"][
            ["ts", "event_type", "value", "target_id"]
        ].itertuples(index=False)
    ]
    body = {
        "member_id": top["row"]["member_id"],
        "events": events,
        "joined_at": top["joined_at"].isoformat(),
        "as_of": top["as_of"].isoformat(),
    }
    answer = client.post("/v1/members:score", json=body, headers=MEMBERS)
    assert answer.status_code == 200, answer.text
    scored = answer.json()
    assert scored["source"] == "events" and scored["as_of"] == top["as_of"].isoformat()
    expected = top["features"]
    for name, value in scored["features"].items():
        assert (value is None and pd.isna(expected[name])) or value == pytest.approx(
            expected[name], abs=1e-9
        ), name
    assert scored["probability"] == pytest.approx(top["row"]["probability"], abs=1e-12)
    assert scored["tier"] == top["row"]["tier"]


def test_custom_event_types_are_accepted_and_a_model_without_them_ignores_them(
    client: httpx.Client, top: dict[str, Any]
) -> None:
    # An x_ event on the member's last event day changes nothing this model counts (the day was
    # active already), so the score is the batch score; before, the request was refused.
    events = [
        {"ts": ts.isoformat(), "event_type": kind}
        for ts, kind in top["events"][["ts", "event_type"]].itertuples(index=False)
    ]
    events.append({"ts": events[-1]["ts"], "event_type": "x_quest_done"})
    body = {
        "member_id": top["row"]["member_id"],
        "events": events,
        "joined_at": top["joined_at"].isoformat(),
        "as_of": top["as_of"].isoformat(),
    }
    plain = {**body, "events": events[:-1]}
    answers = [client.post("/v1/members:score", json=b, headers=MEMBERS) for b in (body, plain)]
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    assert answers[0].json()["probability"] == answers[1].json()["probability"]
    assert "n_x_quest_done_30d" not in answers[0].json()["features"]


def test_a_model_with_custom_types_sees_a_member_without_them_as_having_none() -> None:
    from serving.member_events import features_from_events
    from serving.schemas.members import EventIn

    events = [EventIn(ts=datetime(2026, 3, 1, 12, tzinfo=UTC), event_type="login")]
    columns = ["n_login_30d", "n_x_search_30d", "days_since_last_x_search"]
    frame, _ = features_from_events("m", events, None, columns=columns)
    assert frame.loc[0, "n_login_30d"] == 1 and frame.loc[0, "n_x_search_30d"] == 0
    assert pd.isna(frame.loc[0, "days_since_last_x_search"])


def test_an_age_model_reads_the_requests_date_of_birth_or_none() -> None:
    from serving.member_events import features_from_events
    from serving.schemas.members import EventIn

    events = [EventIn(ts=datetime(2026, 3, 1, 12, tzinfo=UTC), event_type="login")]
    columns = ["n_login_30d", "age_years"]
    aged, day = features_from_events(
        "m", events, None, columns=columns, date_of_birth=date(2000, 3, 1)
    )
    assert day == date(2026, 3, 1) and aged.loc[0, "age_years"] == (26 * 365 + 6) / 365.25
    plain, _ = features_from_events("m", events, None, columns=columns)
    assert pd.isna(plain.loc[0, "age_years"]) and plain.loc[0, "n_login_30d"] == 1


def test_partial_features_are_scored_and_reported_missing(client: httpx.Client) -> None:
    answer = client.post(
        "/v1/members:score", json={"features": {"n_post_30d": 0.0}}, headers=MEMBERS
    )
    assert answer.status_code == 200
    assert "n_post_30d" not in answer.json()["missing_features"]
    assert "n_login_7d" in answer.json()["missing_features"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"features": {"n_post_30d": 1, "favourite_colour": 3}},
            "unknown features ['favourite_colour']",
        ),
        ({}, "give either 'features' or 'events'"),
        ({"features": {}, "events": []}, "give either 'features' or 'events'"),
        (
            {"events": [{"ts": "2026-01-01T00:00:00Z", "event_type": "teleport"}]},
            "unknown event types ['teleport']",
        ),
        (
            {
                "events": [{"ts": "2026-01-01T00:00:00Z", "event_type": "login"}],
                "as_of": "2026-06-01",
            },
            "no qualifying activity",
        ),
    ],
)
def test_bad_member_requests_get_422_with_a_reason(
    client: httpx.Client, body: dict[str, object], message: str
) -> None:
    answer = client.post("/v1/members:score", json=body, headers=MEMBERS)
    assert answer.status_code == 422
    assert message in answer.json()["error"]["message"]


def test_too_many_events_name_the_limit(client: httpx.Client) -> None:
    events = [{"ts": "2026-01-01T00:00:00Z", "event_type": "login"}] * 5_001
    answer = client.post("/v1/members:score", json={"events": events}, headers=MEMBERS)
    assert answer.status_code == 422 and answer.json()["error"]["limit"] == "max_events"


def test_cohorts_are_the_served_versions_own(client: httpx.Client) -> None:
    """GET /v1/members/cohorts: the cohorts.json of the served version's run, with the lines
    `train churn` printed; every feature's cohorts hold every row."""
    import mlflow
    from mlflow import MlflowClient

    from models.churn.cohorts import cohort_lines

    answer = client.get("/v1/members/cohorts", headers=MEMBERS)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    version = client.get("/readyz").json()["models"]["churn"]["version"]
    assert body["model"] == {"name": "steward-churn", "version": version}
    run_id = MlflowClient().get_model_version("steward-churn", version).run_id
    logged = mlflow.artifacts.load_dict(f"runs:/{run_id}/cohorts.json")
    assert body["features"] == logged["features"] and len(body["features"]) == 6
    assert body["summary"] == cohort_lines(logged)
    for groups in body["features"].values():
        assert sum(c["rows"] for c in groups) == body["rows"] > 0
        assert all(c["rate_low"] <= c["rate"] <= c["rate_high"] for c in groups)


def test_at_risk_pages_follow_the_batch_order_and_filters(
    client: httpx.Client, table: pd.DataFrame, home: Home
) -> None:
    path = home.root / "scores" / "at_risk.parquet"
    first = client.get("/v1/members/at-risk?limit=5", headers=MEMBERS).json()
    second = client.get("/v1/members/at-risk?limit=5&offset=5", headers=MEMBERS).json()
    ids = [m["member_id"] for m in first["members"] + second["members"]]
    assert ids == table["member_id"].head(10).tolist()
    assert (
        first["total"] == len(table)
        and first["as_of"] == pd.Timestamp(table["as_of"].iloc[0]).date().isoformat()
    )
    attributes = json.loads(table["attributes"].iloc[0])
    key, value = next((k, v) for k, v in attributes.items() if isinstance(v, str))
    query = f"/v1/members/at-risk?tier=high&min_probability=0.3&segment={key}={value}&limit=1000"
    filtered = client.get(query, headers=MEMBERS).json()
    expected = at_risk(tier="high", min_probability=0.3, segment={key: value}, path=path)
    assert [m["member_id"] for m in filtered["members"]] == expected["member_id"].tolist()
    assert filtered["total"] == len(expected) > 0
    assert all(m["tier"] == "high" and m["attributes"][key] == value for m in filtered["members"])


def test_at_risk_as_csv_matches_the_cli_layout(client: httpx.Client, table: pd.DataFrame) -> None:
    answer = client.get("/v1/members/at-risk?limit=20&format=csv", headers=MEMBERS)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["member_id"] for r in rows] == table["member_id"].head(20).tolist()
    assert rows[0]["reasons"] == "; ".join(table["reasons"].iloc[0])
    assert float(rows[0]["probability"]) == pytest.approx(table["probability"].iloc[0])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=1001", "max_page"),
        ("limit=0", "limit"),
        ("tier=extreme", "tier"),
        ("min_probability=2", "min_probability"),
        ("segment=channel", "is not KEY=VALUE"),
        ("format=xml", "format"),
    ],
)
def test_bad_at_risk_queries_get_422(client: httpx.Client, query: str, message: str) -> None:
    answer = client.get(f"/v1/members/at-risk?{query}", headers=MEMBERS)
    assert answer.status_code == 422 and message in answer.json()["error"]["message"]


def test_cohorts_of_an_older_version_or_none_yet_say_what_to_do() -> None:
    """The route's own answers when it has nothing to show: a churn version trained before runs
    logged cohorts (404 naming the fix), no churn model yet (503). The app is the real one; its
    loaded models are set by hand instead of trained."""
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.loaded_models import Loaded, Models
    from serving.settings import ServeSettings

    app = create_app(ServeSettings(no_auth=True, components=["churn"]))
    client = TestClient(app)  # no `with`: the lifespan (model loading) does not run
    still = client.get("/v1/members/cohorts")
    assert still.status_code == 503 and "still loading" in still.json()["error"]["message"]
    old = Loaded("steward-churn", "3", "models:/steward-churn@champion", scorer=None)
    app.state.steward.holder.current = Models(churn=old)
    answer = client.get("/v1/members/cohorts")
    assert answer.status_code == 404
    message = answer.json()["error"]["message"]
    assert "steward-churn v3 was trained before runs logged behavioural cohorts" in message
    assert "steward train churn" in message
