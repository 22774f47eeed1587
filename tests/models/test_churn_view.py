"""The feature view (feature_view): the long-term columns, and auto's choice between views."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.members.definition import long_term_columns
from models.churn.config import ChurnConfig, LgbmParams, ValidationSettings
from models.churn.dataset import ChurnData
from models.churn.train import choose_view, fit_churn_model
from pipelines.cli.churn import training_lines

COLUMNS = [
    "n_post_7d", "n_post_30d", "n_post_90d", "active_days_30d", "active_days_90d",
    "days_since_last_post", "tenure_days", "trend_post_14d", "points_balance", "age_years",
]  # fmt: skip
CONFIG = ChurnConfig(model=LgbmParams(num_threads=1))


def test_long_term_columns_keep_each_family_at_its_longest_window() -> None:
    columns = [*COLUMNS, "n_x_refund_7d", "n_x_refund_90d", "days_since_last_x_refund"]
    assert long_term_columns(columns) == [
        "n_post_90d", "active_days_90d", "tenure_days", "points_balance", "age_years",
        "n_x_refund_90d",
    ]  # fmt: skip
    # A family known at one window only is kept at it; nothing long-term: nothing kept.
    assert long_term_columns(["n_login_30d", "n_login_7d", "tenure_days"]) == [
        "n_login_30d",
        "tenure_days",
    ]
    assert long_term_columns(["days_since_last_login", "trend_login_14d"]) == []


def _rows(rng: np.random.Generator, n: int, day: date, young: bool) -> pd.DataFrame:
    """Members whose churn follows their 90-day total. Young members (the training dates) have
    every window equal, as on the book's simulator where everyone joined lately; on the
    validation date the last 30 days are a random part of the 90."""
    total = rng.poisson(rng.gamma(2.0, 10.0, n)).astype(float)
    recent = total if young else rng.binomial(total.astype(int), rng.uniform(0.1, 0.9, n))
    frame = pd.DataFrame(
        {
            "member_id": [f"m{i}" for i in range(n)],
            "as_of": day,
            "n_post_7d": np.floor(recent / 4),
            "n_post_30d": recent,
            "n_post_90d": total,
            "active_days_30d": np.minimum(recent, 30),
            "active_days_90d": np.minimum(total, 90),
            "days_since_last_post": rng.integers(0, 30, n).astype(float),
            "tenure_days": rng.integers(20, 60, n).astype(float),
            "trend_post_14d": rng.uniform(0.5, 2.0, n),
            "points_balance": rng.integers(0, 100, n).astype(float),
            "age_years": rng.uniform(18, 70, n),
        }
    )
    risk = 1 / (1 + np.exp(0.25 * total - 3.0))
    return frame.assign(churned_subscription=(rng.uniform(size=n) < risk).astype(int))


@pytest.fixture(scope="module")
def totals() -> ChurnData:
    rng = np.random.default_rng(3)
    train = _rows(rng, 6000, date(2020, 2, 1), young=True)
    valid = _rows(rng, 3000, date(2020, 3, 6), young=False)
    return ChurnData(
        train, valid, "churned_subscription", COLUMNS, [date(2020, 2, 1)], date(2020, 3, 6)
    )


def test_auto_picks_the_long_term_view_where_totals_decide(totals: ChurnData) -> None:
    fitted = fit_churn_model(CONFIG, totals)
    view = fitted.view
    assert view is not None and view.name == "long_term"
    aucs = view.valid_roc_auc
    # Measured 0.902 against 0.865 with every column (the recent windows equal the totals in
    # training, so the trees split on either and the 30-day splits mislead on validation).
    assert aucs["long_term"] > aucs["all"] + 0.01
    assert fitted.scorer.feature_columns == long_term_columns(COLUMNS)
    assert fitted.metrics["roc_auc"] == pytest.approx(aucs["long_term"])
    # The reasons and importance are the chosen model's own columns.
    assert set(fitted.importance["feature"]) == set(long_term_columns(COLUMNS))
    # Reasons from the view alone (its 90-day active days without the 30-day window; they
    # failed with a KeyError before): every member here joined 20-60 days ago.
    scored = fitted.scorer.score(totals.valid.head(400))
    texts = [r for found in scored["reasons"] for r in found if r]
    active = [r for r in texts if r.startswith("active on only ")]
    assert active and all("days since joining" in r for r in active)
    assert not any("of the last 90 days" in r for r in texts)


def test_auto_keeps_every_column_where_recent_windows_carry_the_signal(
    totals: ChurnData,
) -> None:
    # The same members, churn now following the last 7 days: the long-term view cannot see it.
    def recent(part: pd.DataFrame, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        risk = 1 / (1 + np.exp(part["n_post_7d"] - 1.5))
        return part.assign(churned_subscription=(rng.uniform(size=len(part)) < risk).astype(int))

    data = ChurnData(
        recent(totals.train.assign(n_post_7d=np.random.default_rng(5).poisson(1.5, 6000)), 1),
        recent(totals.valid.assign(n_post_7d=np.random.default_rng(6).poisson(1.5, 3000)), 2),
        totals.label,
        COLUMNS,
        totals.train_dates,
        totals.valid_date,
    )
    _, view, _ = choose_view(CONFIG, data)
    assert view.name == "all"
    assert view.valid_roc_auc["all"] > view.valid_roc_auc["long_term"]
    assert "with every column" in view.reason


def test_few_validation_churners_keep_every_column_and_say_why(totals: ChurnData) -> None:
    churners = int(totals.y_valid.sum())
    config = CONFIG.model_copy(
        update={"validation": ValidationSettings(view_min_churners=churners + 1)}
    )
    narrowed, view, estimator = choose_view(config, totals)
    assert (view.name, estimator, narrowed.feature_columns) == ("all", None, COLUMNS)
    assert f"{churners} churners on the validation date" in view.reason
    assert "validation.view_min_churners" in view.reason


def test_a_fixed_view_is_honoured_without_comparing(totals: ChurnData) -> None:
    for name, columns in (("all", COLUMNS), ("long_term", long_term_columns(COLUMNS))):
        narrowed, view, estimator = choose_view(
            CONFIG.model_copy(update={"feature_view": name}), totals
        )
        assert (view.name, view.valid_roc_auc, estimator) == (name, {}, None)
        assert view.reason == f"feature_view: {name}"
        assert narrowed.feature_columns == columns
    only_recent = ChurnData(
        totals.train, totals.valid, totals.label, ["days_since_last_post"], [], totals.valid_date
    )
    with pytest.raises(ValueError, match="no long-term column"):
        choose_view(CONFIG.model_copy(update={"feature_view": "long_term"}), only_recent)


def test_train_output_names_the_view_and_the_way_back() -> None:
    found = {
        "train_dates": ["2020-02-01"],
        "train_rows": 10,
        "train_positives": 2,
        "valid_date": "2020-03-06",
        "valid_rows": 5,
        "valid_positives": 1,
        "feature_view": {
            "name": "long_term",
            "columns": 5,
            "of": 10,
            "valid_roc_auc": {"all": 0.7, "long_term": 0.75},
            "reason": "feature_view: auto: validation ROC-AUC 0.750 with the long-term view "
            "against 0.700 with every column",
        },
    }
    line = next(x for x in training_lines(found) if x.startswith("features:"))
    assert "the long-term view (5 of 10 columns" in line
    assert "0.750 with the long-term view against 0.700" in line
    assert "--set feature_view=all" in line
