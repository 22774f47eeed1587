"""A member's feature row from events sent in a request, through features/' own SQL.

The request's events become in-memory tables named like the lake's views, so
`build_features` (the batch pipeline's function) computes the row: no feature logic here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from features.schemas import EVENT_TYPES, TABLES, is_custom_event

if TYPE_CHECKING:
    from serving.schemas.members import EventIn, SubscriptionIn


def _utc_naive(ts: datetime) -> datetime:
    """UTC wall time without a zone: what the lake's views hand the feature SQL."""
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


def unknown_event_types(events: Sequence[EventIn]) -> list[str]:
    """Event types steward does not know (the ingest would quarantine them): neither its own
    nor custom (x_...)."""
    known = set(EVENT_TYPES)
    return sorted(t for t in {e.event_type for e in events} - known if not is_custom_event(t))


def _tables(
    member_id: str,
    events: Sequence[EventIn],
    joined_at: datetime | None,
    subscriptions: Sequence[SubscriptionIn],
    born: date | None = None,
) -> dict[str, pa.Table]:
    """events, members and subscriptions tables in the canonical columns (naive UTC times)."""
    plain = pa.timestamp("us")

    def schema(name: str) -> pa.Schema:
        return pa.schema(
            [
                pa.field(f.name, plain if pa.types.is_timestamp(f.type) else f.type)
                for f in TABLES[name].schema
            ]
        )

    first = min(e.ts for e in events)
    return {
        "events": pa.Table.from_pylist(
            [
                {
                    "member_id": member_id,
                    "ts": _utc_naive(e.ts),
                    "event_type": e.event_type,
                    "value": e.value,
                    "target_id": e.target_id,
                }
                for e in events
            ],
            schema("events"),
        ),
        "members": pa.Table.from_pylist(
            [
                {
                    "member_id": member_id,
                    "joined_at": _utc_naive(joined_at or first),
                    "attributes": (
                        None if born is None else json.dumps({"date_of_birth": born.isoformat()})
                    ),
                }
            ],
            schema("members"),
        ),
        "subscriptions": pa.Table.from_pylist(
            [
                {
                    "member_id": member_id,
                    "start_at": _utc_naive(s.start_at),
                    "end_at": _utc_naive(s.end_at) if s.end_at else None,
                    "product": s.product,
                    "mrr": s.mrr,
                }
                for s in subscriptions
            ],
            schema("subscriptions"),
        ),
    }


def features_from_events(
    member_id: str,
    events: Sequence[EventIn],
    as_of: date | None,
    joined_at: datetime | None = None,
    subscriptions: Sequence[SubscriptionIn] = (),
    columns: Sequence[str] = (),
    date_of_birth: date | None = None,
) -> tuple[pd.DataFrame, date]:
    """The member's feature row at as_of (default: the last event's UTC day); empty when the
    member is not active (nor subscribed) at as_of, as in the batch build.

    columns: the model's; a custom event type it knows that these events lack gets the
    values of a member without such events (the batch build's, where other members had some);
    an age it knows, without a date_of_birth, is unknown.
    """
    import duckdb

    from features.members.build import build_features
    from features.members.definition import FeatureConfig, absent_value

    day = as_of or max(_utc_naive(e.ts) for e in events).date()
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        tables = _tables(member_id, events, joined_at, subscriptions, date_of_birth)
        for name, table in tables.items():
            con.register(f"steward_request_{name}", table)
            con.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM steward_request_{name}")
        # data_end = as_of: labels are unknown (NULL) and play no part in scoring.
        built = build_features(con, [day], FeatureConfig(data_end=day))
    finally:
        con.close()
    frame = built.to_pandas()
    for column in columns:
        if column not in frame.columns and not frame.empty:
            frame[column] = absent_value(column)
    return frame, day
