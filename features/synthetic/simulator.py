"""A SYNTHETIC online community: members, their events, their posts and moderation labels.

Everything this module produces is synthetic: invented members, invented behaviour and
template-generated text (members carry `"synthetic": true` in their attributes). It exists so
that every pipeline, test and benchmark has data with known causes of churn and toxicity.

The model, one day at a time and vectorised over members:

- Members have a latent engagement, join before the window (existing members) or during it,
  are very active while onboarding, settle into a habit and at some tenure start to fade.
- A visiting member logs in, posts, and replies to / likes / shares the day's posts; each post
  has an appeal, so some posts collect many replies and some none. Trolls write toxic posts
  and toxic replies; toxic posts get reported.
- Members open support tickets (some resolved within hours, some after weeks, some never),
  earn loyalty points and, if they are redeemers, spend them.
- Each member-day carries a hazard of leaving that rises with falling activity, unanswered
  posts, overdue tickets, toxic replies received and an unused points balance. Grievances also
  dampen activity, so activity falls before a member leaves. A member who left emits no more
  events of their own (support may still resolve their tickets).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.schemas import EVENT_TYPES, TABLES, TS
from features.synthetic.posts import post_texts, toxic_labels

# Events per member-day that the rates below produce over a 180-day window, counting members
# before they join and after they leave: ~60k members x 180 days gives ~9-10M events. Shorter
# windows run higher (fewer members have left yet, more are onboarding). A test keeps it honest.
EXPECTED_EVENTS_PER_MEMBER_DAY = 0.85
LEAD_DAYS = 365  # existing members joined up to this many days before the window
EXISTING_SHARE = 0.5
ZH_SHARE = 0.3  # members who write in Chinese
DAY = 86_400.0  # seconds

SIMULATED_EVENT_TYPES: tuple[str, ...] = (
    "login",
    "post",
    "comment",
    "reply_received",
    "like_given",
    "like_received",
    "share",
    "ticket_opened",
    "ticket_resolved",
    "points_earned",
    "points_redeemed",
    "event_joined",
    "toxic_reply_received",
    "report_received",
)

# Activity: a visit is a login; the rest happens during visits or to the day's posts.
LOGIN_RATE = 1.2
ONBOARDING_BOOST, ONBOARDING_DAYS = 1.5, 10.0
FADE_AFTER_DAYS = 240.0  # mean tenure at which a member starts to fade
POST_RATE = 0.3  # posts per visit at engagement 1
REPLIES_PER_POST, LIKES_PER_POST, SHARES_PER_POST = 1.5, 4.0, 0.3
EVENT_JOIN_P, TICKET_P, EARN_P = 0.02, 0.01, 0.3
TROLL_SHARE = 0.04
MOOD = 0.15  # how strongly grievances dampen activity

# Churn hazard per member-day: H0 * exp(sum of coefficient * driver).
H0 = 0.0018
HAZARD: dict[str, float] = {
    "decline": 1.5,
    "unanswered": 0.35,
    "tickets": 1.2,
    "toxic": 0.5,
    "points": 1.0,
}
OVERDUE_DAYS = 3  # a ticket open this long counts as unresolved
POINTS_SCALE = 200.0

# Kinds of target_id, by prefix.
_NONE, _MEMBER, _POST, _TICKET, _GATHERING = range(5)
_PREFIX = ("", "m", "p", "t", "e")
_CODE = {name: i for i, name in enumerate(EVENT_TYPES)}


@dataclass
class Community:
    """One simulated community, as canonical pandas frames."""

    members: pd.DataFrame
    events: pd.DataFrame
    posts: pd.DataFrame
    moderation: pd.DataFrame


@dataclass
class _Traits:
    """What each member is, drawn once."""

    join_day: np.ndarray
    join_sec: np.ndarray
    engagement: np.ndarray
    poster: np.ndarray
    reach: np.ndarray
    fade_at: np.ndarray
    fade_days: np.ndarray
    toxic_post: np.ndarray
    toxic_reply: np.ndarray
    redeem: np.ndarray
    ticket: np.ndarray
    zh: np.ndarray
    plus: np.ndarray
    channel: np.ndarray
    country: np.ndarray


@dataclass
class _State:
    """What each member has lived through so far."""

    alive: np.ndarray
    short: np.ndarray  # activity EWMAs: falling activity is short < long
    long: np.ndarray
    unanswered: np.ndarray
    toxic: np.ndarray
    unresolved: np.ndarray
    balance: np.ndarray


@dataclass
class _Log:
    """Events and posts collected day by day, plus work scheduled for later days."""

    member_ids: pa.Array
    origin: int  # microseconds since the epoch at the window's start
    events: list[pa.RecordBatch] = field(default_factory=list)
    posts: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    later: defaultdict[int, list[tuple[np.ndarray, ...]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    overdue: defaultdict[int, list[np.ndarray]] = field(default_factory=lambda: defaultdict(list))
    settled: defaultdict[int, list[np.ndarray]] = field(default_factory=lambda: defaultdict(list))
    n_posts: int = 0
    n_tickets: int = 0


class _Visit(NamedTuple):
    """Today's visitors, their activity (the weight of their actions) and session starts."""

    pool: np.ndarray
    weight: np.ndarray
    session: np.ndarray  # seconds into the day, for every member (0 for non-visitors)


