"""Reasons on hand-made rows: the member's own numbers, only risk-raising drivers, the rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.members.definition import AGE_COLUMN, FEATURE_COLUMNS, custom_columns
from features.schemas import EVENT_TYPES
from models.churn.reasons import (
    DEFAULT_INTERVENTIONS,
    DRIVER_INTERVENTIONS,
    Reasons,
    explain,
    load_interventions,
)
from models.churn.wording import EVENT_WORDS, OTHER, format_value, reason_keys, wordings

ROOT = Path(__file__).resolve().parents[2]


def member(**values: float) -> dict[str, float]:
    """A quiet member of a year's standing: zero counts, no history, unless given."""
    row = {c: 0.0 for c in FEATURE_COLUMNS}
    row["tenure_days"] = 365.0
    for c in FEATURE_COLUMNS:
        if c.startswith("days_since_last_") or c in ("oldest_open_ticket_days",):
            row[c] = np.nan
        if c.startswith("trend_"):
            row[c] = 1.0
    row.update(values)
    return row


def reasons_for(
    rows: list[dict[str, float]],
    pushes: list[dict[str, float]],
    top_k: int = 3,
    columns: list[str] = FEATURE_COLUMNS,
    harm: frozenset[str] = frozenset(),
    actions: dict[str, str] | None = None,
) -> Reasons:
    """Explain rows whose contributions are given per feature (0 elsewhere)."""
    frame = pd.DataFrame(rows)
    contrib = np.zeros((len(rows), len(columns)))
    for i, push in enumerate(pushes):
        for feature, value in push.items():
            contrib[i, columns.index(feature)] = value
    x = frame[columns].to_numpy(dtype=np.float64)
    index = {c: i for i, c in enumerate(columns)}
    if actions is None:
        actions = load_interventions(None)  # the defaults, driver-specific lines included
    return explain(lambda c: x[:, index[c]], contrib, columns, actions, top_k, harm)


def test_every_feature_and_event_type_has_words() -> None:
    assert set(EVENT_TYPES) <= set(EVENT_WORDS)
    words = wordings(tuple(FEATURE_COLUMNS))
    assert set(words) == set(FEATURE_COLUMNS)
    assert all(w.key != OTHER for w in words.values())
    assert {w.key for w in words.values()} <= set(DEFAULT_INTERVENTIONS)


def test_ticket_reason_names_count_and_age() -> None:
    found = reasons_for(
        [member(tickets_open_unresolved=2, oldest_open_ticket_days=9)],
        [{"oldest_open_ticket_days": 0.8, "tickets_open_unresolved": 0.3}],
    )
    assert found.lists("texts") == [["2 support tickets unresolved, the oldest for 9 days"]]
    assert found.lists("interventions")[0][0].startswith("support follow-up")
    assert found.lists("drivers") == [["tickets_open_unresolved"]]


def test_no_ticket_reason_without_an_open_ticket() -> None:
    # The model blames ticket features, but nothing is open: the next reason takes its place.
    row = member(tickets_open_unresolved=0, n_ticket_opened_30d=3, days_since_last_login=20)
    push = {
        "n_ticket_opened_30d": 2.0,
        "tickets_open_unresolved": 1.0,
        "days_since_last_login": 0.1,
    }
    found = reasons_for([row], [push])
    assert found.lists("keys") == [["activity_falling"]]
    assert found.lists("texts") == [["last login 20 days ago"]]


def test_falling_posts_are_worded_with_both_windows() -> None:
    # trend = (recent + 1) / (previous + 1): 12 posts the 14 days before, 2 in the last 14.
    row = member(n_post_14d=2, trend_post_14d=3 / 13)
    found = reasons_for([row], [{"trend_post_14d": 0.9}])
    assert found.lists("texts") == [["posts fell from 12 to 2 over the last 14 days"]]
    assert "event" in found.lists("interventions")[0][0]


def test_unanswered_posts_and_singular_nouns() -> None:
    rows = [member(n_post_30d=3), member(n_post_30d=1)]
    push = {"replies_received_per_post_30d": 0.5}
    found = reasons_for(rows, [push, push])
    assert found.lists("texts") == [
        ["no reply to any of their 3 posts in the last 30 days"],
        ["no reply to their 1 post in the last 30 days"],
    ]


def test_unanswered_posts_do_not_apply_to_members_whose_posts_got_replies() -> None:
    row = member(n_post_30d=3, n_reply_received_30d=7)
    assert reasons_for([row], [{"n_reply_received_30d": 0.5}]).lists("texts") == [[]]


