"""The feature SQL: sql/member_features.sql's slots filled from the definition, split into steps."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, NamedTuple

from features.members.definition import (
    ACTIVE_DAY_WINDOWS,
    AGE_COLUMN,
    COUNT_WINDOWS,
    DAY_BITS,
    LABEL_BAND,
    TREND_DAYS,
    TRENDS,
    FeatureConfig,
    band_columns,
    event_types,
    feature_columns,
    feature_windows,
    qualifying_types,
)
from features.schemas import CUSTOM_EVENT_PREFIX, EVENT_TYPES

# The custom event types (x_...) in the events, for a build to put in its config: substr and
# not LIKE, whose escapes DuckDB and Spark spell differently.
CUSTOM_EVENTS_SQL = (
    "SELECT DISTINCT event_type FROM events "
    f"WHERE substr(event_type, 1, {len(CUSTOM_EVENT_PREFIX)}) = '{CUSTOM_EVENT_PREFIX}'"
)

# A member's birth day from the members table's date_of_birth attribute (NULL when it is
# missing or not a date). get_json_object is Spark's; build_session defines it on DuckDB.
BIRTH_DAY_SQL = "TRY_CAST(substr(get_json_object(attributes, '$.date_of_birth'), 1, 10) AS DATE)"

# Whether any member has a birth day, for a build to put in its config (member_age).
BIRTH_DAYS_SQL = f"SELECT COUNT(*) FROM members WHERE {BIRTH_DAY_SQL} IS NOT NULL"

if TYPE_CHECKING:
    pass


def feature_sql(config: FeatureConfig, data_end: date) -> str:
    """The whole build as portable SQL text, one statement per step (for review, Spark parity)."""
    return "\n\n".join(f"-- {s.name}\n{s.sql};" for s in render_steps(config, data_end))


class Step(NamedTuple):
    """One SELECT of the build, and whether the engine should materialise it (read twice)."""

    name: str
    sql: str
    materialize: bool


def render_steps(config: FeatureConfig, data_end: date) -> list[Step]:
    """The SQL steps with every slot filled, in order; the last one is the result."""
    windows = feature_windows(config)
    types, qualifying = event_types(config), qualifying_types(config)
    edges = sorted({0, *(day for window in windows.values() for day in window)})
    recent = [e for e in edges if e <= max(ACTIVE_DAY_WINDOWS)]
    if max(b - a for a, b in itertools.pairwise(recent)) > DAY_BITS:
        raise RuntimeError("a band inside the active-day windows is too long for the day mask")
    text = Template(_sql_template()).substitute(
        max_window=edges[-1],
        horizon=config.horizon_days,
        grace=config.grace_days,
        data_end=data_end.isoformat(),
        qualifying=", ".join(f"'{t}'" for t in qualifying),
        window_edges=_union_all(
            [
                *(f"SELECT {_minus('as_of', k)} AS edge FROM steward_obs" for k in edges),
                "SELECT label_end AS edge FROM steward_obs",
            ]
        ),
        bucket_parts=_join(_bucket_parts(types)),
        bucket_columns=_join(_bucket_columns(types)),
        # Sums of the per-type columns, not SUMs over parts (see steward_buckets).
        qualifying_sum=" + ".join(f"COALESCE(n_{t}, 0)" for t in qualifying),
        qualifying_last=", ".join(f"last_{t}" for t in qualifying),
        band=_band_case(edges),
        label_band=LABEL_BAND,
        band_sums=_join(f"SUM(b.{c}) AS {c}" for c in band_columns(config)),
        window_sums=_join(_window_sums(windows, edges, types)),
        band_joins="\n".join(
            f"LEFT JOIN steward_banded {alias} ON {alias}.member_id = k.member_id "
            f"AND {alias}.as_of = k.as_of AND {alias}.band = {band}"
            for band, alias in _band_aliases(edges).items()
        ),
        bands_30d=", ".join(str(band) for band in _bands(edges, (0, 30))),
        lookback_bands=", ".join(str(band) for band in _bands(edges, windows["lookback"])),
        history_columns=_join(f"MAX(last_{t}) AS last_{t}" for t in types),
        features=_join(f"{expr} AS {name}" for name, expr in _feature_expressions(config).items()),
        # Lakes without birth days skip reading every members row's JSON.
        birth_day=BIRTH_DAY_SQL if config.member_age else "CAST(NULL AS DATE)",
    )
    parts = re.split(r"^-- (step|view): (\w+)\s*$", text, flags=re.MULTILINE)
    return [
        Step(name, body.strip().rstrip(";"), kind == "step")
        for kind, name, body in zip(parts[1::3], parts[2::3], parts[3::3], strict=True)
    ]


def _sql_template() -> str:
    """The step file, read when a build runs (nothing is loaded at import time)."""
    return (Path(__file__).parent / "sql" / "member_features.sql").read_text()


def _join(expressions: Iterable[str]) -> str:
    """Column expressions as one comma-separated SELECT list fragment."""
    return ",\n    ".join(expressions)


def _union_all(selects: Iterable[str]) -> str:
    """SELECTs combined with UNION ALL."""
    return "\n        UNION ALL ".join(selects)


def _minus(day: str, days: int) -> str:
    """A DATE expression days before day."""
    return day if days == 0 else f"CAST({day} - INTERVAL '{days}' DAY AS DATE)"


def _bands(edges: list[int], window: tuple[int, int]) -> list[int]:
    """The bands (ranges between consecutive edges, numbered from 0) that make up a window."""
    return [i for i in range(len(edges) - 1) if window[0] <= edges[i] and edges[i + 1] <= window[1]]


def _band_aliases(edges: list[int]) -> dict[int, str]:
    """Table alias of each feature band in steward_windowed: b0, b1, ..."""
    return {i: f"b{i}" for i in range(len(edges) - 1)}


def _band_case(edges: list[int]) -> str:
    """The band of bucket b relative to as_of o: LABEL_BAND after it, else the edge range."""
    whens = [f"WHEN b.bucket > o.as_of THEN {LABEL_BAND}"]
    whens += [
        f"WHEN b.bucket > {_minus('o.as_of', edges[i + 1])} THEN {i}" for i in range(len(edges) - 1)
    ]
    return "CASE\n        " + "\n        ".join(whens) + "\n    END"


def _bucket_parts(types: tuple[str, ...]) -> list[str]:
    """steward_buckets' per-type values: the count and the last day of each event type."""
    return [
        *(f"MAX(CASE WHEN event_type = '{t}' THEN n END) AS n_{t}" for t in types),
        *(f"MAX(CASE WHEN event_type = '{t}' THEN last_day END) AS last_{t}" for t in types),
    ]


