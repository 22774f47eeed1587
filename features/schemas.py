"""The canonical data model: tables, their columns and the event types steward knows."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

# The member's own actions and what happens to them. Adapters map their sources onto these;
# a source's own kinds of action go in as custom types (below); anything else is quarantined
# as an unknown event type.
EVENT_TYPES: tuple[str, ...] = (
    "login",
    "post",
    "comment",
    "answer",
    "reply_received",
    "like_given",
    "like_received",
    "dislike_given",
    "share",
    "message_sent",
    "friend_added",
    "friend_removed",
    "ad_viewed",
    "vote_received",
    "answer_accepted",
    "badge_earned",
    "ticket_opened",
    "ticket_resolved",
    "points_earned",
    "points_redeemed",
    "event_joined",
    "report_received",
    "toxic_reply_received",
)

# Events the member does themselves: they count as activity for the activity-based churn label.
# Events that merely happen to a member (likes received, badges, tickets resolved) do not.
QUALIFYING_EVENT_TYPES: tuple[str, ...] = (
    "login",
    "post",
    "comment",
    "answer",
    "like_given",
    "dislike_given",
    "share",
    "message_sent",
    "friend_added",
    "friend_removed",
    "ad_viewed",
    "ticket_opened",
    "points_redeemed",
    "event_joined",
)

# A product's own kinds of action that no type above fits (a CRM's "add_contact", a game's
# "quest_done"): named x_<name>, counted per type like the types above (features named after
# them), and counted as the member's own activity. The prefix keeps a typo in a canonical name
# ("logn") from becoming a type of its own: it is still quarantined.
CUSTOM_EVENT_PREFIX = "x_"
CUSTOM_EVENT_PATTERN = re.compile(r"x_[a-z0-9_]{1,40}")
MAX_CUSTOM_EVENT_TYPES = 64  # features per type: 5 columns each


def is_custom_event(name: str) -> bool:
    """Whether name is a custom event type (x_ and up to 40 lower-case letters, digits, _)."""
    return CUSTOM_EVENT_PATTERN.fullmatch(name) is not None


def too_many_custom_events(found: str) -> str:
    """What to do about a lake with more custom types than steward counts (found: how many)."""
    return (
        f"the events hold {found} custom event types (x_...); steward counts at most "
        f"{MAX_CUSTOM_EVENT_TYPES}: map the rarer ones onto fewer types before ingesting"
    )


def custom_event_name(name: str) -> str:
    """A source's own event name as a custom type: "Add Contact" -> "x_add_contact" (a name that
    is one already stays as it is)."""
    if is_custom_event(name):
        return name
    plain = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")[:40]
    return f"{CUSTOM_EVENT_PREFIX}{plain}" if plain else name


MODERATION_LABELS: tuple[str, ...] = ("toxicity", "identity_attack", "insult", "obscene", "threat")


@dataclass(frozen=True)
class Column:
    """One canonical column: its name, Arrow type and whether a row may leave it empty."""

    name: str
    type: pa.DataType
    required: bool = True


@dataclass(frozen=True)
class Table:
    """A canonical table of the lake."""

    name: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        """Column names in canonical order."""
        return [c.name for c in self.columns]

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema written to Parquet."""
        return pa.schema([pa.field(c.name, c.type, nullable=not c.required) for c in self.columns])


EVENTS = Table(
    "events",
    (
        Column("member_id", pa.string()),
        Column("ts", TS),
        Column("event_type", pa.string()),
        Column("value", pa.float64(), required=False),
        Column("target_id", pa.string(), required=False),
    ),
)

MEMBERS = Table(
    "members",
    (
        Column("member_id", pa.string()),
        Column("joined_at", TS),
        # Free attributes (channel, country, tier, ...) as a JSON object: portable to Spark.
        Column("attributes", pa.string(), required=False),
    ),
)

POSTS = Table(
    "posts",
    (
        Column("post_id", pa.string()),
        # Empty for a post whose author is unknown (a deleted account): its text still counts.
        Column("member_id", pa.string(), required=False),
        Column("ts", TS),
        Column("text", pa.string()),
        Column("lang", pa.string(), required=False),
    ),
)

SUBSCRIPTIONS = Table(
    "subscriptions",
    (
        Column("member_id", pa.string()),
        Column("start_at", TS),
        Column("end_at", TS, required=False),
        Column("product", pa.string(), required=False),
        Column("mrr", pa.float64(), required=False),
    ),
)

MODERATION = Table(
    "moderation",
    (
        Column("post_id", pa.string(), required=False),
        Column("text", pa.string(), required=False),
        *(Column(label, pa.float64(), required=label == "toxicity") for label in MODERATION_LABELS),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (EVENTS, MEMBERS, POSTS, SUBSCRIPTIONS, MODERATION)}

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("table", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("row_number", pa.int64(), nullable=True),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string(), nullable=False),
    ]
)