def test_only_risk_raising_keys_in_order_up_to_top_k() -> None:
    row = member(
        points_balance=1200,
        n_toxic_reply_received_90d=4,
        n_toxic_reply_received_30d=4,
        tenure_days=12,
    )
    push = {
        "n_toxic_reply_received_30d": 0.4,
        "points_balance": 0.9,
        "tenure_days": 0.2,
        "active_days_30d": 0.1,
        "n_login_30d": -3.0,  # pulls risk down: never a reason
    }
    found = reasons_for([row, row], [push, {"n_login_30d": -1.0}], top_k=3)
    assert found.lists("keys") == [["unused_points", "toxic_replies", "tenure"], []]
    texts = found.lists("texts")[0]
    assert texts[0] == "1200 loyalty points unused, never redeemed"
    # The member joined 12 days ago: the 30-day count covers those 12 days, and says so.
    assert texts[1] == "4 toxic replies since joining 12 days ago"
    assert texts[2] == "member for only 12 days, still new"


def test_contributions_of_a_key_add_up() -> None:
    # Two activity features of 0.3 each outrank one points feature of 0.5.
    row = member(points_balance=100, days_since_last_activity=12, active_days_30d=2)
    push = {"days_since_last_activity": 0.3, "active_days_30d": 0.3, "points_balance": 0.5}
    found = reasons_for([row], [push])
    assert found.lists("keys") == [["activity_falling", "unused_points"]]


def test_format_value() -> None:
    assert format_value("trend_activity_14d", 0.2) == "20%"
    assert format_value("replies_received_per_post_30d", 0.25) == "0.2"
    assert format_value("days_since_last_post", float("nan")) == "never"
    assert format_value("n_post_30d", float("nan")) == "no"
    assert format_value("n_post_30d", 12.0) == "12"


def test_interventions_file_covers_every_reason_and_overrides(tmp_path: Path) -> None:
    shipped = load_interventions(ROOT / "experiments" / "interventions.yaml")
    # Every reason key, plus the driver-specific KEY.TOPIC actions (issue 20).
    assert set(DEFAULT_INTERVENTIONS) == set(reason_keys())
    assert set(shipped) == set(DEFAULT_INTERVENTIONS) | set(DRIVER_INTERVENTIONS)
    # The shipped file says what the code does without it, line for line.
    assert shipped == {**DEFAULT_INTERVENTIONS, **DRIVER_INTERVENTIONS}
    text = (ROOT / "experiments" / "interventions.yaml").read_text()
    assert all(f"\n{key}:" in text or text.startswith(f"{key}:") for key in shipped)
    custom = tmp_path / "i.yaml"
    custom.write_text("tickets_unresolved: call them today\n")
    assert load_interventions(custom)["tickets_unresolved"] == "call them today"
    custom.write_text("tickets_unresovled: call them\n")
    with pytest.raises(ValueError, match="unknown reason key 'tickets_unresovled'"):
        load_interventions(custom)
    custom.write_text("activity_falling.logins: call them\n")
    with pytest.raises(ValueError, match=r"unknown reason key 'activity_falling\.logins'"):
        load_interventions(custom)


def test_a_reason_says_what_changed() -> None:
    # 66 active days over the 60 days before the last 30 (33 a month), 6 in the last 30.
    row = member(active_days_30d=6, active_days_90d=72)
    found = reasons_for([row], [{"active_days_90d": 0.5}])
    assert found.lists("texts") == [
        ["active days fell from about 33 a month to 6 in the last 30 days"]
    ]
    assert found.lists("drivers") == [["active_days_30d"]]
    # Logins: 45 over the 60 days before (22 a month), 3 in the last 30.
    row = member(n_login_30d=3, n_login_90d=48)
    found = reasons_for([row], [{"n_login_30d": 0.4}])
    assert found.lists("texts") == [["logins fell from about 22 a month to 3 in the last 30 days"]]


def test_a_protective_value_is_never_a_reason() -> None:
    # Active on 25 of the last 30 days and 72 of 90, logging in more than before: the model
    # may give these features a positive contribution (trees do), but they read as loyalty.
    busy = member(
        active_days_30d=25,
        active_days_90d=72,
        n_login_30d=40,
        n_login_90d=90,
        days_since_last_activity=0,
        days_since_last_login=0,
        trend_login_14d=1.5,
        tenure_days=900,
        distinct_members_interacted_30d=12,
    )
    push = {
        "active_days_90d": 0.6,
        "n_login_30d": 0.5,
        "days_since_last_login": 0.4,
        "days_since_last_activity": 0.3,
        "trend_login_14d": 0.3,
        "tenure_days": 0.3,
        "distinct_members_interacted_30d": 0.2,
    }
    assert reasons_for([busy], [push]).lists("texts") == [[]]
    # The same pushes on a member whose numbers do read as risk give reasons.
    # 28 active days in the 50 days between joining and the last 30: about 17 a month.
    quiet = member(
        active_days_30d=2,
        active_days_90d=30,
        days_since_last_activity=12,
        tenure_days=80,
    )
    texts = reasons_for([quiet], [push]).lists("texts")[0]
    assert "active days fell from about 17 a month to 2 in the last 30 days" in texts


