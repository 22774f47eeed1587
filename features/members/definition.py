"""What a member feature row is: the feature list, windows and churn labels.

Semantics (DESIGN.md, "Churn, precisely"):

- Days are UTC days. An observation date T (a DATE) means the end of day T: features use only
  events with CAST(ts AS DATE) <= T.
- Rows: members who joined on or before T (MIN(joined_at) of the members table, which may list a
  member twice after repeated ingests, else the day of their first event) and who are active at T
  (qualifying activity on days T-lookback+1 .. T) or subscribed at T (a merged subscription
  coverage that started on or before T and had not ended by the end of T).
- Windows: a w-day window is days T-w+1 .. T. days_since_* is NULL when there never was such an
  event; per-post ratios are NULL without posts; trends are (n last 14 days + 1) / (n the 14
  days before + 1). Tickets are matched to their resolution by target_id (tickets without one
  are left out). The days since the last redemption are days_since_last_points_redeemed.
- churned_activity (members active at T): 1 without qualifying activity on days T+1 .. T+horizon,
  0 with some, NULL when T + horizon > data_end (censored) or the member is not active at T.
- churned_subscription (members subscribed at T): subscription periods that overlap or touch
  (next start <= latest end so far + grace_days) are one coverage. 1 when the coverage ends in
  (T, T+horizon] on or before data_end; 0 when it runs past T+horizon (or is open) and
  T + horizon <= data_end; NULL otherwise, and NULL for members not subscribed at T.
- data_end (the last day the data is complete for) defaults to the latest event day.

The SQL lives in sql/member_features.sql as portable steps (DuckDB and Spark SQL): events are
read once into per member/bucket/event-type parts, where buckets are day ranges cut at every
window edge of every as_of, so each window is a sum over a few bucket rows instead of over
events. This module fills the SQL's slots (literals, and column lists generated from the same
names as FEATURE_COLUMNS) and owns the DuckDB-specific parts: views over the lake, session
settings, and turning steps into temporary tables or views. Two engines build the same table:
"sql" runs the file whole; "arrays" (the default, member_arrays.py) counts the same buckets with
NumPy and runs only the file's small steps (tickets, subscriptions, join days). Output: one
Parquet file per as_of under as_of=YYYY-MM-DD/ (Hive layout) plus _features.json, swapped in
atomically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Literal, get_args

import pyarrow as pa

from features.schemas import (
    EVENT_TYPES,
    MAX_CUSTOM_EVENT_TYPES,
    QUALIFYING_EVENT_TYPES,
    is_custom_event,
    too_many_custom_events,
)

if TYPE_CHECKING:
    pass


FEATURE_DEFINITION_VERSION = "1"


COUNT_WINDOWS: tuple[int, ...] = (7, 14, 30, 90)


ACTIVE_DAY_WINDOWS: tuple[int, ...] = (7, 30, 90)


TREND_DAYS = 14


# Trend feature name -> the daily count column it compares (n_qualifying: qualifying activity).
TRENDS: dict[str, str] = {"activity": "qualifying", "post": "post", "login": "login"}


LABEL_COLUMNS: tuple[str, ...] = ("churned_activity", "churned_subscription")


# How each label's counts are keyed per date in _features.json (activity_1, subscription_null).
LABEL_KEYS = {"churned_activity": "activity", "churned_subscription": "subscription"}


# Rows and label counts per observation date: {"rows": n, "activity_1": n, ...}.
Counts = dict[date, dict[str, int]]


DEFAULT_EVERY_DAYS = 14


LABEL_BAND = -1  # steward_bucket_bands' band of the days after as_of, up to the label horizon


Engine = Literal["arrays", "sql"]


ENGINES: tuple[str, ...] = get_args(Engine)


EVENT_COLUMNS: tuple[str, ...] = ("member_id", "ts", "event_type", "value", "target_id")


SIDE_INPUTS: tuple[str, ...] = ("members", "subscriptions")  # what the arrays engine's SQL reads


DAY_BITS = 62  # steward_calendar's day mask: bits 0..61 of a BIGINT


# The single source of truth for the features and their order; the SQL is generated from it.
# A lake with custom event types (x_...) adds custom_columns() after these (feature_columns()).
FEATURE_COLUMNS: list[str] = [
    *(f"n_{t}_{w}d" for t in EVENT_TYPES for w in COUNT_WINDOWS),
    *(f"active_days_{w}d" for w in ACTIVE_DAY_WINDOWS),
    "days_since_last_activity",
    *(f"days_since_last_{t}" for t in EVENT_TYPES),
    "tenure_days",
    *(f"trend_{name}_{TREND_DAYS}d" for name in TRENDS),
    "distinct_members_interacted_30d",
    "replies_received_per_post_30d",
    "likes_received_per_post_30d",
    "tickets_open_unresolved",
    "oldest_open_ticket_days",
    "points_balance",
    "points_redeemed_90d",
]


# A member's age in years at T, from the date_of_birth attribute of the members table: a
# feature only of lakes whose members carry one (FeatureConfig.member_age), after
# FEATURE_COLUMNS. Ages from a profile are fixed at signup, so they cannot leak later events.
AGE_COLUMN = "age_years"


DOUBLE_FEATURES: frozenset[str] = frozenset(
    {
        *(f"trend_{name}_{TREND_DAYS}d" for name in TRENDS),
        "replies_received_per_post_30d",
        "likes_received_per_post_30d",
        "points_balance",
        "points_redeemed_90d",
        AGE_COLUMN,
    }
)


@dataclass(frozen=True)
class FeatureConfig:
    """How churn is defined for one feature build."""

    horizon_days: int = 30
    lookback_days: int = 30
    qualifying: tuple[str, ...] = QUALIFYING_EVENT_TYPES
    grace_days: int = 0
    data_end: date | None = None
    # The lake's custom event types (x_...), sorted: each build finds them in the events, as it
    # finds data_end; they get features of their own and count as activity.
    custom_events: tuple[str, ...] = ()
    # Whether any member has a date_of_birth attribute: found by each build, as custom_events.
    member_age: bool = False


DEFAULT_CONFIG = FeatureConfig()


def event_types(config: FeatureConfig) -> tuple[str, ...]:
    """Every event type a build counts: steward's, then the lake's custom ones."""
    return (*EVENT_TYPES, *config.custom_events)


def qualifying_types(config: FeatureConfig) -> tuple[str, ...]:
    """The event types that count as activity: the configured ones and every custom type (a
    product's own kinds of action are the member's own doing)."""
    return (*config.qualifying, *config.custom_events)


def custom_columns(custom: Sequence[str]) -> list[str]:
    """The features of custom event types: counts per window and days since the last one."""
    return [
        name
        for t in custom
        for name in (*(f"n_{t}_{w}d" for w in COUNT_WINDOWS), f"days_since_last_{t}")
    ]


def absent_custom_value(column: str) -> float:
    """A custom type's feature for a member with no such event: no count, no last day (NaN)."""
    kind = _custom_type(column)
    if not is_custom_event(kind) or column not in custom_columns([kind]):
        raise ValueError(f"{column} is not a custom event type's feature")
    return math.nan if column.startswith("days_since_last_") else 0.0


