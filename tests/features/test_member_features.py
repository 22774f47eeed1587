"""Member features: exact values on hand-built timelines, a reference check, output files."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.members import build as mf
from features.members import definition as mf_definition
from features.members import sql as mf_sql
from features.members import store as mf_store
from features.members.definition import FEATURE_COLUMNS, FeatureConfig
from features.schemas import EVENT_TYPES
from pipelines.output import features_table
from tests.support.lakes import two_ingest_lake
from tests.support.timelines import (
    T,
    assert_same_table,
    build,
    connect,
    day,
    ev,
    histories,
    timeline_lake,
)


def timeline() -> list[dict[str, Any]]:
    """Member a's history around T, one event per thing a feature should notice."""
    logins = [0, -6, -6, -7, -13, -14, -29, -30, -89, -90]
    return [
        *(ev("a", day(d), "login") for d in logins),
        ev("a", day(-20), "post"),
        ev("a", day(-40), "post"),
        *(ev("a", day(d), "reply_received") for d in (-1, -2, -29)),
        ev("a", day(-30), "reply_received"),  # one day outside the 30-day window
        *(ev("a", day(d), "like_received") for d in (-3, -4)),
        ev("a", day(-2), "like_given", target="x"),
        ev("a", day(-3), "like_given", target="y"),
        ev("a", day(-4), "like_given", target="x"),
        ev("a", day(-5), "like_given"),  # no target: not an interaction with anyone
        ev("a", day(-29), "comment", target="w"),
        ev("a", day(-30), "comment", target="z"),  # outside the 30-day window
        ev("a", day(-10), "ticket_opened", target="k1"),
        ev("a", day(-5), "ticket_resolved", target="k1"),
        ev("a", day(-20), "ticket_opened", target="k2"),
        ev("a", day(-3), "ticket_opened", target="k3"),
        ev("a", day(2), "ticket_resolved", target="k3"),  # resolved after T: open at T
        ev("a", day(-100), "points_earned", value=100),
        ev("a", day(-10), "points_earned", value=50),
        ev("a", day(-95), "points_redeemed", value=30),
        ev("a", day(-5), "points_redeemed", value=20),
        ev("a", day(1), "points_earned", value=999),  # after T
        ev("b", day(-15), "post"),
    ]


@pytest.fixture
def rows() -> dict[tuple[str, date], dict[str, Any]]:
    """Features of the timeline at T (members table lists a twice, as repeated ingests do)."""
    con = connect(timeline(), members=[("a", day(-100)), ("a", day(-120))])
    return build(con, [T], data_end=day(60))


def test_windowed_counts_include_exactly_the_last_n_days(rows: dict) -> None:
    a = rows[("a", T)]
    assert (a["n_login_7d"], a["n_login_14d"], a["n_login_30d"], a["n_login_90d"]) == (3, 5, 7, 9)
    assert (a["n_post_7d"], a["n_post_30d"], a["n_post_90d"]) == (0, 1, 2)
    assert a["n_reply_received_30d"] == 3
    assert a["n_points_redeemed_90d"] == 1
    assert a["n_answer_90d"] == 0


def test_active_days_count_days_not_events(rows: dict) -> None:
    a = rows[("a", T)]
    # Days with logins, posts, likes given, comments, tickets opened or redemptions:
    assert a["active_days_7d"] == 6  # 0, -2, -3, -4, -5, -6 (two logins on -6)
    assert a["active_days_30d"] == 12  # and -7, -10, -13, -14, -20, -29
    assert a["active_days_90d"] == 15  # and -30, -40, -89


def test_days_since_and_tenure(rows: dict) -> None:
    a, b = rows[("a", T)], rows[("b", T)]
    assert a["days_since_last_activity"] == 0
    assert a["days_since_last_login"] == 0
    assert a["days_since_last_post"] == 20
    assert a["days_since_last_points_redeemed"] == 5
    assert a["days_since_last_answer"] is None
    assert a["days_since_last_ticket_resolved"] == 5  # the one after T is not seen
    assert a["tenure_days"] == 120  # earliest of the duplicate members rows
    assert b["tenure_days"] == 15  # no members row: the first event
    assert b["days_since_last_activity"] == 15


def test_trends_compare_the_last_14_days_with_the_14_before(rows: dict) -> None:
    a = rows[("a", T)]
    # Logins: 5 on days -13..0, 1 on days -27..-14 (day -29 is older).
    assert a["trend_login_14d"] == pytest.approx((5 + 1) / (1 + 1))
    assert a["trend_post_14d"] == pytest.approx((0 + 1) / (1 + 1))