def test_missing_values_are_worded_plainly() -> None:
    row = member(
        n_login_7d=float("nan"),
        tenure_days=float("nan"),
        days_since_last_activity=float("nan"),
    )
    pushes = [
        {"n_login_7d": 0.5, "tenure_days": 0.3},
        {"days_since_last_activity": 0.4, "tenure_days": 0.3},
    ]
    # An unknown join date is never a reason; the missing counts read plainly.
    texts = reasons_for([row, row], pushes).lists("texts")
    assert texts == [["no logins recorded in the last 7 days"], ["no activity recorded"]]
    assert format_value("tenure_days", float("nan")) == "not recorded"
    assert format_value("n_login_7d", float("nan")) == "no"
    words = wordings(tuple(FEATURE_COLUMNS))
    get = lambda c: np.array([row[c]])  # noqa: E731
    assert words["tenure_days"].render(get).tolist() == ["join date not recorded"]


def test_interventions_follow_each_members_own_driver() -> None:
    rows = [
        member(n_login_30d=1, n_login_90d=40),
        member(active_days_30d=1, active_days_90d=40),
        member(n_message_sent_30d=0, n_message_sent_90d=20),
        member(n_comment_30d=0, n_comment_90d=30),
    ]
    pushes = [
        {"n_login_30d": 1.0},
        {"active_days_30d": 1.0},
        {"n_message_sent_30d": 1.0},
        {"n_comment_30d": 1.0},
    ]
    found = reasons_for(rows, pushes)
    assert [k[0] for k in found.lists("keys")] == [
        "activity_falling",
        "activity_falling",
        "few_connections",
        "activity_falling",
    ]
    actions = [a[0] for a in found.lists("interventions")]
    assert actions == [
        DRIVER_INTERVENTIONS["activity_falling.login"],
        DRIVER_INTERVENTIONS["activity_falling.active_days"],
        DRIVER_INTERVENTIONS["few_connections.message_sent"],
        DRIVER_INTERVENTIONS["activity_falling.comment"],
    ]
    assert len(set(actions)) == 4
    # A driver with no specific line falls back to its key's action.
    found = reasons_for([member(n_post_30d=0, n_post_90d=12)], [{"n_post_30d": 1.0}])
    assert found.lists("interventions")[0] == [DEFAULT_INTERVENTIONS["posts_falling"]]


def test_a_member_newer_than_the_window_is_worded_by_their_own_days() -> None:
    rows = [
        member(tenure_days=17, n_friend_added_90d=0),
        member(tenure_days=0),
        member(tenure_days=1),
        member(tenure_days=float("nan")),
    ]
    push = {"n_friend_added_90d": 0.5}
    texts = reasons_for(rows, [push] * 4).lists("texts")
    assert texts == [
        ["0 friends added since joining 17 days ago"],
        ["0 friends added since joining today"],
        ["0 friends added since joining 1 day ago"],
        ["0 friends added in the last 90 days"],  # an unknown join date: the whole window
    ]


def test_few_contacts_are_counted_since_joining_for_a_newer_member() -> None:
    push = {"distinct_members_interacted_30d": 0.5}
    rows = [
        member(tenure_days=5, distinct_members_interacted_30d=1),
        member(distinct_members_interacted_30d=2),
    ]
    assert reasons_for(rows, [push, push]).lists("texts") == [
        ["interacted with only 1 other member since joining 5 days ago"],
        ["interacted with only 2 other members in the last 30 days"],
    ]