def absent_value(column: str) -> float:
    """A feature of a member whose data lacks it: an age without a birth day is unknown (NaN);
    a custom type's, absent_custom_value."""
    return math.nan if column == AGE_COLUMN else absent_custom_value(column)


def _custom_type(column: str) -> str:
    """The custom event type a custom feature column counts (n_x_a_7d, days_since_last_x_a)."""
    if column.startswith("days_since_last_"):
        return column.removeprefix("days_since_last_")
    return column.removeprefix("n_").rsplit("_", 1)[0]


def feature_columns(config: FeatureConfig = DEFAULT_CONFIG) -> list[str]:
    """A build's feature columns in order: FEATURE_COLUMNS, the member's age where the lake
    has birth dates, then its custom types' columns."""
    age = [AGE_COLUMN] if config.member_age else []
    return [*FEATURE_COLUMNS, *age, *custom_columns(config.custom_events)]


# Families a long-term view leaves out: what a member did lately, not over their membership.
SHORT_TERM_PREFIXES: tuple[str, ...] = ("days_since_", "trend_")


def long_term_columns(columns: Sequence[str]) -> list[str]:
    """The columns of a long-term view, in their order: each count and active-days family at
    its longest window, and the member's standing (tenure, age, balances, open tickets, ratios);
    no shorter windows, days since or trends (models/churn/train.py says when a model uses it)."""
    windows = {name: _windowed(name) for name in columns}
    longest: dict[str, int] = {}
    for family, days in filter(None, windows.values()):
        longest[family] = max(longest.get(family, 0), days)
    return [
        name
        for name, window in windows.items()
        if not name.startswith(SHORT_TERM_PREFIXES)
        and (window is None or window[1] == longest[window[0]])
    ]


