"""Top reasons per member from per-prediction contributions, each with an intervention.

Contributions are summed per reason key (all ticket features make one "tickets" reason), only
keys that push risk up and apply to the member are kept (never a ticket reason without an
open ticket, never unused points without a balance), and the strongest `top_k` are worded by
the key's most contributing feature, in the member's own numbers. A feature whose value reads
as protective for this member (72 active days of 90, many recent logins) adds nothing to its
key, whatever the model's contribution: a reason always names a risk. The intervention follows
the member's own driver: `activity_falling.login` before `activity_falling` before `other`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import yaml

from features.schemas import is_custom_event
from models.churn.wording import OTHER, Wording, custom_plain_name, reason_keys, wordings

# Reason key -> what to do about it. experiments/interventions.yaml overrides any of these.
DEFAULT_INTERVENTIONS: dict[str, str] = {
    "tickets_unresolved": "support follow-up: resolve their open tickets and tell them",
    "activity_falling": "invite them to an upcoming community event",
    "posts_falling": "invite them to an event or thread on a topic they post about",
    "unanswered_posts": "ask a community host to reply to their next post",
    "little_recognition": "feature or thank one of their recent contributions",
    "toxic_replies": "moderator check-in about the replies they received",
    "reported": "moderator check-in: explain the rules before it escalates",
    "unused_points": "loyalty reminder: show what their points can buy",
    "few_connections": "introduce them to members with shared interests",
    "ad_load": "offer a few ad-free days",
    "negative_experience": "ask what they dislike and follow up",
    # Custom types the team marked as a risk (reasons.harm_events), such as a CRM's
    # x_add_competitor.
    "warning_signs": "personal check-in: ask what is behind it and what would help",
    # Tenure is a reason only for new members (wording.NEW_MEMBER_DAYS).
    "tenure": "personal onboarding check-in: help them find their first threads and people",
    OTHER: "personal check-in from the community team",
}
# Reason key + the driver's topic (its event type, or active_days) -> a more specific action.
DRIVER_INTERVENTIONS: dict[str, str] = {
    "activity_falling.login": "send a digest of what happened since their last visit",
    "activity_falling.active_days": "invite them to an upcoming community event",
    "activity_falling.comment": "point them to a new discussion in a thread they commented on",
    "activity_falling.like_given": "show them new posts from members whose posts they liked",
    "activity_falling.share": "show them what their shares started: the replies and likes",
    "posts_falling.answer": "send them open questions in the topics they answer",
    "few_connections.message_sent": "have a host message them personally and invite a reply",
    "few_connections.friend_removed": "check in: ask whether something soured a connection",
    "little_recognition.like_received": "feature or thank one of their recent posts",
    "little_recognition.badge_earned": "show them the next badge within reach",
    "ad_load.ad_viewed": "offer a few ad-free days",
}

Get = Callable[[str], np.ndarray]  # a feature's raw values for the rows being explained

# A key is a reason only for members it applies to: never a ticket reason without an open
# ticket, never unanswered posts for a member whose posts got at least one reply each.
APPLIES_WHEN: dict[str, Callable[[Get], np.ndarray]] = {
    "tickets_unresolved": lambda get: get("tickets_open_unresolved") > 0,
    "unused_points": lambda get: get("points_balance") > 0,
    "unanswered_posts": lambda get: (
        (get("n_post_30d") > 0) & (get("n_reply_received_30d") < get("n_post_30d"))
    ),
    "toxic_replies": lambda get: get("n_toxic_reply_received_90d") > 0,
    "reported": lambda get: get("n_report_received_90d") > 0,
    "negative_experience": lambda get: get("n_dislike_given_90d") > 0,
    "ad_load": lambda get: get("n_ad_viewed_90d") > 0,
}
MIN_CONTRIBUTION = 1e-9  # log-odds: anything smaller does not push risk up


@dataclass(frozen=True)
class Reasons:
    """Up to top_k reasons per row; None where a row has fewer."""

    keys: np.ndarray  # rows x top_k, object
    texts: np.ndarray
    drivers: np.ndarray  # the feature each reason shows the value of
    interventions: np.ndarray

    def lists(self, field: str) -> list[list[str]]:
        """One list per row of a field, without the empty slots."""
        table: np.ndarray = getattr(self, field)
        return [[v for v in row if v is not None] for row in table.tolist()]

    def arrow(self, field: str) -> pa.ListArray:
        """One list per row as an Arrow list<string> array (the chosen slots are a prefix)."""
        table: np.ndarray = getattr(self, field)
        chosen = self.keys != None  # noqa: E711 (elementwise on an object array)
        offsets = np.concatenate([[0], np.cumsum(chosen.sum(axis=1))]).astype(np.int32)
        values = pa.array(table[chosen], pa.string())
        return pa.ListArray.from_arrays(pa.array(offsets), values)

    def first_intervention(self) -> np.ndarray:
        """The top reason's intervention per row ("" without reasons)."""
        if self.interventions.shape[1] == 0:
            return np.full(len(self.interventions), "", dtype=object)
        first = self.interventions[:, 0]
        return np.where(first == None, "", first)  # noqa: E711