def test_an_earlier_rate_counts_only_the_days_the_member_was_there() -> None:
    # Joined 50 days ago: 20 logins in the 20 days before the last 30 is 30 a month, not 10.
    push = {"n_login_30d": 0.5}
    fell = member(tenure_days=50, n_login_30d=3, n_login_90d=23)
    assert reasons_for([fell], [push]).lists("texts") == [
        ["logins fell from about 30 a month to 3 in the last 30 days"]
    ]
    # Joined 40 days ago: 10 days before the last 30 are too few to compare with.
    short = member(tenure_days=40, n_login_30d=0, n_login_90d=5)
    assert reasons_for([short], [push]).lists("texts") == [["0 logins in the last 30 days"]]
    busy = member(tenure_days=40, n_login_30d=3, n_login_90d=5)
    assert reasons_for([busy], [push]).lists("texts") == [[]]  # 3 logins is no fall to show
    # A week's count is compared with the week before only when the member was there all of it.
    push7 = {"n_like_given_7d": 0.5}
    week = member(tenure_days=10, n_like_given_7d=1, n_like_given_14d=4)
    whole = member(tenure_days=30, n_like_given_7d=1, n_like_given_14d=4)
    assert reasons_for([week, whole], [push7, push7]).lists("texts") == [
        [],
        ["1 like given in the last 7 days, down from 3 the week before"],
    ]


def test_few_active_days_are_judged_against_the_days_since_joining() -> None:
    push = {"active_days_30d": 0.5}
    keen = member(tenure_days=10, active_days_30d=6, active_days_90d=6)  # 6 of 10 days
    rare = member(tenure_days=10, active_days_30d=1, active_days_90d=1)
    none = member(tenure_days=10, active_days_30d=0, active_days_90d=0)
    texts = reasons_for([keen, rare, none], [push] * 3).lists("texts")
    assert texts == [
        [],
        ["active on only 1 of their 10 days since joining"],
        ["no active days recorded since joining 10 days ago"],
    ]


def test_a_custom_event_type_is_worded_by_its_own_name() -> None:
    # A CRM's add_contact (x_add_contact): 24 over the 60 days before the last 30 (12 a month),
    # 3 in the last 30. Read as engagement: a fall is a reason, a rise never is.
    columns = [*FEATURE_COLUMNS, *custom_columns(["x_add_contact"])]
    words = wordings(tuple(columns))
    assert all(words[c].key == "activity_falling" for c in custom_columns(["x_add_contact"]))
    custom = {f"n_x_add_contact_{w}d": 0.0 for w in (7, 14, 30, 90)}
    fell = member(**{**custom, "n_x_add_contact_30d": 3, "n_x_add_contact_90d": 27})
    busy = member(**{**custom, "n_x_add_contact_30d": 40, "n_x_add_contact_90d": 60})
    never = member(**custom)
    for row, days in ((fell, 12.0), (busy, 0.0), (never, np.nan)):
        row["days_since_last_x_add_contact"] = days
    push = {"n_x_add_contact_30d": 0.5}
    found = reasons_for([fell, busy], [push, push], columns=columns)
    assert found.lists("texts") == [
        ['"add contact" events fell from about 12 a month to 3 in the last 30 days'],
        [],
    ]
    since = reasons_for([never], [{"days_since_last_x_add_contact": 0.5}], columns=columns)
    assert since.lists("texts") == [['never had an "add contact" event']]


def test_a_harm_event_reads_as_a_risk_when_it_rises_never_as_a_fall() -> None:
    # Dislikes given: 18 over the 60 days before the last 30 (9 a month), 2 in the last 30.
    # Still a risk (any dislike is), but "dislikes fell" would read as a reason to stay.
    fell = member(n_dislike_given_30d=2, n_dislike_given_90d=20)
    # 2 over the 60 days before (1 a month), 6 in the last 30.
    rose = member(n_dislike_given_30d=6, n_dislike_given_90d=8)
    push = {"n_dislike_given_30d": 0.5}
    found = reasons_for([fell, rose], [push, push])
    assert found.lists("texts") == [
        ["2 dislikes in the last 30 days"],
        ["dislikes rose from about 1 a month to 6 in the last 30 days"],
    ]
    assert found.lists("keys") == [["negative_experience"], ["negative_experience"]]
    week = member(n_dislike_given_7d=3, n_dislike_given_14d=4, n_dislike_given_90d=4)
    found = reasons_for([week], [{"n_dislike_given_7d": 0.5}])
    assert found.lists("texts") == [["3 dislikes in the last 7 days, up from 1 the week before"]]


ADD_COMPETITOR = custom_columns(["x_add_competitor"])


def crm_member(n30: float, n90: float, days_since: float) -> dict[str, float]:
    """A quiet member with x_add_competitor counts (30 and 90 days) and days since the last."""
    counts = {f"n_x_add_competitor_{w}d": 0.0 for w in (7, 14)}
    return member(
        **counts,
        n_x_add_competitor_30d=n30,
        n_x_add_competitor_90d=n90,
        days_since_last_x_add_competitor=days_since,
    )


