"""Which rows train and validate: complete label windows only, out of time, clear errors."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from features.members.definition import DEFAULT_CONFIG, output_schema
from features.members.store import write_features
from models.churn.dataset import complete_dates, load_churn_data, load_scoring_rows

START = date(2026, 1, 5)


def features_folder(tmp_path: Path, dates: list[date], data_end: date) -> Path:
    """A feature build with 40 members per date; every 4th churns, the rest stay."""
    rows = []
    for day in dates:
        for m in range(40):
            rows.append(
                {
                    "member_id": f"m{m}",
                    "as_of": day,
                    "n_login_7d": m,
                    "churned_activity": int(m % 4 == 0),
                }
            )
    schema = output_schema()
    table = pa.Table.from_pylist(rows, schema=schema)
    config = DEFAULT_CONFIG.__class__(data_end=data_end)
    return write_features(table, tmp_path / "features", config, dates, "snap")


def test_partially_labelled_dates_are_left_out(tmp_path: Path) -> None:
    dates = [START + timedelta(days=14 * k) for k in range(8)]
    data_end = dates[-1]
    folder = features_folder(tmp_path, dates, data_end)
    metadata = json.loads((folder / "_features.json").read_text())
    complete = complete_dates(metadata)
    assert complete == [d for d in dates if d + timedelta(days=30) <= data_end]
    data = load_churn_data(folder, "churned_activity")
    # Rows at later dates carry labels here, but their 30-day window is not closed: unused.
    assert data.valid_date == complete[-1]
    assert all(d + timedelta(days=30) <= data.valid_date for d in data.train_dates)
    assert data.train_dates == [d for d in complete if d + timedelta(days=30) <= complete[-1]]


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="steward features build"):
        load_churn_data(tmp_path / "none", "churned_activity")
    short = features_folder(tmp_path, [START, START + timedelta(days=14)], START + timedelta(45))
    with pytest.raises(ValueError, match="no churned_activity training dates"):
        load_churn_data(short, "churned_activity")
    with pytest.raises(ValueError, match="no features as of 2030-01-01"):
        load_scoring_rows(short, date(2030, 1, 1))
    frame, day = load_scoring_rows(short)
    assert day == START + timedelta(days=14) and len(frame) == 40
