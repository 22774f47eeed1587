"""Defaults that fit the data: data end, label choice, history, thin dates, members who left."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features.lake.data_end import data_end_of
from features.lake.store import Lake
from features.members.eligibility import INACTIVE, NOT_SUBSCRIBED, can_still_leave, subscribed_on
from features.schemas import EVENTS, SUBSCRIPTIONS
from models.churn.config import ChurnConfig, ValidationSettings
from models.churn.dataset import load_churn_data, read_metadata
from models.churn.labels import choose_label
from tests.models.test_churn_dataset import START, features_folder


def ts(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def lake_with(tmp_path: Path, last_event: date, last_start: date | None) -> Lake:
    """A lake whose events end on last_event and whose subscriptions last start on last_start."""
    lake = Lake(tmp_path / "lake")
    events = [
        {"member_id": "a", "ts": ts(last_event - timedelta(days=40)), "event_type": "login"},
        {"member_id": "b", "ts": ts(last_event), "event_type": "post"},
    ]
    with lake.transaction("test", "fp") as txn:
        txn.write("events", pa.Table.from_pylist(events, schema=EVENTS.schema))
        if last_start is not None:
            subs = [
                {"member_id": "a", "start_at": ts(last_start - timedelta(days=30)), "end_at": None},
                {"member_id": "b", "start_at": ts(last_start), "end_at": ts(date(2031, 1, 1))},
            ]
            txn.write("subscriptions", pa.Table.from_pylist(subs, schema=SUBSCRIPTIONS.schema))
    return lake


def test_data_end_is_the_earliest_last_day_and_names_the_later_table(tmp_path: Path) -> None:
    lake = lake_with(tmp_path, date(2020, 6, 30), date(2020, 6, 1))
    found = data_end_of({t: lake.files(t) for t in ("events", "subscriptions")})
    # The subscriptions' scheduled end (2031) says nothing about when the export was taken.
    assert found.day == date(2020, 6, 1)
    assert found.last_days == {"events": date(2020, 6, 30), "subscriptions": date(2020, 6, 1)}
    assert "events (2020-06-30) end after 2020-06-01" in (found.warning() or "")
    assert "earliest of the tables' last days" in found.explain()


def test_data_end_without_subscriptions_is_the_last_event_day(tmp_path: Path) -> None:
    lake = lake_with(tmp_path, date(2020, 6, 30), None)
    found = data_end_of({t: lake.files(t) for t in ("events", "subscriptions")})
    assert found.day == date(2020, 6, 30) and found.warning() is None


def metadata_with(subscription: dict[str, int]) -> dict[str, object]:
    return {
        "label_counts": {
            "churned_activity": {"1": 5, "0": 50, "null": 0},
            "churned_subscription": subscription,
        }
    }


def test_auto_label_is_subscription_where_there_are_subscriptions() -> None:
    config, why = choose_label(ChurnConfig(), metadata_with({"1": 3, "0": 40, "null": 9}))
    assert config.label == "subscription" and config.label_column == "churned_subscription"
    assert why.startswith("subscription churn (label: auto): the lake has subscriptions")
    config, why = choose_label(ChurnConfig(), metadata_with({"1": 0, "0": 0, "null": 55}))
    assert config.label == "activity" and "no subscription labels" in why
    config, why = choose_label(ChurnConfig(label="activity"), metadata_with({"1": 3, "0": 4}))
    assert config.label == "activity" and "in the config" in why
    with pytest.raises(ValueError, match="choose_label"):
        _ = ChurnConfig().label_column


def test_embargo_zero_never_trains_on_the_validation_date(tmp_path: Path) -> None:
    dates = [START + timedelta(days=7 * k) for k in range(16)]
    folder = features_folder(tmp_path, dates, dates[-1])
    data = load_churn_data(folder, "churned_activity", embargo_days=0)
    assert data.valid_date not in data.train_dates
    assert set(data.train["as_of"]).isdisjoint(set(data.valid["as_of"]))
    # Every training label window (as_of, as_of + 30] closes by the validation date ...
    assert all(d + timedelta(days=30) <= data.valid_date for d in data.train_dates)
    # ... and every date whose window does close is used: the history, not one date.
    assert data.train_dates == [d for d in dates if d + timedelta(days=30) <= data.valid_date]
    later = load_churn_data(folder, "churned_activity", embargo_days=14)
    assert later.train_dates == [d for d in dates if d + timedelta(days=44) <= later.valid_date]


def test_a_thin_validation_date_names_the_date_counts_and_fix(tmp_path: Path) -> None:
    dates = [START + timedelta(days=7 * k) for k in range(12)]
    folder = features_folder(tmp_path, dates, dates[-1])  # 10 churners, 30 stayers per date
    strict = ValidationSettings(min_churners=11)
    with pytest.raises(ValueError) as caught:
        load_churn_data(folder, "churned_activity", minimums=strict)
    text = str(caught.value)
    valid = max(d for d in dates if d + timedelta(days=30) <= dates[-1])
    assert f"validation date {valid} has 10 churned_activity churners and 30 stayers" in text
    assert "--data-end" in text and "--every" in text and "longer history" in text
    ok = load_churn_data(folder, "churned_activity", minimums=ValidationSettings())
    assert int(ok.y_valid.sum()) == 10


def test_only_members_who_can_still_leave_are_scored() -> None:
    day = date(2020, 5, 10)
    subs = pa.Table.from_pylist(
        [
            {
                "member_id": "ended",
                "start_at": ts(date(2020, 3, 1)),
                "end_at": ts(date(2020, 5, 1)),
            },
            {"member_id": "open", "start_at": ts(date(2020, 3, 1)), "end_at": None},
            {"member_id": "renews", "start_at": ts(date(2020, 4, 20)), "end_at": ts(day)},
            {"member_id": "renews", "start_at": ts(day), "end_at": ts(date(2020, 6, 10))},
            {"member_id": "later", "start_at": ts(date(2020, 6, 1)), "end_at": None},
        ],
        schema=SUBSCRIPTIONS.schema,
    )
    assert subscribed_on(subs, day) == {"open", "renews"}
    frame = pd.DataFrame(
        {
            "member_id": ["ended", "open", "renews", "later"],
            "days_since_last_activity": [3.0, 40.0, np.nan, 29.0],
        }
    )
    keep, left_out = can_still_leave(frame, "subscription", 30, subscribed_on(subs, day))
    assert keep.tolist() == [False, True, True, False]
    assert left_out == {NOT_SUBSCRIBED: 2}
    keep, left_out = can_still_leave(frame, "activity", 30)
    # 40 days and never: past the 30-day horizon already; 29 days: can still come back.
    assert keep.tolist() == [True, False, False, True]
    assert left_out == {INACTIVE.format(horizon=30): 2}


def test_feature_metadata_feeds_the_label_choice(tmp_path: Path) -> None:
    dates = [START + timedelta(days=7 * k) for k in range(3)]
    folder = features_folder(tmp_path, dates, dates[-1])
    config, why = choose_label(ChurnConfig(), read_metadata(folder))
    assert config.label == "activity" and "no subscription labels" in why