def test_a_custom_type_the_team_marks_as_harm_reads_as_a_risk() -> None:
    # A CRM's add_competitor, marked as harm (reasons.harm_events): 2 over the 60 days before
    # the last 30 (1 a month), 6 in the last 30; a quiet account has none.
    columns = [*FEATURE_COLUMNS, *ADD_COMPETITOR]
    harm = frozenset({"x_add_competitor"})
    rose, none = crm_member(6, 8, 3.0), crm_member(0, 0, np.nan)
    push = {"n_x_add_competitor_30d": 0.5}
    found = reasons_for([rose, none], [push, push], columns=columns, harm=harm)
    assert found.lists("texts") == [
        ['"add competitor" events rose from about 1 a month to 6 in the last 30 days'],
        [],  # none of it is no risk, whatever the model's contribution
    ]
    assert found.lists("keys")[0] == ["warning_signs"]
    assert found.lists("interventions")[0] == [
        'personal check-in about their "add competitor" events: ask what is behind them'
    ]
    since = {"days_since_last_x_add_competitor": 0.5}
    found = reasons_for([rose, none], [since, since], columns=columns, harm=harm)
    assert found.lists("texts") == [['last "add competitor" event 3 days ago'], []]
    # Unmarked, the same type reads as engagement: the rise is no reason, a fall is.
    fell = crm_member(1, 25, 3.0)
    found = reasons_for([rose, fell], [push, push], columns=columns)
    assert found.lists("texts") == [
        [],
        ['"add competitor" events fell from about 12 a month to 1 in the last 30 days'],
    ]


def test_a_custom_driver_gets_an_action_that_names_it(tmp_path: Path) -> None:
    columns = [*FEATURE_COLUMNS, *custom_columns(["x_add_contact"])]
    counts = {f"n_x_add_contact_{w}d": 0.0 for w in (7, 14)}
    row = member(**counts, n_x_add_contact_30d=1, n_x_add_contact_90d=25)
    row["days_since_last_x_add_contact"] = 12.0
    push = [{"n_x_add_contact_30d": 1.0}]
    found = reasons_for([row], push, columns=columns)
    # Not "invite them to an upcoming community event": a CRM has none.
    assert found.lists("interventions") == [
        ['personal check-in about "add contact": ask what changed and what would help']
    ]
    # The team's own lines win: one for the type, else one for the key.
    for text, expected in (
        (
            "activity_falling.x_add_contact: show them the import wizard\n",
            "show them the import wizard",
        ),
        ("activity_falling: call the account manager\n", "call the account manager"),
    ):
        path = tmp_path / "i.yaml"
        path.write_text(text)
        actions = load_interventions(path)
        found = reasons_for([row], push, columns=columns, actions=actions)
        assert found.lists("interventions") == [[expected]]
    path.write_text("activity_falling.x_: call them\n")  # not a custom type's name
    with pytest.raises(ValueError, match=r"unknown reason key 'activity_falling\.x_'"):
        load_interventions(path)


def test_age_is_worded_plainly_and_never_a_reason() -> None:
    # A lake with birth days gives the model age_years; whatever it pushes, age is nothing a
    # team can act on, so the next driver is the reason.
    columns = [*FEATURE_COLUMNS, AGE_COLUMN]
    young = member(age_years=19.5, days_since_last_activity=12)
    push = {AGE_COLUMN: 0.9, "days_since_last_activity": 0.2}
    found = reasons_for([young, young], [push, {AGE_COLUMN: 0.9}], columns=columns)
    assert found.lists("texts") == [["no activity for 12 days"], []]
    words = wordings(tuple(columns))
    get = lambda c: np.array([19.9, np.nan])  # noqa: E731
    assert words[AGE_COLUMN].render(get).tolist() == ["aged 19", "age not recorded"]


def test_days_ago_reads_today_and_one_day() -> None:
    # Seen in a newcomer's at-risk table (session 22): "last ad viewed 1 days ago".
    rows = [member(n_ad_viewed_90d=5, days_since_last_ad_viewed=d) for d in (0, 1, 12)]
    push = {"days_since_last_ad_viewed": 0.5}
    found = reasons_for(rows, [push] * 3)
    assert found.lists("texts") == [
        ["last ad viewed today"],
        ["last ad viewed 1 day ago"],
        ["last ad viewed 12 days ago"],
    ]
    rows = [member(points_balance=500, days_since_last_points_redeemed=d) for d in (0, 1)]
    found = reasons_for(rows, [{"points_balance": 0.5}] * 2)
    assert found.lists("texts") == [
        ["500 loyalty points unused, last redeemed today"],
        ["500 loyalty points unused, last redeemed 1 day ago"],
    ]