def _bucket_columns(types: tuple[str, ...]) -> list[str]:
    """steward_buckets' per-type columns: counts as INT, 0 without a part; the last days."""
    return [
        *(f"CAST(COALESCE(n_{t}, 0) AS INT) AS n_{t}" for t in types),
        *(f"last_{t}" for t in types),
    ]


def _window_sums(
    windows: dict[str, tuple[int, int]], edges: list[int], types: tuple[str, ...]
) -> list[str]:
    """steward_windowed's columns: each window's value as the sum of its bands' values."""
    aliases = _band_aliases(edges)

    def window_sum(column: str, window: str, alias: str) -> str:
        bands = _bands(edges, windows[window])
        terms = " + ".join(f"COALESCE({aliases[b]}.{column}, 0)" for b in bands)
        return f"{terms} AS {alias}"

    trend_series = list(dict.fromkeys(TRENDS.values()))
    return [
        *(window_sum(f"n_{t}", f"{w}d", f"n_{t}_{w}d") for t in types for w in COUNT_WINDOWS),
        *(window_sum("active_days", f"{w}d", f"active_days_{w}d") for w in ACTIVE_DAY_WINDOWS),
        window_sum("n_qualifying", "lookback", "n_qualifying_lookback"),
        *(window_sum(f"n_{s}", f"{TREND_DAYS}d", f"recent_{s}") for s in trend_series),
        *(window_sum(f"n_{s}", f"previous_{TREND_DAYS}d", f"previous_{s}") for s in trend_series),
        window_sum("points_redeemed", "90d", "points_redeemed_90d"),
    ]


def _days_since(day: str) -> str:
    """Whole days from day to as_of (MEASURED.md: the portable spelling of a date difference)."""
    return (
        f"CAST(EXTRACT(DAY FROM CAST(s.as_of AS TIMESTAMP) - CAST({day} AS TIMESTAMP)) AS BIGINT)"
    )


def _feature_expressions(config: FeatureConfig) -> dict[str, str]:
    """steward_features' expression for each feature, in feature_columns(config) order."""

    def count(column: str) -> str:
        return f"CAST(COALESCE({column}, 0) AS BIGINT)"

    def ratio(numerator: str, denominator: str) -> str:
        return f"CAST({numerator} AS DOUBLE) / NULLIF({denominator}, 0)"

    def trend(series: str) -> str:
        recent, previous = f"w.recent_{series}", f"w.previous_{series}"
        smoothed = [f"(CAST(COALESCE({c}, 0) AS DOUBLE) + 1)" for c in (recent, previous)]
        return " / ".join(smoothed)

    found: dict[str, str] = {
        **{f"n_{t}_{w}d": count(f"w.n_{t}_{w}d") for t in EVENT_TYPES for w in COUNT_WINDOWS},
        **{f"active_days_{w}d": count(f"w.active_days_{w}d") for w in ACTIVE_DAY_WINDOWS},
        "days_since_last_activity": _days_since("h.last_qualifying"),
        **{f"days_since_last_{t}": _days_since(f"h.last_{t}") for t in EVENT_TYPES},
        "tenure_days": _days_since("m.joined"),
        **{f"trend_{name}_{TREND_DAYS}d": trend(s) for name, s in TRENDS.items()},
        "distinct_members_interacted_30d": count("i.distinct_members_interacted_30d"),
        "replies_received_per_post_30d": ratio("w.n_reply_received_30d", "w.n_post_30d"),
        "likes_received_per_post_30d": ratio("w.n_like_received_30d", "w.n_post_30d"),
        "tickets_open_unresolved": count("t.tickets_open_unresolved"),
        "oldest_open_ticket_days": _days_since("t.oldest_opened"),
        "points_balance": (
            "CAST(COALESCE(h.points_earned, 0) - COALESCE(h.points_redeemed, 0) AS DOUBLE)"
        ),
        "points_redeemed_90d": "CAST(COALESCE(w.points_redeemed_90d, 0) AS DOUBLE)",
    }
    if config.member_age:
        # Days over 365.25 a year; a birth day after T (a typo in a profile) gives no age.
        age = f"CAST({_days_since('m.born')} AS DOUBLE) / 365.25"
        found[AGE_COLUMN] = f"CASE WHEN m.born <= s.as_of THEN {age} END"
    for t in config.custom_events:
        found.update({f"n_{t}_{w}d": count(f"w.n_{t}_{w}d") for w in COUNT_WINDOWS})
        found[f"days_since_last_{t}"] = _days_since(f"h.last_{t}")
    if list(found) != feature_columns(config):  # a feature added in one place only fails loudly
        raise RuntimeError("feature expressions and feature_columns() disagree")
    return found