def test_social_reach(rows: dict) -> None:
    a, b = rows[("a", T)], rows[("b", T)]
    assert a["distinct_members_interacted_30d"] == 3  # x, y, w
    assert a["replies_received_per_post_30d"] == pytest.approx(3.0)
    assert a["likes_received_per_post_30d"] == pytest.approx(2.0)
    assert b["replies_received_per_post_30d"] == pytest.approx(0.0)
    assert b["distinct_members_interacted_30d"] == 0


def test_open_tickets_and_their_age(rows: dict) -> None:
    a, b = rows[("a", T)], rows[("b", T)]
    assert a["tickets_open_unresolved"] == 2  # k2 and k3; k1 was resolved before T
    assert a["oldest_open_ticket_days"] == 20
    assert b["tickets_open_unresolved"] == 0
    assert b["oldest_open_ticket_days"] is None


def test_points(rows: dict) -> None:
    a = rows[("a", T)]
    assert a["points_balance"] == pytest.approx(100 + 50 - 30 - 20)
    assert a["points_redeemed_90d"] == pytest.approx(20)


def test_ratios_are_null_without_posts() -> None:
    con = connect([ev("c", day(0), "login"), ev("c", day(-1), "reply_received")])
    c = build(con, [T], data_end=day(60))[("c", T)]
    assert c["replies_received_per_post_30d"] is None
    assert c["likes_received_per_post_30d"] is None


def test_output_columns_and_types() -> None:
    table = mf.build_features(connect(timeline()), [T], FeatureConfig(data_end=day(60)))
    assert table.column_names == [
        "member_id",
        "as_of",
        *FEATURE_COLUMNS,
        *mf_definition.LABEL_COLUMNS,
    ]
    assert table.schema.field("n_post_30d").type == pa.int64()
    assert table.schema.field("days_since_last_post").type == pa.int64()
    assert table.schema.field("trend_post_14d").type == pa.float64()
    assert table.schema.field("as_of").type == pa.date32()
    assert len(set(FEATURE_COLUMNS)) == len(FEATURE_COLUMNS)
    assert {f"n_{t}_30d" for t in EVENT_TYPES} <= set(FEATURE_COLUMNS)


def test_no_dates_and_bad_config() -> None:
    con = connect(timeline())
    assert mf.build_features(con, [], FeatureConfig()).num_rows == 0
    with pytest.raises(ValueError, match="qualifying"):
        mf.build_features(con, [T], FeatureConfig(qualifying=("login", "nap")))
    with pytest.raises(ValueError, match="horizon_days"):
        mf.build_features(con, [T], FeatureConfig(horizon_days=0))


def test_sql_stays_portable() -> None:
    sql = mf_sql.feature_sql(FeatureConfig(), T).upper()
    # MEASURED.md: what DuckDB accepts and Spark SQL does not (or reads differently).
    for construct in (r"::", r"\bQUALIFY\b", r"\bDATE_?DIFF\b", r"\bASOF\b", r"//", r"FILTER \("):
        assert not re.search(construct, sql), construct
    assert not re.search(r"\$\{", sql)  # every slot filled


# A direct, slow restatement of the semantics for random histories: the SQL must agree with it.

Aged = list[tuple[dict[str, Any], int]]  # events with their age in days at as_of (< 0: after it)


def reference(
    events: list[dict[str, Any]], as_of: Sequence[date], config: FeatureConfig, data_end: date
) -> dict[tuple[str, date], dict[str, Any]]:
    """Features and activity labels computed event by event, one date at a time."""
    first: dict[str, date] = {}
    for e in events:
        d = e["ts"].date()
        first[e["member_id"]] = min(first.get(e["member_id"], d), d)
    out = {}
    for t in as_of:
        for m, joined in first.items():
            mine = [(e, (t - e["ts"].date()).days) for e in events if e["member_id"] == m]
            past = [(e, age) for e, age in mine if age >= 0]
            qual = [(e, age) for e, age in past if e["event_type"] in config.qualifying]
            if joined > t or not any(age < config.lookback_days for _, age in qual):
                continue
            out[(m, t)] = _reference_row(mine, past, qual, t, joined, config, data_end)
    return out


