"""Hand-built event timelines around a fixed day T, and the feature rows built from them.

T, day and ev write events; timeline_lake writes them to a lake; connect registers them as the canonical tables of a DuckDB
connection; build runs both feature engines on it and checks that they agree; histories draws
random timelines for property tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from hypothesis import strategies as st

from features.lake.store import Lake
from features.members import build as mf
from features.members.definition import FeatureConfig
from features.schemas import EVENTS, MEMBERS, SUBSCRIPTIONS

T = date(2024, 6, 1)


def day(offset: int) -> date:
    """The day offset days after T (negative: before)."""
    return T + timedelta(days=offset)


def ev(
    member: str,
    when: date | datetime,
    event_type: str,
    value: float | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    """One canonical event row; a bare date means noon UTC that day."""
    ts = when if isinstance(when, datetime) else datetime.combine(when, time(12), UTC)
    return {
        "member_id": member,
        "ts": ts,
        "event_type": event_type,
        "value": value,
        "target_id": target,
    }


def connect(
    events: Iterable[dict[str, Any]],
    members: Iterable[tuple[str, date]] = (),
    subscriptions: Iterable[tuple[str, date, date | None]] = (),
    attributes: dict[str, str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A connection with the canonical tables registered from rows (timestamps keep their zone);
    attributes: a members row's attributes JSON by member_id."""

    def noon(d: date | None) -> datetime | None:
        return None if d is None else datetime.combine(d, time(12), UTC)

    con = duckdb.connect()
    tables = {
        "events": pa.Table.from_pylist(list(events), schema=EVENTS.schema),
        "members": pa.Table.from_pylist(
            [
                {"member_id": m, "joined_at": noon(j), "attributes": (attributes or {}).get(m)}
                for m, j in members
            ],
            schema=MEMBERS.schema,
        ),
        "subscriptions": pa.Table.from_pylist(
            [{"member_id": m, "start_at": noon(s), "end_at": noon(e)} for m, s, e in subscriptions],
            schema=SUBSCRIPTIONS.schema,
        ),
    }
    for name, table in tables.items():
        con.register(name, table)
    return con


def timeline_lake(root: Path, events: list[dict[str, Any]], joined: dict[str, date]) -> Lake:
    """A lake at root holding these events and members joined (at midnight UTC) on these days."""
    lake = Lake(root)
    members = [
        {"member_id": m, "joined_at": datetime.combine(d, time(0), UTC)} for m, d in joined.items()
    ]
    with lake.transaction("test", "fp1") as txn:
        txn.write("events", pa.Table.from_pylist(events, schema=EVENTS.schema))
        txn.write("members", pa.Table.from_pylist(members, schema=MEMBERS.schema))
    return lake


def build(
    con: duckdb.DuckDBPyConnection, as_of: Sequence[date], **config: Any
) -> dict[tuple[str, date], dict[str, Any]]:
    """Rows of build_features keyed by (member_id, as_of), from both engines, which must agree:
    every test written against these rows checks the arrays engine and the SQL alike."""
    table = mf.build_features(con, as_of, FeatureConfig(**config), engine="arrays")
    assert_same_table(table, mf.build_features(con, as_of, FeatureConfig(**config), engine="sql"))
    return {(r["member_id"], r["as_of"]): r for r in table.to_pylist()}


def assert_same_table(got: pa.Table, want: pa.Table) -> None:
    """Same schema, rows in the same order, same values (doubles to 12 significant digits:
    the engines add points in different orders)."""
    assert got.schema == want.schema
    assert got.num_rows == want.num_rows
    for name in want.schema.names:
        mine, theirs = got[name].to_pylist(), want[name].to_pylist()
        if pa.types.is_floating(want.schema.field(name).type):
            differ = [
                i
                for i, (a, b) in enumerate(zip(mine, theirs, strict=True))
                if (a is None) != (b is None)
                or (a is not None and not math.isclose(a, b, rel_tol=1e-12))
            ]
            assert not differ, (name, [(mine[i], theirs[i]) for i in differ[:5]])
        else:
            assert mine == theirs, name


TYPES = (
    *("login", "post", "comment", "reply_received", "like_given", "like_received"),
    *("ticket_opened", "ticket_resolved", "points_earned", "points_redeemed", "badge_earned"),
)


@st.composite
def histories(draw: st.DrawFn, days: int = 120) -> list[dict[str, Any]]:
    """Random events of a few members over a few months, a few targets each."""
    start = T - timedelta(days=days)
    n = draw(st.integers(1, 40))
    return [
        ev(
            draw(st.sampled_from("abc")),
            datetime.combine(start, time(0), UTC)
            + timedelta(days=draw(st.integers(0, days + 40)), minutes=draw(st.integers(0, 1439))),
            draw(st.sampled_from(TYPES)),
            value=draw(st.sampled_from([None, 5.0, 12.5])),
            target=draw(st.sampled_from([None, "x", "y", "k1"])),
        )
        for _ in range(n)
    ]
