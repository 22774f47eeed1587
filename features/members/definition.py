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

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Literal, get_args

import pyarrow as pa

from features.schemas import EVENT_TYPES, QUALIFYING_EVENT_TYPES

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


# What steward_banded sums per member, as_of and band (columns of steward_buckets).
BAND_COLUMNS: tuple[str, ...] = (
    *(f"n_{t}" for t in EVENT_TYPES),
    "n_qualifying",
    "active_days",
    "points_redeemed",
)


Engine = Literal["arrays", "sql"]


ENGINES: tuple[str, ...] = get_args(Engine)


EVENT_COLUMNS: tuple[str, ...] = ("member_id", "ts", "event_type", "value", "target_id")


SIDE_INPUTS: tuple[str, ...] = ("members", "subscriptions")  # what the arrays engine's SQL reads


DAY_BITS = 62  # steward_calendar's day mask: bits 0..61 of a BIGINT


# The single source of truth for the features and their order; the SQL is generated from it.
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


DOUBLE_FEATURES: frozenset[str] = frozenset(
    {
        *(f"trend_{name}_{TREND_DAYS}d" for name in TRENDS),
        "replies_received_per_post_30d",
        "likes_received_per_post_30d",
        "points_balance",
        "points_redeemed_90d",
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


DEFAULT_CONFIG = FeatureConfig()


def output_schema() -> pa.Schema:
    """The Arrow schema of a feature table: keys, FEATURE_COLUMNS, labels."""
    features = [
        pa.field(n, pa.float64() if n in DOUBLE_FEATURES else pa.int64()) for n in FEATURE_COLUMNS
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