def _reference_row(
    mine: Aged, past: Aged, qual: Aged, t: date, joined: date, config: FeatureConfig, data_end: date
) -> dict[str, Any]:
    def n(kind: str | None, lo: int, hi: int) -> int:
        pool = qual if kind is None else [(e, a) for e, a in past if e["event_type"] == kind]
        return sum(1 for _, a in pool if lo <= a < hi)

    def since(pool: Aged) -> int | None:
        return min(a for _, a in pool) if pool else None

    row: dict[str, Any] = {f"n_{k}_{w}d": n(k, 0, w) for k in EVENT_TYPES for w in (7, 14, 30, 90)}
    for w in (7, 30, 90):
        row[f"active_days_{w}d"] = len({a for _, a in qual if a < w})
    row["days_since_last_activity"] = since(qual)
    for k in EVENT_TYPES:
        row[f"days_since_last_{k}"] = since([(e, a) for e, a in past if e["event_type"] == k])
    row["tenure_days"] = (t - joined).days
    for name, kind in (("activity", None), ("post", "post"), ("login", "login")):
        row[f"trend_{name}_14d"] = (n(kind, 0, 14) + 1) / (n(kind, 14, 28) + 1)
    social = ("like_given", "comment")
    row["distinct_members_interacted_30d"] = len(
        {e["target_id"] for e, a in past if e["event_type"] in social and e["target_id"] and a < 30}
    )
    posts = row["n_post_30d"]
    row["replies_received_per_post_30d"] = row["n_reply_received_30d"] / posts if posts else None
    row["likes_received_per_post_30d"] = row["n_like_received_30d"] / posts if posts else None
    opened: dict[str, int] = {}
    resolved: dict[str, int] = {}
    for e, a in mine:  # all history: a later opening of an old ticket does not reopen it
        book = {"ticket_opened": opened, "ticket_resolved": resolved}.get(e["event_type"])
        if book is not None and e["target_id"]:
            book[e["target_id"]] = max(book.get(e["target_id"], a), a)
    still_open = [a for k, a in opened.items() if a >= 0 and resolved.get(k, -1) < 0]
    row["tickets_open_unresolved"] = len(still_open)
    row["oldest_open_ticket_days"] = max(still_open) if still_open else None

    def points(kind: str, hi: int = 10**6) -> float:
        return sum(e["value"] or 0 for e, a in past if e["event_type"] == kind and a < hi)

    row["points_balance"] = points("points_earned") - points("points_redeemed")
    row["points_redeemed_90d"] = points("points_redeemed", 90)
    future = [a for e, a in mine if e["event_type"] in config.qualifying and a < 0]
    horizon = config.horizon_days
    censored = t + timedelta(days=horizon) > data_end
    row["churned_activity"] = None if censored else int(not any(-horizon <= a for a in future))
    return row


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=histories(),
    offsets=st.lists(st.integers(-60, 20), min_size=1, max_size=4, unique=True),
    lookback=st.sampled_from([7, 30, 45, 120]),
)
def test_features_match_a_direct_computation(
    events: list[dict[str, Any]], offsets: list[int], lookback: int
) -> None:
    as_of = [day(d) for d in offsets]
    config = FeatureConfig(lookback_days=lookback, horizon_days=21, data_end=day(30))
    got = build(connect(events), as_of, **vars(config))
    want = reference(events, as_of, config, day(30))
    assert set(got) == set(want)
    for key, expected in want.items():
        actual = {name: got[key][name] for name in expected}
        assert actual == pytest.approx(expected), key


# Output files.


def test_write_features_partitions_by_date_with_metadata(tmp_path: Path) -> None:
    con = connect(timeline())
    dates = [day(-7), T]
    config = FeatureConfig(data_end=day(60))
    table = mf.build_features(con, dates, config)
    out = mf_store.write_features(table, tmp_path / "member", config, dates, "snap1")
    assert sorted(p.name for p in out.iterdir()) == [
        "_features.json",
        f"as_of={day(-7).isoformat()}",
        f"as_of={T.isoformat()}",
    ]
    part = pq.read_table(out / f"as_of={T.isoformat()}" / "part-0.parquet")
    assert part.column_names == [c for c in table.column_names if c != "as_of"]
    assert part.num_rows == 2
    assert mf_store.read_features(out).equals(table)
    assert mf_store.read_features(out, [T]).column("as_of").to_pylist() == [T, T]
    hive = pq.read_table(out)  # the folder reads as one table with the usual Hive tools
    assert hive.num_rows == table.num_rows
    meta = json.loads((out / "_features.json").read_text())
    assert meta["feature_columns"] == FEATURE_COLUMNS
    assert meta["feature_definition_version"] == mf_definition.FEATURE_DEFINITION_VERSION
    assert meta["as_of"] == [d.isoformat() for d in dates]
    assert meta["lake_snapshot"] == "snap1"
    assert meta["config"]["horizon_days"] == 30
    assert meta["config"]["data_end"] == day(60).isoformat()
    assert meta["rows"] == table.num_rows == sum(c["rows"] for c in meta["by_as_of"].values())
    assert meta["by_as_of"][T.isoformat()]["activity_1"] == 2  # nothing qualifying after T
    assert sum(meta["label_counts"]["churned_activity"].values()) == table.num_rows