def load_interventions(path: Path | None) -> dict[str, str]:
    """The default mapping with a YAML file's entries on top; unknown keys are errors.

    Keys are reason keys, or KEY.TOPIC (activity_falling.login): the action when that reason's
    driver is that event type (or active_days)."""
    mapping = {**DEFAULT_INTERVENTIONS, **DRIVER_INTERVENTIONS}
    if path is None:
        return mapping
    if not Path(path).is_file():
        raise ValueError(f"interventions file {path} does not exist")
    raw = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected reason key: intervention lines")
    for key, text in raw.items():
        if not known_key(str(key)):
            raise ValueError(
                f"{path}: unknown reason key {key!r}; known: {', '.join(reason_keys())}"
            )
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{path}: {key}: the intervention must be a non-empty string")
        mapping[str(key)] = text.strip()
    return mapping


def known_key(key: str) -> bool:
    """A reason key, or KEY.TOPIC with a known topic (an event type, a custom x_ type or
    active_days)."""
    from models.churn.wording import EVENT_WORDS

    base, _, topic = key.partition(".")
    if base not in DEFAULT_INTERVENTIONS:
        return False
    return not topic or topic in EVENT_WORDS or topic == "active_days" or is_custom_event(topic)


def driver_topic(feature: str) -> str:
    """The event type a driver feature counts (n_login_30d -> login), else its own kind."""
    import re

    for pattern in (r"n_(\w+)_\d+d", r"days_since_last_(\w+)", r"trend_(\w+)_14d"):
        if found := re.fullmatch(pattern, feature):
            return found[1]
    return "active_days" if feature.startswith("active_days") else feature


def explain(
    get: Get,
    contrib: np.ndarray,
    columns: list[str],
    interventions: dict[str, str],
    top_k: int,
    harm: frozenset[str] = frozenset(),
) -> Reasons:
    """The top_k reasons of each row: `get(feature)` gives the rows' raw values; harm: custom
    event types that read as a risk (reasons.harm_events)."""
    words = wordings(tuple(columns), harm)
    keys = sorted({w.key for w in words.values()})
    n = len(contrib)
    key_of = np.array([keys.index(words[f].key) for f in columns])
    by_key = np.zeros((n, len(keys)))
    best = np.zeros((n, len(keys)), dtype=np.int64)
    # A protective value (many recent logins) is no reason, whatever the model gave it.
    contrib = np.where(_risky(get, columns, n, harm), contrib, np.minimum(contrib, 0.0))
    for k in range(len(keys)):
        members = np.flatnonzero(key_of == k)
        part = contrib[:, members]
        by_key[:, k] = part.sum(axis=1)
        best[:, k] = members[np.argmax(part, axis=1)]
        by_key[~_applies(keys[k], get, n), k] = -np.inf
    order = np.argsort(-by_key, axis=1, kind="stable")[:, :top_k]
    chosen = np.take_along_axis(by_key, order, axis=1) > MIN_CONTRIBUTION
    driver = np.take_along_axis(best, order, axis=1)
    return _word(get, words, columns, keys, order, chosen, driver, interventions)


