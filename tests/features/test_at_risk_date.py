"""Which date the at-risk table holds: what decides whether scoring a range replaces it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from features.scores.at_risk import at_risk_date
from tests.support.exports import hostile_table


def test_the_held_date_and_none_when_absent_or_damaged(tmp_path: Path) -> None:
    path = hostile_table(tmp_path)
    assert at_risk_date(path) == date(2026, 5, 1)
    assert at_risk_date(tmp_path / "elsewhere.parquet") is None
    path.write_bytes(b"PAR1 cut short")  # a damaged table: the next scoring may replace it
    assert at_risk_date(path) is None