class _Day:
    """The events of one day, as parallel arrays."""

    def __init__(self, day: int) -> None:
        self.day = day
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(
        self,
        event_type: str,
        member: np.ndarray,
        sec: np.ndarray,
        kind: int = _NONE,
        target: np.ndarray | None = None,
        value: np.ndarray | None = None,
    ) -> None:
        """Append events of one type; `sec` is seconds into the day."""
        n = len(member)
        self.parts.append(
            (
                member.astype(np.int32),
                _micros(self.day, sec),
                np.full(n, _CODE[event_type], np.int8),
                np.full(n, kind, np.int8),
                np.zeros(n, np.int32) if target is None else target.astype(np.int32),
                np.full(n, np.nan, np.float32) if value is None else value.astype(np.float32),
            )
        )

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The day's events ordered by time."""
        cols = [np.concatenate(c) for c in zip(*self.parts, strict=True)]
        order = np.argsort(cols[1], kind="stable")
        return tuple(c[order] for c in cols)


def _micros(day: int, sec: np.ndarray) -> np.ndarray:
    """Microseconds since the window's start; clipped so that float rounding stays in the day."""
    return day * int(DAY) * 10**6 + (np.minimum(sec, DAY - 1e-6) * 1e6).astype(np.int64)


def _lognormal(rng: np.random.Generator, sigma: float, n: int) -> np.ndarray:
    """Positive noise with mean 1."""
    return rng.lognormal(-(sigma**2) / 2, sigma, n)


def _draw_traits(rng: np.random.Generator, n: int, days: int) -> _Traits:
    """Draw every member's latent traits."""
    existing = rng.random(n) < EXISTING_SHARE
    joined = np.where(existing, -rng.random(n) * LEAD_DAYS, rng.random(n) * days) * DAY
    joined = joined.astype(np.int64)
    join_day = joined // int(DAY)
    plus = rng.random(n) < 0.2
    troll = rng.random(n) < TROLL_SHARE
    channel = rng.choice(3, n, p=[0.45, 0.35, 0.2])
    zh = rng.random(n) < ZH_SHARE
    # Existing members survived to the window, so they are in their habit phase at its start.
    fade_from = np.where(existing, -join_day, 0)
    return _Traits(
        join_day=join_day,
        join_sec=(joined - join_day * int(DAY)).astype(np.float64),
        engagement=_lognormal(rng, 0.8, n) * np.where(plus, 1.3, 1.0),
        poster=_lognormal(rng, 1.0, n),
        reach=_lognormal(rng, 0.7, n),
        fade_at=fade_from + rng.exponential(FADE_AFTER_DAYS, n),
        fade_days=rng.uniform(15, 60, n),
        toxic_post=np.where(troll, 0.7, 0.08),
        toxic_reply=np.where(troll, 0.5, 0.01),
        redeem=np.where(rng.random(n) < 0.5, 0.3, 0.005),
        ticket=TICKET_P * np.where(channel == 2, 1.5, 1.0),
        zh=zh,
        plus=plus,
        channel=channel,
        country=np.where(zh, rng.integers(0, 4, n), 4 + rng.integers(0, 8, n)),
    )