def _risky(get: Get, columns: list[str], n: int, harm: frozenset[str]) -> np.ndarray:
    """rows x columns: whether each feature's value reads as a risk for each row."""
    words = wordings(tuple(columns), harm)
    out = np.ones((n, len(columns)), dtype=bool)
    for j, feature in enumerate(columns):
        try:
            out[:, j] = np.asarray(words[feature].risky(get), dtype=bool)
        except KeyError:
            continue  # a rule reading a feature the model lacks: the key's own rule decides
    return out


def _applies(key: str, get: Get, n: int) -> np.ndarray:
    """Which rows a reason key applies to (none when its features are not in the model)."""
    rule = APPLIES_WHEN.get(key)
    if rule is None:
        return np.ones(n, dtype=bool)
    try:
        return np.asarray(rule(get), dtype=bool)
    except KeyError:
        return np.zeros(n, dtype=bool)


def _word(
    get: Get,
    words: Mapping[str, Wording],
    columns: list[str],
    keys: list[str],
    order: np.ndarray,
    chosen: np.ndarray,
    driver: np.ndarray,
    interventions: dict[str, str],
) -> Reasons:
    """Sentences for the chosen (row, rank) slots, one template call per feature and rank."""
    shape = order.shape
    texts = np.full(shape, None, dtype=object)
    drivers = np.full(shape, None, dtype=object)
    for rank in range(shape[1]):
        for f in np.unique(driver[chosen[:, rank], rank]):
            rows = np.flatnonzero(chosen[:, rank] & (driver[:, rank] == f))
            wording = words[columns[f]]
            texts[rows, rank] = wording.render(_subset(get, rows))
            drivers[rows, rank] = wording.shown
    key_names = np.array(keys, dtype=object)[order]
    none = np.full(shape, None, dtype=object)
    actions = np.full(shape, None, dtype=object)
    if chosen.any():
        # One lookup per distinct (key, driver) pair, not per member.
        pairs = key_names[chosen].astype(str) + "|" + drivers[chosen].astype(str)
        distinct, inverse = np.unique(pairs, return_inverse=True)
        found = [_action(str(pair), interventions) for pair in distinct]
        actions[chosen] = np.array(found, dtype=object)[inverse]
    return Reasons(
        keys=np.where(chosen, key_names, none),
        texts=texts,
        drivers=drivers,
        interventions=actions,
    )


def _action(pair: str, interventions: dict[str, str]) -> str:
    """The intervention of a "key|driver" pair: key.topic, else key, else other."""
    key, _, driver = pair.partition("|")
    topic = driver_topic(driver)
    if (specific := interventions.get(f"{key}.{topic}")) is not None:
        return specific
    action = interventions.get(key, interventions[OTHER])
    if is_custom_event(topic) and action == DEFAULT_INTERVENTIONS.get(key):
        # The defaults speak to communities ("invite them to an upcoming community event"):
        # a product's own kind of action gets a line that names it, unless the team wrote one.
        return custom_intervention(key, topic)
    return action


def custom_intervention(key: str, topic: str) -> str:
    """The default action when a custom event type (x_add_contact) drives a reason."""
    name = f'"{custom_plain_name(topic)}"'
    if key == "warning_signs":
        return f"personal check-in about their {name} events: ask what is behind them"
    return f"personal check-in about {name}: ask what changed and what would help"


def _subset(get: Get, rows: np.ndarray) -> Get:
    """A column getter restricted to some rows."""
    return lambda column: get(column)[rows]
