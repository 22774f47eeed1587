"""Churn labels on hand-built timelines: exactly DESIGN.md's definitions, edges included."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path

import pyarrow as pa

from features.lake.store import Lake
from features.members import build as mf
from features.schemas import EVENTS
from tests.support.timelines import T, build, connect, day, ev

LATE = day(400)  # a data end far enough that no label is censored


def activity(member: str, *offsets: int) -> list[dict]:
    """Logins of one member on days T + offset."""
    return [ev(member, day(d), "login") for d in offsets]


def test_activity_label_edges() -> None:
    events = [
        *activity("quiet", -3),  # nothing after T
        *activity("back", -3, 10),
        *activity("at_horizon", -3),
        ev("at_horizon", datetime.combine(day(30), time(0), UTC), "login"),  # first second of T+30
        *activity("one_late", -3, 31),
        ev("at_t", datetime.combine(T, time(23, 59, 59), UTC), "login"),  # last second of T
        ev("passive", day(-3), "login"),
        ev("passive", day(5), "like_received"),  # happens to the member: not activity
    ]
    rows = build(connect(events), [T], data_end=LATE)
    labels = {m: r["churned_activity"] for (m, _), r in rows.items()}
    assert labels == {
        "quiet": 1,
        "back": 0,
        "at_horizon": 0,  # T + horizon is inside (T, T + horizon]
        "one_late": 1,  # T + horizon + 1 is not
        "at_t": 1,  # activity on day T is a feature, not a sign of staying
        "passive": 1,
    }
    assert rows[("at_t", T)]["n_login_7d"] == 1
    assert rows[("at_t", T)]["days_since_last_activity"] == 0


def test_days_are_utc_days() -> None:
    # 20:00 on T at UTC-5 is 01:00 UTC on T + 1: not seen at T, but inside the label window.
    eastern = timezone(timedelta(hours=-5))
    late_evening = datetime.combine(T, time(20), eastern).astimezone(UTC)
    events = [*activity("a", -1), ev("a", late_evening, "post")]
    a = build(connect(events), [T], data_end=LATE)[("a", T)]
    assert a["n_post_7d"] == 0
    assert a["churned_activity"] == 0


def test_members_who_join_after_t_have_no_row() -> None:
    events = [*activity("old", -5), *activity("new", 3), *activity("listed_late", -5)]
    members = [("old", day(-50)), ("listed_late", day(1))]  # the members table wins
    rows = build(connect(events, members=members), [T], data_end=LATE)
    assert set(rows) == {("old", T)}


def test_inactive_members_have_no_row() -> None:
    events = [*activity("lapsed", -31, 5), *activity("in_lookback", -29)]
    rows = build(connect(events), [T], data_end=LATE)
    assert set(rows) == {("in_lookback", T)}
    rows = build(connect(events), [T], data_end=LATE, lookback_days=32)  # days T-31 .. T
    assert ("lapsed", T) in rows


def test_censored_windows_are_null() -> None:
    events = activity("a", -3) + activity("b", -3, 10)
    rows = build(connect(events), [T], data_end=day(29))
    assert rows[("a", T)]["churned_activity"] is None
    assert rows[("b", T)]["churned_activity"] is None  # even with activity seen: not final yet
    rows = build(connect(events), [T], data_end=day(30))
    assert rows[("a", T)]["churned_activity"] == 1
    assert rows[("b", T)]["churned_activity"] == 0


def test_horizon_is_configurable() -> None:
    events = activity("a", -3, 10)
    assert (
        build(connect(events), [T], data_end=LATE, horizon_days=7)[("a", T)]["churned_activity"]
        == 1
    )
    assert (
        build(connect(events), [T], data_end=LATE, horizon_days=10)[("a", T)]["churned_activity"]
        == 0
    )


def test_qualifying_types_are_configurable() -> None:
    events = [*activity("a", -3), ev("a", day(5), "like_received")]
    rows = build(connect(events), [T], data_end=LATE, qualifying=("login", "like_received"))
    assert rows[("a", T)]["churned_activity"] == 0


def test_default_data_end_is_the_last_event_day(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    with lake.transaction("test", "fp1") as txn:
        events = activity("a", -60, -3) + activity("b", -40, -20) + activity("c", 29)
        txn.write("events", pa.Table.from_pylist(events, schema=EVENTS.schema))
    report = mf.build_member_features(lake, tmp_path / "out", as_of=[day(-40), T])
    assert report.data_end == day(29)
    assert report.label_counts["churned_activity"] == {"1": 1, "0": 1, "null": 2}


def subscribed(
    member: str, *periods: tuple[int, int | None]
) -> list[tuple[str, date, date | None]]:
    """Subscription periods (start offset, end offset or None) of one member."""
    return [(member, day(s), None if e is None else day(e)) for s, e in periods]


def subscription_labels(
    periods: list[tuple[str, date, date | None]],
    as_of: date = T,
    data_end: date = LATE,
    grace_days: int = 0,
) -> dict[str, int | None]:
    """churned_subscription at as_of of members that have a members row and no events."""
    members = sorted({(m, day(-500)) for m, _, _ in periods} | {("none", day(-500))})
    rows = build(
        connect([], members=members, subscriptions=periods),
        [as_of],
        data_end=data_end,
        grace_days=grace_days,
    )
    return {m: r["churned_subscription"] for (m, _), r in rows.items()}


def test_subscription_label() -> None:
    periods = [
        *subscribed("ends_in_window", (-60, 10)),
        *subscribed("renewed", (-60, 10), (10, 100)),  # starts the day the last one ends
        *subscribed("ends_after_window", (-10, 45)),
        *subscribed("ends_at_horizon", (-10, 30)),
        *subscribed("open", (-10, None)),
        *subscribed("ended_before", (-60, -5)),
        *subscribed("ends_at_t", (-60, 0)),  # lapsed by the end of T
        *subscribed("starts_at_t", (0, 5)),
    ]
    assert subscription_labels(periods) == {
        "ends_in_window": 1,
        "renewed": 0,
        "ends_after_window": 0,
        "ends_at_horizon": 1,
        "open": 0,
        "starts_at_t": 1,
    }  # no row for members neither active nor subscribed at T ("none", "ended_before", ...)


def test_subscription_label_is_null_when_unknowable() -> None:
    periods = [
        *subscribed("ends_past_data", (-10, 20)),  # in the window, but after the data ends
        *subscribed("open", (-10, None)),
        *subscribed("ends_in_data", (-10, 10)),
        *subscribed("ends_past_window", (-10, 200)),
    ]
    assert subscription_labels(periods, data_end=day(15)) == {
        "ends_past_data": None,
        "open": None,
        "ends_in_data": 1,
        "ends_past_window": None,  # T + 30 > data end: it could still be cancelled early
    }


def test_grace_days_bridge_short_gaps() -> None:
    periods = subscribed("gap3", (-60, 10), (13, 100))
    assert subscription_labels(periods, grace_days=0) == {"gap3": 1}
    assert subscription_labels(periods, grace_days=2) == {"gap3": 1}
    assert subscription_labels(periods, grace_days=3) == {"gap3": 0}


def test_renewal_counts_from_the_latest_end_so_far() -> None:
    # A short period inside a long one must not hide that the third continues the first.
    periods = subscribed("nested", (-100, 100), (-50, -40), (50, 200))
    assert subscription_labels(periods, as_of=day(90)) == {"nested": 0}


def test_active_and_subscribed_members_get_both_labels() -> None:
    events = activity("a", -3) + activity("b", -3, 5)
    periods = subscribed("a", (-30, 60)) + subscribed("c", (-30, 10))
    con = connect(events, members=[("c", day(-90))], subscriptions=periods)
    rows = build(con, [T], data_end=LATE)
    labels = {m: (r["churned_activity"], r["churned_subscription"]) for (m, _), r in rows.items()}
    assert labels == {
        "a": (1, 0),  # stopped showing up, still paying
        "b": (0, None),  # no subscriptions at all
        "c": (None, 1),  # subscribed but not active at T: no activity label
    }