def _intensity(day: int, weekday: float, t: _Traits, s: _State) -> np.ndarray:
    """Expected activity per member today: 0 for members absent or gone."""
    tenure = np.maximum(day - t.join_day, 0).astype(np.float64)
    onboarding = 1 + ONBOARDING_BOOST * np.exp(-tenure / ONBOARDING_DAYS)
    fade = np.exp(-np.maximum(tenure - t.fade_at, 0) / t.fade_days)
    mood = np.exp(-MOOD * (np.minimum(s.unanswered, 5) + s.unresolved + s.toxic))
    present = s.alive & (t.join_day <= day)
    return np.where(present, t.engagement * onboarding * fade * mood * weekday, 0.0)


def _offsets(rng: np.random.Generator, lo: np.ndarray) -> np.ndarray:
    """A time between `lo` and midnight, in seconds into the day."""
    return lo + rng.random(len(lo)) * (DAY - lo)


def _pick(rng: np.random.Generator, pool: np.ndarray, weight: np.ndarray, k: int) -> np.ndarray:
    """k members drawn from `pool` with probability proportional to `weight`."""
    cum = np.cumsum(weight)
    return pool[np.searchsorted(cum, rng.random(k) * cum[-1], side="right")]


def _interactions(
    rng: np.random.Generator,
    per_post: np.ndarray,
    author: np.ndarray,
    post_sec: np.ndarray,
    visitors: _Visit,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Visitors acting on today's posts: (post index, actor, seconds), no one on their own post."""
    pool, weight, session = visitors
    which = np.repeat(np.arange(len(author)), rng.poisson(per_post))
    actor = _pick(rng, pool, weight, len(which)) if len(pool) else which
    keep = actor != author[which]
    which, actor = which[keep], actor[keep]
    return which, actor, _offsets(rng, np.maximum(post_sec[which], session[actor]))


def _simulate_posts(
    rng: np.random.Generator, out: _Day, t: _Traits, log: _Log, visit: _Visit
) -> tuple[np.ndarray, np.ndarray]:
    """Posts and what the community does to them; returns per-member unanswered and hurt counts."""
    pool, weight, session = visit
    n = len(t.join_day)
    author = np.repeat(pool, rng.poisson(POST_RATE * weight * t.poster[pool]))
    sec = _offsets(rng, session[author])
    ids = log.n_posts + np.arange(len(author))
    log.n_posts += len(author)
    toxic = rng.random(len(author)) < t.toxic_post[author]
    log.posts.append((ids, author, _micros(out.day, sec), t.zh[author], toxic))
    out.add("post", author, sec, _POST, ids)
    appeal = t.reach[author] * rng.gamma(0.8, 1 / 0.8, len(author))
    p, actor, when = _interactions(rng, REPLIES_PER_POST * appeal, author, sec, visit)
    out.add("comment", actor, when, _MEMBER, author[p])
    out.add("reply_received", author[p], when, _POST, ids[p])
    nasty = rng.random(len(p)) < t.toxic_reply[actor]
    out.add("toxic_reply_received", author[p][nasty], when[nasty], _POST, ids[p][nasty])
    p_like, liker, when = _interactions(rng, LIKES_PER_POST * appeal, author, sec, visit)
    out.add("like_given", liker, when, _MEMBER, author[p_like])
    out.add("like_received", author[p_like], when, _POST, ids[p_like])
    p_share, sharer, when = _interactions(rng, SHARES_PER_POST * appeal, author, sec, visit)
    out.add("share", sharer, when, _POST, ids[p_share])
    reported = rng.random(len(author)) < np.where(toxic, 0.6, 0.005)
    out.add("report_received", author[reported], _offsets(rng, sec[reported]), _POST, ids[reported])
    answered = np.zeros(len(author), bool)
    answered[p] = True
    unanswered = np.bincount(author[~answered], minlength=n)
    hurt = np.bincount(author[p][nasty], minlength=n) + np.bincount(author[reported], minlength=n)
    return unanswered, hurt


def _simulate_tickets(
    rng: np.random.Generator,
    out: _Day,
    t: _Traits,
    log: _Log,
    days: int,
    visit: _Visit,
) -> None:
    """Open tickets today and schedule their resolution and their overdue count."""
    pool, _, session = visit
    member = pool[rng.random(len(pool)) < t.ticket[pool]]
    sec = _offsets(rng, session[member])
    ids = log.n_tickets + np.arange(len(member))
    log.n_tickets += len(member)
    out.add("ticket_opened", member, sec, _TICKET, ids)
    # Most tickets close within hours, some after weeks, some never.
    speed = rng.random(len(member))
    delay = np.where(speed < 0.75, 3_600 + rng.exponential(36 * 3_600, len(member)), np.inf)
    delay = np.where((speed >= 0.75) & (speed < 0.9), rng.uniform(10, 40, len(member)) * DAY, delay)
    done = out.day * DAY + sec + delay
    done_day = (np.where(np.isfinite(done), done, days * DAY) // DAY).astype(np.int64)
    _schedule(log.later, done_day, days, member, ids, done - done_day * DAY)
    late = done_day > out.day + OVERDUE_DAYS
    _schedule(log.overdue, np.full(late.sum(), out.day + OVERDUE_DAYS), days, member[late])
    _schedule(log.settled, done_day[late], days, member[late])


def _schedule(bucket: defaultdict, day: np.ndarray, days: int, *cols: np.ndarray) -> None:
    """File rows under the day they take effect; rows past the window are dropped."""
    if not len(day):
        return
    order = np.argsort(day, kind="stable")
    keys, starts = np.unique(day[order], return_index=True)
    for key, rows in zip(keys, np.split(order, starts[1:]), strict=True):
        if key < days:
            part = tuple(c[rows] for c in cols)
            bucket[int(key)].append(part if len(part) > 1 else part[0])


def _simulate_points(
    rng: np.random.Generator, out: _Day, t: _Traits, s: _State, visit: _Visit
) -> None:
    """Points earned on some visits; redeemers spend whole hundreds, the others hoard."""
    pool, _, session = visit
    earner = pool[rng.random(len(pool)) < EARN_P]
    value = rng.choice(np.array([10.0, 25.0, 50.0]), len(earner))
    out.add("points_earned", earner, _offsets(rng, session[earner]), value=value)
    s.balance[earner] += value
    spender = pool[(s.balance[pool] >= 100) & (rng.random(len(pool)) < t.redeem[pool])]
    value = np.floor(s.balance[spender] / 100) * 100
    out.add("points_redeemed", spender, _offsets(rng, session[spender]), value=value)
    s.balance[spender] -= value


def _count(parts: list[np.ndarray], n: int) -> np.ndarray:
    """Occurrences of each member index across `parts`."""
    return np.bincount(np.concatenate(parts), minlength=n) if parts else np.zeros(n, np.int64)


def _hazard(t: _Traits, s: _State) -> np.ndarray:
    """Each member's probability of leaving today."""
    decline = np.log(np.maximum(s.long, 1e-9) / np.maximum(s.short, 1e-9)).clip(0, 2)
    drivers = (
        HAZARD["decline"] * decline
        + HAZARD["unanswered"] * np.minimum(s.unanswered, 5)
        + HAZARD["tickets"] * np.minimum(s.unresolved, 4)
        + HAZARD["toxic"] * np.minimum(s.toxic, 5)
        + HAZARD["points"] * np.log1p(s.balance / POINTS_SCALE)
    )
    return np.minimum(H0 * np.where(t.plus, 0.7, 1.0) * np.exp(drivers), 0.5)


def _update_state(s: _State, lam: np.ndarray, unanswered: np.ndarray, hurt: np.ndarray) -> None:
    """Fold today into the member's running memory."""
    fresh = (s.long == 0) & (lam > 0)  # first day present: start both EWMAs at today's level
    s.short = np.where(fresh, lam, 0.5 ** (1 / 7) * s.short + (1 - 0.5 ** (1 / 7)) * lam)
    s.long = np.where(fresh, lam, 0.5 ** (1 / 28) * s.long + (1 - 0.5 ** (1 / 28)) * lam)
    s.unanswered = 0.5 ** (1 / 14) * s.unanswered + unanswered
    s.toxic = 0.5 ** (1 / 14) * s.toxic + hurt


def _simulate_day(
    rng: np.random.Generator, day: int, days: int, weekday: float, t: _Traits, s: _State, log: _Log
) -> None:
    """One day of the community: visits, posts, tickets, points, then who leaves."""
    n = len(t.join_day)
    out = _Day(day)
    s.unresolved += _count(log.overdue.pop(day, []), n) - _count(log.settled.pop(day, []), n)
    lam = _intensity(day, weekday, t, s)
    pool = np.flatnonzero(rng.random(n) < 1 - np.exp(-LOGIN_RATE * lam))
    lo = np.where(t.join_day[pool] == day, t.join_sec[pool], 0.0)  # not before joining
    session = np.zeros(n)
    session[pool] = lo + rng.random(len(pool)) * 0.8 * (DAY - lo)
    visit = _Visit(pool, lam[pool], session)
    out.add("login", pool, session[pool])
    unanswered, hurt = _simulate_posts(rng, out, t, log, visit)
    _simulate_tickets(rng, out, t, log, days, visit)
    _simulate_points(rng, out, t, s, visit)
    joiner = pool[rng.random(len(pool)) < EVENT_JOIN_P]
    gathering = np.full(len(joiner), day // 7)  # one community event a week
    out.add("event_joined", joiner, _offsets(rng, session[joiner]), _GATHERING, gathering)
    for member, ticket, sec in log.later.pop(day, []):
        out.add("ticket_resolved", member, sec, _TICKET, ticket)
    log.events.append(_event_batch(out.arrays(), log.member_ids, log.origin))
    _update_state(s, lam, unanswered, hurt)
    present = s.alive & (t.join_day <= day)
    s.alive &= ~(present & (rng.random(n) < _hazard(t, s)))


def simulate(members: int, days: int, seed: int, start: date = date(2026, 1, 1)) -> Community:
    """Simulate a synthetic community of `members` over `days` days from `start`."""
    if members < 1 or days < 1:
        raise ValueError(f"need at least one member and one day, got {members=} {days=}")
    rng = np.random.Generator(np.random.PCG64(seed))
    t = _draw_traits(rng, members, days)
    s = _new_state(members)
    origin = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()) * 10**6
    log = _Log(_ids("m", np.arange(members), _id_width(members)), origin)
    weekdays = np.array([1.0, 1.0, 1.0, 1.0, 0.95, 0.85, 0.85])  # quieter weekends
    for day in range(days):
        _simulate_day(rng, day, days, weekdays[(start.weekday() + day) % 7], t, s, log)
    posts, moderation = _posts_frames(rng, log)
    return Community(
        members=_members_frame(t, log.member_ids, origin),
        events=_events_frame(log),
        posts=posts,
        moderation=moderation,
    )


def _new_state(members: int) -> _State:
    """Everyone present, nothing lived through yet."""
    return _State(
        alive=np.ones(members, bool),
        short=np.zeros(members),
        long=np.zeros(members),
        unanswered=np.zeros(members),
        toxic=np.zeros(members),
        unresolved=np.zeros(members, np.int64),
        balance=np.zeros(members),
    )


def _posts_frames(rng: np.random.Generator, log: _Log) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The posts and moderation tables: texts are written to match the drawn labels."""
    ids, author, micros, zh, toxic = (np.concatenate(c) for c in zip(*log.posts, strict=True))
    labels = toxic_labels(rng, toxic)
    texts = post_texts(rng, zh, labels)
    post_ids = _ids("p", ids)
    posts = _frame(
        "posts",
        post_id=post_ids,
        member_id=log.member_ids.take(author),
        ts=_timestamps(micros + log.origin),
        text=texts,
        lang=pa.array(np.where(zh, "zh", "en")),
    )
    scores = {k: pa.array(v.astype(np.float64)) for k, v in labels.items()}
    return posts, _frame("moderation", post_id=post_ids, text=texts, **scores)


def write_community(community: Community, folder: Path) -> dict[str, Path]:
    """Write the community's tables as canonical Parquet files; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name in ("members", "events", "posts", "moderation"):
        schema = TABLES[name].schema
        frame = getattr(community, name)[schema.names]
        paths[name] = folder / f"{name}.parquet"
        pq.write_table(
            pa.Table.from_pandas(frame, schema=schema, preserve_index=False), paths[name]
        )
    return paths


def _ids(prefix: str, nums: np.ndarray, width: int = 0) -> pa.Array:
    """String ids such as m000042 or p42."""
    digits = pc.cast(pa.array(nums), pa.string())
    if width:
        digits = pc.utf8_lpad(digits, width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _timestamps(micros: np.ndarray) -> pa.Array:
    """Canonical UTC timestamps from microseconds since the epoch."""
    return pa.array(micros.view("datetime64[us]"), type=TS)


def _frame(name: str, **columns: pa.Array) -> pd.DataFrame:
    """A canonical pandas frame from Arrow columns."""
    schema = TABLES[name].schema
    table = pa.Table.from_arrays([columns[c] for c in schema.names], schema=schema)
    return table.to_pandas(split_blocks=True)


def _members_frame(t: _Traits, member_ids: pa.Array, origin: int) -> pd.DataFrame:
    """The members table, attributes as a JSON object."""
    joined = (t.join_day * int(DAY) + t.join_sec.astype(np.int64)) * 10**6 + origin
    pieces = (
        ('{"channel": "', pa.array(_CHANNELS).take(pa.array(t.channel))),
        ('", "country": "', pa.array(_COUNTRIES).take(pa.array(t.country))),
        ('", "tier": "', pa.array(np.where(t.plus, "plus", "free"))),
        ('", "lang": "', pa.array(np.where(t.zh, "zh", "en"))),
    )
    attributes = pc.binary_join_element_wise(
        *[part for pair in pieces for part in pair], '", "synthetic": true}', ""
    )
    return _frame(
        "members", member_id=member_ids, joined_at=_timestamps(joined), attributes=attributes
    )


def _id_width(members: int) -> int:
    """Digits in a member id: fixed width, so ids sort in member order."""
    return max(6, len(str(members - 1)))


def _event_batch(
    arrays: tuple[np.ndarray, ...], member_ids: pa.Array, origin: int
) -> pa.RecordBatch:
    """One day of events as a canonical Arrow batch."""
    member, ts, code, kind, target, value = arrays
    kind_arr = pa.array(kind)
    digits = pc.cast(pa.array(target), pa.string())
    padded = pc.utf8_lpad(digits, _id_width(len(member_ids)), padding="0")
    digits = pc.if_else(pc.equal(kind_arr, _MEMBER), padded, digits)
    target_id = pc.binary_join_element_wise(pa.array(_PREFIX).take(kind_arr), digits, "")
    columns = {
        "member_id": member_ids.take(pa.array(member)),
        "ts": _timestamps(ts + origin),
        "event_type": pa.array(EVENT_TYPES).take(pa.array(code)),
        "value": pa.array(value.astype(np.float64), from_pandas=True),
        "target_id": pc.if_else(pc.equal(kind_arr, _NONE), pa.scalar(None, pa.string()), target_id),
    }
    schema = TABLES["events"].schema
    return pa.RecordBatch.from_arrays([columns[c] for c in schema.names], schema=schema)


def _events_frame(log: _Log) -> pd.DataFrame:
    """The events table; the day batches are released as they are converted."""
    table = pa.Table.from_batches(log.events, schema=TABLES["events"].schema)
    log.events.clear()
    return table.to_pandas(split_blocks=True, self_destruct=True)


_CHANNELS = ("web", "ios", "android")
_COUNTRIES = ("CN", "TW", "HK", "SG", "US", "GB", "IN", "CA", "AU", "DE", "NG", "BR")