def _windowed(name: str) -> tuple[str, int] | None:
    """(family, window days) of a windowed count (n_post_30d, active_days_90d), else None."""
    if not name.startswith(("n_", "active_days_")):
        return None
    family, _, window = name.rpartition("_")
    if not (window.endswith("d") and window[:-1].isdigit()):
        return None
    return family, int(window[:-1])


def band_columns(config: FeatureConfig) -> tuple[str, ...]:
    """What steward_banded sums per member, as_of and band (columns of steward_buckets)."""
    return (
        *(f"n_{t}" for t in event_types(config)),
        "n_qualifying",
        "active_days",
        "points_redeemed",
    )


def output_schema(config: FeatureConfig = DEFAULT_CONFIG) -> pa.Schema:
    """The Arrow schema of a feature table: keys, feature_columns(config), labels."""
    features = [
        pa.field(n, pa.float64() if n in DOUBLE_FEATURES else pa.int64())
        for n in feature_columns(config)
    ]
    return pa.schema(
        [
            pa.field("member_id", pa.string()),
            pa.field("as_of", pa.date32()),
            *features,
            *(pa.field(n, pa.int32()) for n in LABEL_COLUMNS),
        ]
    )


def dates_back(
    first: date | None, end: date | None, every_days: int, lookback_days: int
) -> list[date]:
    """Dates every_days apart back from end, none before first + lookback_days - 1."""
    if every_days < 1:
        raise ValueError(f"every_days must be at least 1, got {every_days}")
    if first is None or end is None:
        return []
    earliest = first + timedelta(days=lookback_days - 1)
    dates: list[date] = []
    day = end
    while day >= earliest:
        dates.append(day)
        day -= timedelta(days=every_days)
    return sorted(dates)


def validate_config(config: FeatureConfig) -> None:
    """Reject configs the SQL cannot mean (and keep event type literals to known names)."""
    unknown = sorted(set(config.qualifying) - set(EVENT_TYPES))
    if unknown or not config.qualifying:
        raise ValueError(
            f"qualifying must be a non-empty subset of EVENT_TYPES; unknown: {unknown}"
        )
    custom = config.custom_events
    odd = [t for t in custom if not is_custom_event(t) or t in EVENT_TYPES]
    if odd or list(custom) != sorted(set(custom)):
        raise ValueError(f"custom_events must be sorted, distinct x_ names; got {list(custom)}")
    if len(custom) > MAX_CUSTOM_EVENT_TYPES:
        raise ValueError(too_many_custom_events(str(len(custom))))
    for name in ("horizon_days", "lookback_days"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(config, name)}")
    if config.grace_days < 0:
        raise ValueError(f"grace_days must be >= 0, got {config.grace_days}")


def feature_windows(config: FeatureConfig) -> dict[str, tuple[int, int]]:
    """Every feature window as (start, end): the days d with start <= T - d < end."""
    windows = {f"{w}d": (0, w) for w in sorted({*COUNT_WINDOWS, *ACTIVE_DAY_WINDOWS})}
    windows[f"previous_{TREND_DAYS}d"] = (TREND_DAYS, 2 * TREND_DAYS)
    windows["lookback"] = (0, config.lookback_days)
    return windows