def test_failed_write_leaves_previous_features(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con, config, out = connect(timeline()), FeatureConfig(data_end=day(60)), tmp_path / "member"
    first = mf.build_features(con, [T], config)
    mf_store.write_features(first, out, config, [T], "old")
    before = (out / "_features.json").read_text()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(mf_store.pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        mf_store.write_features(first, out, config, [day(-7), T], "new")
    assert (out / "_features.json").read_text() == before
    assert pq.read_table(out / f"as_of={T.isoformat()}" / "part-0.parquet").num_rows == 2
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "member"]
    assert leftovers == [out.resolve().name]  # only the published version's folder


def test_rewrite_replaces_and_cleans_up(tmp_path: Path) -> None:
    con, config, out = connect(timeline()), FeatureConfig(data_end=day(60)), tmp_path / "member"
    table = mf.build_features(con, [T], config)
    mf_store.write_features(table, out, config, [T], "one")
    mf_store.write_features(table, out, config, [T], "two")
    assert json.loads((out / "_features.json").read_text())["lake_snapshot"] == "two"
    assert len(list(tmp_path.iterdir())) == 2  # the link and one version


def test_build_member_features_from_a_lake(tmp_path: Path) -> None:
    lake = timeline_lake(tmp_path / "lake", timeline(), {"a": day(-120)})
    report = mf.build_member_features(lake, tmp_path / "features", as_of=[T])
    assert report.rows == 2 and report.rows_by_as_of[T]["rows"] == 2
    assert "2 rows" in str(features_table(report).title)
    assert report.events == len(timeline())
    assert report.data_end == day(2)  # the last event day
    assert report.lake_snapshot == lake.snapshot_id()
    a = {r["member_id"]: r for r in mf_store.read_features(tmp_path / "features").to_pylist()}["a"]
    assert a["n_login_7d"] == 3 and a["tenure_days"] == 120
    assert a["churned_activity"] is None  # T + 30 is past the last event day


def test_arrays_engine_takes_dates_a_group_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Years of dates over many members are built a few dates at a time (memory stays bounded):
    # one date per group must give the table that all dates at once give, and the SQL's.
    from features.members import arrays as member_arrays

    con = connect(timeline(), members=[("a", day(-100))])
    dates = [day(-40), day(-20), day(-3), T]
    whole = build(con, dates, data_end=day(60))
    monkeypatch.setattr(member_arrays, "CELL_BUDGET", 1)
    assert build(con, dates, data_end=day(60)) == whole
    assert {as_of for _, as_of in whole} == set(dates)


def test_engines_agree_on_a_simulated_community(tmp_path: Path) -> None:
    # Thousands of members, two events files, subscriptions, a member with no events: the
    # arrays engine must write exactly the SQL's table.
    lake = two_ingest_lake(tmp_path / "lake")
    assert len(lake.files("events")) == 2
    built = {
        engine: mf.build_member_features(lake, tmp_path / engine, every_days=14, engine=engine)
        for engine in mf_definition.ENGINES
    }
    assert built["arrays"].rows > 1000 and len(built["arrays"].as_of) >= 6
    got, want = (mf_store.read_features(tmp_path / engine) for engine in ("arrays", "sql"))
    assert_same_table(got, want)
    assert "only-subscribed" in got["member_id"].to_pylist()
    assert pc.sum(got["churned_subscription"]).as_py() > 0


def test_observation_dates_step_back_from_the_end() -> None:
    con = connect([ev("a", day(-100), "login"), ev("a", day(0), "login")])
    dates = mf.observation_dates(con, every_days=30, lookback_days=30)
    assert dates == [day(-60), day(-30), day(0)]  # day -90 lacks 30 days of history
    assert mf.observation_dates(con, 30, data_end=day(-50), lookback_days=30) == [day(-50)]
    assert mf.observation_dates(connect([]), 7) == []
