"""No leakage: what happens after T changes no feature at T, and no label whose window closed."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.schemas import EVENT_TYPES
from tests.support.timelines import T, build, connect, day, ev, histories

HORIZON = 14
DATA_END = day(60)  # fixed, so that later events cannot move censoring


@st.composite
def later_events(draw: st.DrawFn, after: date) -> list[dict[str, Any]]:
    """Events on UTC days after `after`, by known members and by a newcomer."""
    n = draw(st.integers(1, 15))
    return [
        ev(
            draw(st.sampled_from(["a", "b", "c", "newcomer"])),
            datetime.combine(after, time(0), UTC)
            + timedelta(days=draw(st.integers(1, 50)), minutes=draw(st.integers(0, 1439))),
            draw(st.sampled_from(EVENT_TYPES)),
            value=draw(st.sampled_from([None, 7.0])),
            target=draw(st.sampled_from([None, "x", "k1"])),
        )
        for _ in range(n)
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=histories(),
    cut=st.integers(-40, 10),
    offsets=st.lists(st.integers(-60, 10), min_size=1, max_size=3, unique=True),
    data=st.data(),
)
def test_later_events_change_nothing_they_should_not(
    history: list[dict[str, Any]], cut: int, offsets: list[int], data: st.DataObject
) -> None:
    cutoff = day(cut)
    later = data.draw(later_events(cutoff))
    as_of = sorted({day(d) for d in offsets} | {cutoff})
    members = [("a", day(-150)), ("b", day(-20))]
    before = build(connect(history, members), as_of, horizon_days=HORIZON, data_end=DATA_END)
    after = build(connect(history + later, members), as_of, horizon_days=HORIZON, data_end=DATA_END)
    first_later = min(e["ts"].date() for e in later)
    for t in (t for t in as_of if t <= cutoff):
        rows_before = {k: v for k, v in before.items() if k[1] == t}
        rows_after = {k: v for k, v in after.items() if k[1] == t}
        assert rows_before.keys() == rows_after.keys()
        for key, row in rows_before.items():
            labels = ("churned_activity", "churned_subscription")
            features = {k: v for k, v in row.items() if k not in labels}
            assert features == {k: v for k, v in rows_after[key].items() if k not in labels}
            if t + timedelta(days=HORIZON) < first_later:
                assert row["churned_activity"] == rows_after[key]["churned_activity"]


def test_a_single_later_event_does_not_leak() -> None:
    # The hand-checked version of the property: the same history, a post the day after T.
    history = [ev("a", day(-3), "login"), ev("a", day(-10), "post")]
    later = [ev("a", day(1), "post"), ev("a", datetime.combine(day(1), time(0), UTC), "login")]
    before = build(connect(history), [T], data_end=DATA_END)[("a", T)]
    after = build(connect(history + later), [T], data_end=DATA_END)[("a", T)]
    assert before["n_post_7d"] == after["n_post_7d"] == 0
    assert before["days_since_last_post"] == after["days_since_last_post"] == 10
    assert (before["churned_activity"], after["churned_activity"]) == (1, 0)  # labels may see it
