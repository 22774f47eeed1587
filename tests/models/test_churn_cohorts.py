"""Behavioural cohorts: quantile groups of one feature with their churn rates (the book's
chapter 5), by hand and on the test simulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.churn.cohorts import (
    cohort_codes,
    cohort_lines,
    cohort_range,
    cohort_report,
    cohorts,
    extremes,
)
from models.churn.dataset import complete_dates, load_churn_data, read_metadata
from tests.support.lakes import churn_lake

NAN = float("nan")


def test_equal_values_share_a_cohort_and_missing_values_have_their_own() -> None:
    values = np.array([0.0] * 50 + list(range(1, 51)) + [NAN] * 5)
    codes = cohort_codes(values)
    assert len(set(codes[:50])) == 1  # half the rows are 0: one cohort, not five
    assert (codes[-5:] == -1).all()
    known = codes[:-5]
    assert (np.diff(known) >= 0).all()  # numbered in value order
    assert sorted(set(known)) == list(range(known.max() + 1))  # no gaps
    assert 5 <= known.max() + 1 <= 10


def test_cohorts_by_hand_reconcile_with_the_rows() -> None:
    values = np.array([0, 0, 0, 5, 5, 9, NAN])
    y = np.array([1, 0, 0, 0, 1, 0, 1])
    found = cohorts(values, y, np.arange(7), groups=3)
    # Tertile edges of the known values are 0 and 5: the zeros, then 5 and 9 together.
    assert [(c.low, c.high, c.rows, c.churners) for c in found] == [
        (0, 0, 3, 1),
        (5, 9, 3, 1),
        (None, None, 1, 1),  # missing: last
    ]
    assert found[0].rate == pytest.approx(1 / 3)
    assert sum(c.rows for c in found) == len(values)
    assert sum(c.churners for c in found) == y.sum()
    for c in found:
        assert c.rate_low <= c.rate <= c.rate_high


def test_a_cohort_no_resample_draws_gets_the_widest_interval() -> None:
    found = cohorts(np.array([0.0, 1.0]), np.array([1.0, 0.0]), np.array(["a", "b"]), resamples=0)
    assert [(c.rate, c.rate_low, c.rate_high) for c in found] == [(1.0, 0.0, 1.0), (0.0, 0.0, 1.0)]


def test_intervals_resample_members_not_rows() -> None:
    """The same rows as 200 members or as 20 members seen 10 times: the second has about
    sqrt(10) times less information, and its interval must say so."""
    rng = np.random.default_rng(4)
    y_members = (rng.random(20) < 0.3).astype(float)
    y = np.repeat(y_members, 10)
    values = np.zeros(200)
    alone = cohorts(values, y, np.arange(200))[0]
    repeated = cohorts(values, y, np.repeat(np.arange(20), 10))[0]
    assert alone.rate == repeated.rate
    width = (alone.rate_high - alone.rate_low, repeated.rate_high - repeated.rate_low)
    assert width[1] > 2 * width[0]


def test_ranges_and_lines_read_as_the_reasons_do() -> None:
    days = {"low": None, "high": None}
    assert cohort_range("days_since_last_post", days) == "never"
    assert cohort_range("n_login_30d", {"low": 3.0, "high": 7.0}) == "3-7"
    assert cohort_range("n_login_30d", {"low": 0.0, "high": 0.0}) == "0"
    report = {
        "churn_rate": 0.05,
        "features": {
            "n_login_30d": [
                {"low": 0.0, "high": 0.0, "rows": 100, "rate": 0.2, "rate_low": 0.1,
                 "rate_high": 0.3},
                {"low": 1.0, "high": 9.0, "rows": 900, "rate": 0.03, "rate_low": 0.02,
                 "rate_high": 0.04},
            ]
        },
    }  # fmt: skip
    assert cohort_lines(report) == [
        "cohorts by n_login_30d: 20.0% (10.0%-30.0%, 100 rows) of members at 0 churned, "
        "3.0% (2.0%-4.0%, 900 rows) at 1-9; all members 5.0%"
    ]
    never = {"low": None, "high": None, "rows": 50, "rate": 0.4, "rate_low": 0.3, "rate_high": 0.5}
    report["features"] = {"days_since_last_post": [never, *report["features"]["n_login_30d"]]}
    assert (
        "40.0% (30.0%-50.0%, 50 rows) of members with it missing (never) churned"
        in (cohort_lines(report)[0])
    )


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The test simulator's labelled rows: every date up to the third last, and the later two."""
    folder = churn_lake(tmp_path_factory.mktemp("cohort-sim"))[1]
    dates = complete_dates(read_metadata(folder))
    data = load_churn_data(folder, "churned_activity", valid_date=dates[-3])
    assert data.refit is not None
    later = load_churn_data(folder, "churned_activity", valid_date=dates[-1]).refit
    assert later is not None
    return data.refit, later[later["as_of"] > dates[-3]]


def test_cohorts_on_the_simulator_separate_and_hold_on_later_dates(
    simulated: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """Active days over 30 days: the least active cohort churns far more than the most active,
    and on the two later dates (not in the report) the same value ranges keep that order.
    Measured: 1-3 days 48% of rows churned, 23-30 days 5% (all 19%); on the later dates 53% and
    3.5% (all 22%). Thresholds: a factor 2 either side of all members."""
    rows, later = simulated
    report = cohort_report(rows, "churned_activity", ["active_days_30d", "tenure_days"])
    assert report["rows"] == len(rows) and report["members"] == rows["member_id"].nunique()
    groups = report["features"]["active_days_30d"]
    assert sum(c["rows"] for c in groups) == len(rows)
    assert sum(c["churners"] for c in groups) == rows["churned_activity"].sum()
    worst, best = extremes(groups)
    assert worst["rate_low"] > best["rate_high"]  # separated beyond their intervals
    assert worst["rate"] > 2 * report["churn_rate"] > 4 * best["rate"]
    assert worst["low"] == 1 and best["high"] == 30  # the least active, the most active
    value = later["active_days_30d"].to_numpy(np.float64)
    y = later["churned_activity"].to_numpy(np.float64)
    then = {}
    for name, c in (("worst", worst), ("best", best)):
        chosen = (value >= c["low"]) & (value <= c["high"])
        assert chosen.sum() > 30
        then[name] = y[chosen].mean()
    assert then["worst"] > 2 * y.mean() > 4 * then["best"]


def test_rows_without_a_label_are_left_out() -> None:
    """A row whose window is still open has no label: it belongs to no cohort's rate."""
    frame = pd.DataFrame({"member_id": ["a", "b", "c"], "y": [1.0, NAN, 0.0], "f": [1.0, 2.0, 1.0]})
    report = cohort_report(frame, "y", ["f"])
    assert report["rows"] == 2 and report["members"] == 2
    assert [(c["low"], c["rows"], c["churners"]) for c in report["features"]["f"]] == [(1.0, 2, 1)]
