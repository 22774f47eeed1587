"""Hostile at-risk tables: member ids, reasons and attributes that start like spreadsheet formulas."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa

from features.scores.at_risk import AT_RISK_COLUMNS, write_at_risk

# Member ids and profile attributes come from the community: a member can choose them.
HOSTILE_IDS = ["=1+1", "@SUM(A1:A9)", "+cmd|' /C calc'!A0", "-2+3", "\t=1", " =HYPERLINK(x)"]
SAFE_IDS = ["m-1", "member 7"]


def hostile_table(home: Path) -> Path:
    """An at-risk table whose ids, reasons and attributes start like spreadsheet formulas."""
    ids = HOSTILE_IDS + SAFE_IDS
    n = len(ids)
    columns = {
        "member_id": pa.array(ids),
        "as_of": pa.array([date(2026, 5, 1)] * n, pa.date32()),
        "probability": pa.array([0.9 - i / 100 for i in range(n)]),
        "tier": pa.array(["high"] * n),
        "reasons": pa.array([['=WEBSERVICE("http://x")', "posts fell 80%"]] * n),
        "interventions": pa.array([["@reach out", "send a digest"]] * n),
        "intervention": pa.array(["@reach out"] * n),
        "drivers": pa.array([["posts_14d", "tickets_open"]] * n),
        "model_name": pa.array(["steward-churn"] * n),
        "model_version": pa.array(["3"] * n),
        "label": pa.array(["activity"] * n),
        "scored_at": pa.array([datetime(2026, 5, 2, tzinfo=UTC)] * n, pa.timestamp("us", tz="UTC")),
        "attributes": pa.array([json.dumps({"name": '=HYPERLINK("http://x")'})] * n),
    }
    table = pa.table({c: columns[c] for c in AT_RISK_COLUMNS})
    return write_at_risk(table, home / "scores" / "at_risk.parquet")
