"""Plain-language wording of each feature, built from its name and the member's own values.

Every feature maps to a reason key (what a retention team acts on) and a template. A template
turns the rows it is given into sentences; each sentence shows the value of the template's
`shown` feature, formatted by `format_values`, so a reason always carries the member's real
number. Templates work on whole columns at once: a million members are worded in seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from features.members.definition import AGE_COLUMN
from features.schemas import CUSTOM_EVENT_PREFIX, is_custom_event

Columns = Callable[[str], np.ndarray]  # the selected rows' values of one feature
Render = Callable[[Columns], np.ndarray]  # -> object array of sentences

# Event type -> (singular, plural, what "never" did, reason key).
EVENT_WORDS: dict[str, tuple[str, str, str, str]] = {
    "login": ("login", "logins", "logged in", "activity_falling"),
    "post": ("post", "posts", "posted", "posts_falling"),
    "comment": ("comment", "comments", "commented", "activity_falling"),
    "answer": ("answer", "answers", "answered", "posts_falling"),
    "reply_received": (
        "reply received",
        "replies received",
        "received a reply",
        "unanswered_posts",
    ),
    "like_given": ("like given", "likes given", "liked anything", "activity_falling"),
    "like_received": ("like received", "likes received", "received a like", "little_recognition"),
    "dislike_given": ("dislike", "dislikes", "disliked anything", "negative_experience"),
    "share": ("share", "shares", "shared anything", "activity_falling"),
    "message_sent": ("message sent", "messages sent", "sent a message", "few_connections"),
    "friend_added": ("friend added", "friends added", "added a friend", "few_connections"),
    "friend_removed": ("friend removed", "friends removed", "removed a friend", "few_connections"),
    "ad_viewed": ("ad viewed", "ads viewed", "viewed an ad", "ad_load"),
    "vote_received": ("vote", "votes", "received a vote", "little_recognition"),
    "answer_accepted": (
        "accepted answer",
        "accepted answers",
        "had an answer accepted",
        "little_recognition",
    ),
    "badge_earned": ("badge", "badges", "earned a badge", "little_recognition"),
    "ticket_opened": ("ticket", "tickets", "opened a ticket", "tickets_unresolved"),
    "ticket_resolved": (
        "resolved ticket",
        "resolved tickets",
        "had a ticket resolved",
        "tickets_unresolved",
    ),
    "points_earned": ("points award", "points awards", "earned points", "unused_points"),
    "points_redeemed": ("redemption", "redemptions", "redeemed points", "unused_points"),
    "event_joined": ("community event", "community events", "joined an event", "activity_falling"),
    "report_received": ("report", "reports", "been reported", "reported"),
    "toxic_reply_received": (
        "toxic reply",
        "toxic replies",
        "received a toxic reply",
        "toxic_replies",
    ),
}
OTHER = "other"


WARNING_SIGNS = "warning_signs"  # the reason key of custom types a team marked as a risk


def event_words(t: str, harm: frozenset[str] = frozenset()) -> tuple[str, str, str, str]:
    """EVENT_WORDS of a type; a custom type (x_add_contact) in its own name ('"add contact"
    events'), read as engagement unless the team named it in `harm` (reasons.harm_events):
    steward cannot tell from a name that more of it is a risk."""
    if t in EVENT_WORDS:
        return EVENT_WORDS[t]
    plain = custom_plain_name(t)
    name, article = f'"{plain}"', "an" if plain[:1] in "aeiou" else "a"
    key = WARNING_SIGNS if t in harm else "activity_falling"
    return (f"{name} event", f"{name} events", f"had {article} {name} event", key)


def custom_plain_name(t: str) -> str:
    """A custom type as people read it: x_add_contact -> add contact."""
    return t.removeprefix(CUSTOM_EVENT_PREFIX).replace("_", " ")


Risky = Callable[[Columns], np.ndarray]  # -> bool array: the value reads as a risk


def _always(get: Columns) -> np.ndarray:
    """Every row (wordings whose rule lives in reasons.APPLIES_WHEN)."""
    return np.ones(len(get("tenure_days")), dtype=bool)


@dataclass(frozen=True)
class Wording:
    """How one feature is put into words: its reason key, the feature whose value it shows,
    and which rows' values read as a risk (a protective value is never shown as a reason)."""

    key: str
    shown: str
    render: Render
    risky: Risky = _always


# Engagement: fewer is the risk. Harm: any is the risk (dislikes, unfriending, ads, reports,
# toxic replies, tickets).
HARM_EVENTS = frozenset(
    {
        "dislike_given",
        "friend_removed",
        "ad_viewed",
        "report_received",
        "toxic_reply_received",
        "ticket_opened",
    }
)


def missing_word(feature: str) -> str:
    """How a missing value reads: never (days since), not recorded (tenure), no (counts)."""
    if feature.startswith("days_since_"):
        return "never"
    if feature == "tenure_days":
        return "not recorded"
    return "no"


def format_values(feature: str, values: np.ndarray) -> np.ndarray:
    """The member's value as the reasons print it: whole numbers, 1 decimal, percent; a missing
    value as missing_word (never, no, not recorded)."""
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    safe = np.where(missing, 0.0, values)
    if feature.startswith("trend_"):
        text = _str(np.rint(safe * 100)) + "%"
    elif "_per_post_" in feature:
        text = np.char.mod("%.1f", safe).astype(object)
    else:
        text = _str(np.rint(safe))
    return np.where(missing, missing_word(feature), text).astype(object)


def format_value(feature: str, value: float) -> str:
    """One value as the reasons print it."""
    return str(format_values(feature, np.array([value]))[0])


def _str(values: np.ndarray) -> np.ndarray:
    """Whole numbers as strings (object array)."""
    return values.astype(np.int64).astype(str).astype(object)


def _ago(days: np.ndarray) -> np.ndarray:
    """'today', '1 day ago' or 'N days ago' for whole days (never '1 days ago')."""
    days = np.rint(np.nan_to_num(np.asarray(days, dtype=np.float64)))
    counted = _str(days) + np.where(days == 1, " day ago", " days ago")
    return np.where(days == 0, "today", counted).astype(object)


def _noun(count: np.ndarray, singular: str, plural: str) -> np.ndarray:
    """The singular or plural noun for each count."""
    return np.where(np.rint(count) == 1, singular, plural).astype(object)


def _tenure(get: Columns, like: np.ndarray) -> np.ndarray:
    """Each row's days since joining; NaN where unknown or not among the model's features."""
    try:
        return np.asarray(get("tenure_days"), dtype=np.float64)
    except KeyError:
        return np.full(len(like), np.nan)


def _covered(w: int, tenure: np.ndarray) -> np.ndarray:
    """How many of the last w days each member was a member: w, or fewer for one who joined
    since (an unknown join date counts as the whole window)."""
    return np.where(np.isnan(tenure), float(w), np.clip(tenure, 0.0, float(w)))


def _over(w: int, tenure: np.ndarray) -> np.ndarray:
    """' in the last w days', or ' since joining N days ago' for a member who joined since:
    '0 friends added in the last 90 days' would misstate a 17-day-old member's history."""
    joined = " since joining " + _ago(tenure)
    return np.where(~np.isnan(tenure) & (tenure < w), joined, f" in the last {w} days")


# Fewer days than this before the recent window: no earlier rate to compare with.
MIN_EARLIER_DAYS = 14


def _earlier_rate(
    wide: np.ndarray, recent: np.ndarray, w: int, span: int, per: int, tenure: np.ndarray
) -> np.ndarray:
    """A count's rate per `per` days over the days before the last w (of the last span) that
    the member was there; NaN where they were there for fewer than MIN_EARLIER_DAYS of them
    (or than all span - w, when that is shorter: a week is compared with a whole week).
    Dividing by span - w for every member would make a young member's earlier rate look low."""
    days = _covered(span, tenure) - w
    rate = (np.nan_to_num(wide) - np.nan_to_num(recent)) * per / np.maximum(days, 1.0)
    return np.where(days >= min(MIN_EARLIER_DAYS, span - w), rate, np.nan)


def _count_text(t: str, w: int, get: Columns, names: frozenset[str], harm: bool) -> np.ndarray:
    """'3 posts in the last 30 days', or a fall from the window before when there was one (a
    rise, for a harm event: fewer dislikes than before is no reason to leave)."""
    singular, plural, _, _ = event_words(t)
    n = get(f"n_{t}_{w}d")
    tenure = _tenure(get, n)
    over = _over(w, tenure)
    shown = format_values(f"n_{t}_{w}d", n)
    text = np.where(
        np.isnan(n), f"no {plural} recorded" + over, shown + " " + _noun(n, singular, plural) + over
    )
    if w == 30 and f"n_{t}_90d" in names:
        before = _earlier_rate(get(f"n_{t}_90d"), n, 30, 90, 30, tenure)
        then = f"{plural} {'rose' if harm else 'fell'} from about "
        moved = then + _str(np.rint(np.nan_to_num(before))) + " a month to " + shown
        moved = moved + " in the last 30 days"
        changed = np.nan_to_num(n) >= before + 1 if harm else before >= np.nan_to_num(n) + 1
        return np.where(changed, moved, text)
    if w == 7 and f"n_{t}_14d" in names:
        before = _earlier_rate(get(f"n_{t}_14d"), n, 7, 14, 7, tenure)
        week = _str(np.rint(np.nan_to_num(before))) + " the week before"
        moved = text + (", up from " if harm else ", down from ") + week
        changed = np.nan_to_num(n) > before if harm else before > np.nan_to_num(n)
        return np.where(changed, moved, text)
    if w == 90 and f"n_{t}_30d" in names:
        recent = np.nan_to_num(get(f"n_{t}_30d"))
        longer = np.nan_to_num(n) > 0
        longer &= np.isnan(tenure) | (tenure > 30)  # else all of them were in the last 30
        return np.where(longer, text + ", " + _str(recent) + " of them in the last 30", text)
    return text


# Count window -> (the wider window it is compared with, the rate's days): the recent count
# below the member's own rate over the days before it reads as a risk.
_EARLIER = {30: (90, 30), 7: (14, 7), 14: (30, 14)}


def _count_risky(t: str, w: int, names: frozenset[str], harm: bool) -> Risky:
    """Which rows' counts read as a risk: any harm event; engagement that is missing, zero or
    below the member's own earlier rate (never a busy member's count shown as a risk)."""

    def risky(get: Columns) -> np.ndarray:
        n = get(f"n_{t}_{w}d")
        if harm:
            return np.nan_to_num(n) > 0
        low = np.isnan(n) | (n == 0)
        tenure = _tenure(get, n)
        if w == 90 and f"n_{t}_30d" in names:
            recent = get(f"n_{t}_30d")  # the last 30 days below the days before
            return low | (np.nan_to_num(recent) < _earlier_rate(n, recent, 30, 90, 30, tenure))
        if w not in _EARLIER or f"n_{t}_{_EARLIER[w][0]}d" not in names:
            return low
        span, per = _EARLIER[w]
        before = _earlier_rate(get(f"n_{t}_{span}d"), n, w, span, per, tenure)
        return low | (np.nan_to_num(n) < before)

    return risky


def _active_days_text(get: Columns) -> np.ndarray:
    """'active days fell from about 22 a month to 6 in the last 30 days', or 'active on only 6
    of the last 30 days' (shows active_days_30d; 'of their 12 days since joining' for a newer
    member)."""
    recent = get("active_days_30d")
    tenure = _tenure(get, recent)
    shown = format_values("active_days_30d", recent)
    before = _earlier_rate(get("active_days_90d"), recent, 30, 90, 30, tenure)
    recent = np.nan_to_num(recent)
    fell = (
        ("active days fell from about " + _str(np.rint(np.nan_to_num(before))) + " a month to ")
        + shown
        + " in the last 30 days"
    )
    newer = ~np.isnan(tenure) & (tenure < 30)
    days = _str(np.rint(_covered(30, tenure)))
    low = (
        "active on only "
        + shown
        + np.where(newer, " of their " + days + " days since joining", " of the last 30 days")
    )
    none = "no active days recorded" + _over(30, tenure)
    return np.where(recent == 0, none, np.where(before >= recent + 1, fell, low))


def _active_days_risky(get: Columns) -> np.ndarray:
    """Active days that fell from the member's earlier monthly rate, or are few (under 8 of
    30 days, about two a week, in proportion for a member who joined since)."""
    recent = get("active_days_30d")
    tenure = _tenure(get, recent)
    before = _earlier_rate(get("active_days_90d"), recent, 30, 90, 30, tenure)
    recent = np.nan_to_num(recent)
    return (before >= recent + 1) | (recent < 8 * _covered(30, tenure) / 30)


def _active_window_text(w: int, get: Columns) -> np.ndarray:
    """'active on only 6 of the last 90 days' ('of their 40 days since joining' for a newer
    member): one window alone, as in a long-term view."""
    n = get(f"active_days_{w}d")
    tenure = _tenure(get, n)
    newer = ~np.isnan(tenure) & (tenure < w)
    days = _str(np.rint(_covered(w, tenure)))
    text = (
        "active on only "
        + format_values(f"active_days_{w}d", n)
        + np.where(newer, " of their " + days + " days since joining", f" of the last {w} days")
    )
    return np.where(np.isnan(n), "no active days recorded" + _over(w, tenure), text)


def _active_window_risky(w: int, get: Columns) -> np.ndarray:
    """Few active days in the window: under two a week of the days the member was there."""
    n = get(f"active_days_{w}d")
    return np.isnan(n) | (n < 8 * _covered(w, _tenure(get, n)) / 30)


def _replies_text(w: int, get: Columns) -> np.ndarray:
    """'no reply to any of their 3 posts in the last 30 days' (shows the post count)."""
    posts, replies = get(f"n_post_{w}d"), get(f"n_reply_received_{w}d")
    over = _over(w, _tenure(get, posts))
    shown = format_values(f"n_post_{w}d", posts)
    noun = _noun(posts, "post", "posts")
    their = np.where(np.rint(posts) == 1, "their ", "any of their ")
    none = "no reply to " + their + shown + " " + noun + over
    some = _str(replies) + " " + _noun(replies, "reply", "replies") + " to " + shown + " " + noun
    return np.where(replies == 0, none, some + over)


def _contacts_text(get: Columns) -> np.ndarray:
    """'interacted with only 2 other members in the last 30 days' (since joining, for newer)."""
    n = get("distinct_members_interacted_30d")
    noun = _noun(np.nan_to_num(n), " other member", " other members")
    text = "interacted with only " + format_values("distinct_members_interacted_30d", n) + noun
    return text + _over(30, _tenure(get, n))


def _tickets_text(get: Columns) -> np.ndarray:
    """'2 support tickets unresolved, the oldest for 9 days'."""
    open_ = get("tickets_open_unresolved")
    oldest = get("oldest_open_ticket_days")
    days = np.where(
        oldest > 0,
        ", the oldest for " + format_values("oldest_open_ticket_days", oldest) + " days",
        ", opened today",
    )
    head = format_values("tickets_open_unresolved", open_) + " support "
    return head + _noun(open_, "ticket", "tickets") + " unresolved" + days


def _points_text(get: Columns) -> np.ndarray:
    """'1,200 loyalty points unused, last redeemed 80 days ago' (or never redeemed)."""
    balance = format_values("points_balance", get("points_balance"))
    try:
        last = get("days_since_last_points_redeemed")
    except KeyError:  # a long-term view has no days since (feature_view)
        return balance + " loyalty points unused"
    when = np.where(
        np.isnan(last),
        ", never redeemed",
        ", last redeemed " + _ago(last),
    )
    return balance + " loyalty points unused" + when


def _trend_text(series: str, get: Columns) -> np.ndarray:
    """'posts fell from 12 to 2 over the last 14 days', from the trend and the recent count."""
    _, plural, _, _ = EVENT_WORDS[series]
    recent = get(f"n_{series}_14d")
    # trend = (recent + 1) / (previous + 1), so the previous 14 days' count is recoverable.
    previous = np.maximum(np.rint((recent + 1) / get(f"trend_{series}_14d") - 1), 0)
    shown = format_values(f"n_{series}_14d", recent)
    verb = np.where(previous > recent, " fell from ", " went from ")
    return plural + verb + _str(previous) + " to " + shown + " over the last 14 days"


def _since_text(t: str, get: Columns) -> np.ndarray:
    """'last post 23 days ago' or 'never posted'."""
    singular, _, never, _ = event_words(t)
    days = get(f"days_since_last_{t}")
    return np.where(np.isnan(days), "never " + never, f"last {singular} " + _ago(days))


def _since_risky(t: str, harm: bool) -> Risky:
    """Engagement: none for a week or more (or never); harm: some in the last 30 days."""

    def risky(get: Columns) -> np.ndarray:
        days = get(f"days_since_last_{t}")
        if harm:
            return ~np.isnan(days) & (days <= 30)
        return np.isnan(days) | (days >= 7)

    return risky


def _below(feature: str, limit: float, missing: bool = True) -> Risky:
    """Rows whose value is below limit; a missing value is risky or not as given."""

    def risky(get: Columns) -> np.ndarray:
        values = get(feature)
        return np.where(np.isnan(values), missing, values < limit)

    return risky


def _at_least(feature: str, limit: float, missing: bool) -> Risky:
    """Rows whose value is at least limit; a missing value is risky or not as given."""

    def risky(get: Columns) -> np.ndarray:
        values = get(feature)
        return np.where(np.isnan(values), missing, values >= limit)

    return risky


def _fixed(feature: str, before: str, after: str, missing: str | None = None) -> Render:
    """A sentence with the feature's value between two fixed phrases (missing: the sentence
    for a missing value)."""

    def render(get: Columns) -> np.ndarray:
        values = get(feature)
        text = before + format_values(feature, values) + after
        return text if missing is None else np.where(np.isnan(values), missing, text)

    return render


def _age_text(get: Columns) -> np.ndarray:
    """Age in whole years, as people give it (19.9 is 19)."""
    years = get(AGE_COLUMN)
    whole = np.floor(np.nan_to_num(years)).astype(np.int64).astype(str)
    return np.where(np.isnan(years), "age not recorded", np.char.add("aged ", whole))


def _wording(feature: str, names: frozenset[str], harm: frozenset[str]) -> Wording:
    """The reason key and template of one feature, from its name (harm: custom types that
    read as a risk)."""
    if feature in ("tickets_open_unresolved", "oldest_open_ticket_days"):
        return Wording("tickets_unresolved", "tickets_open_unresolved", _tickets_text)
    if feature in ("points_balance", "points_redeemed_90d"):
        return Wording("unused_points", "points_balance", _points_text)
    if feature == "replies_received_per_post_30d" or feature.startswith("days_since_last_reply"):
        return Wording("unanswered_posts", "n_post_30d", lambda get: _replies_text(30, get))
    if feature == "likes_received_per_post_30d" and "n_like_received_30d" in names:
        render = lambda get: _count_text("like_received", 30, get, names, False)  # noqa: E731
        risky = _count_risky("like_received", 30, names, False)
        return Wording("little_recognition", "n_like_received_30d", render, risky)
    if feature == "distinct_members_interacted_30d":
        return Wording(
            "few_connections", feature, _contacts_text, _below(feature, NEW_FEW_CONTACTS)
        )
    if feature == "tenure_days":
        render = _fixed(
            feature,
            "member for only ",
            " days, still new",
            missing="join date not recorded",
        )
        # An unknown join date is no risk anyone can act on: worded plainly, never a reason.
        return Wording("tenure", feature, render, _below(feature, NEW_MEMBER_DAYS, False))
    if feature == AGE_COLUMN:
        # Age shifts the risk (the model may use it) but is nothing anyone can act on, and a
        # member told "you are 19" would rightly object: worded plainly, never a reason.
        return Wording(OTHER, feature, _age_text, lambda get: np.zeros(len(get(feature)), bool))
    if feature == "days_since_last_activity":
        render = _fixed(feature, "no activity for ", " days", missing="no activity recorded")
        return Wording("activity_falling", feature, render, _at_least(feature, 7, True))
    if (days := re.fullmatch(r"active_days_(\d+)d", feature)) is not None:
        if {"active_days_30d", "active_days_90d"} <= names:
            return Wording(
                "activity_falling", "active_days_30d", _active_days_text, _active_days_risky
            )
        # One window alone (a long-term view): its own days, few of them a risk.
        w = int(days[1])
        return Wording(
            "activity_falling",
            feature,
            lambda get: _active_window_text(w, get),
            lambda get: _active_window_risky(w, get),
        )
    if feature == "trend_activity_14d":
        render = _fixed(
            feature,
            "activity in the last 14 days fell to ",
            " of the 14 days before",
            missing="no activity recorded in the last 28 days",
        )
        return Wording("activity_falling", feature, render, lambda get: ~(get(feature) >= 1))
    if (match := re.fullmatch(r"trend_(\w+)_14d", feature)) and match[1] in EVENT_WORDS:
        t = match[1]
        trend_risky: Risky = (
            (lambda get: ~(get(feature) <= 1))
            if t in HARM_EVENTS
            else (lambda get: ~(get(feature) >= 1))
        )
        render = lambda get: _trend_text(t, get)  # noqa: E731
        return Wording(EVENT_WORDS[t][3], f"n_{t}_14d", render, trend_risky)
    return _event_wording(feature, names, harm)


NEW_MEMBER_DAYS = 90  # tenure reads as a risk only for members newer than this
NEW_FEW_CONTACTS = 3  # fewer distinct members interacted with in 30 days reads as a risk


def _event_wording(feature: str, names: frozenset[str], harm: frozenset[str]) -> Wording:
    """Counts and days-since of one event type, with the topic's own sentence where it has one."""
    count = re.fullmatch(r"n_(\w+)_(\d+)d", feature)
    since = re.fullmatch(r"days_since_last_(\w+)", feature)
    t = count[1] if count else since[1] if since else ""
    if t not in EVENT_WORDS and not is_custom_event(t):
        return Wording(OTHER, feature, _fixed(feature, feature.replace("_", " ") + ": ", ""))
    key = event_words(t, harm)[3]
    harmful = t in HARM_EVENTS or t in harm
    if key == "tickets_unresolved":
        return Wording(key, "tickets_open_unresolved", _tickets_text)
    if key == "unused_points":
        return Wording(key, "points_balance", _points_text)
    if since:
        return Wording(key, feature, lambda get: _since_text(t, get), _since_risky(t, harmful))
    assert count is not None
    w = int(count[2])
    if t == "reply_received":
        # Whatever the window, the reason is worded over the 30 days it is checked on.
        return Wording(key, "n_post_30d", lambda get: _replies_text(30, get))
    render = lambda get: _count_text(t, w, get, names, harmful)  # noqa: E731
    return Wording(key, feature, render, _count_risky(t, w, names, harmful))


@lru_cache(maxsize=8)
def wordings(columns: tuple[str, ...], harm: frozenset[str] = frozenset()) -> Mapping[str, Wording]:
    """The wording of every feature column (cached per column list and harmful custom types)."""
    names = frozenset(columns)
    return {feature: _wording(feature, names, harm) for feature in columns}


def reason_keys() -> list[str]:
    """Every reason key a feature can map to."""
    return sorted({*(w[3] for w in EVENT_WORDS.values()), "tenure", WARNING_SIGNS, OTHER})
