"""Churn models on simulator data: quality bars, leakage guards and reasons (no MLflow here)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.lake.store import Lake
from features.members.build import build_member_features
from features.members.definition import FEATURE_COLUMNS
from features.members.store import read_features
from models.churn.config import ChurnConfig, LgbmParams, LogregParams
from models.churn.dataset import ChurnData, feature_matrix, load_churn_data
from models.churn.metrics import roc_auc
from models.churn.train import FittedChurn, fit_churn_model
from models.churn.wording import format_value
from tests.support.lakes import churn_lake
from tests.support.leakage import cut_lake, peeking_features


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Path]:
    return churn_lake(tmp_path_factory.mktemp("churn-sim"))


@pytest.fixture(scope="module")
def data(sim: tuple[Lake, Path]) -> ChurnData:
    return load_churn_data(sim[1], "churned_activity")


@pytest.fixture(scope="module")
def lgbm(data: ChurnData) -> FittedChurn:
    # One thread: two OpenMP threads collapse when the other core is busy (same result).
    return fit_churn_model(ChurnConfig(model=LgbmParams(num_threads=1)), data)


@pytest.fixture(scope="module")
def logreg(data: ChurnData) -> FittedChurn:
    return fit_churn_model(ChurnConfig(model=LogregParams()), data)


def test_split_is_out_of_time_with_an_embargo(data: ChurnData) -> None:
    assert set(data.valid["as_of"]) == {data.valid_date}
    # No training label window (as_of, as_of + 30 days] reaches past the validation date.
    assert max(data.train_dates) + timedelta(days=30) <= data.valid_date
    assert set(data.train["as_of"]) == set(data.train_dates)


def test_lightgbm_beats_the_floor_and_is_not_worse_than_the_baseline(
    lgbm: FittedChurn, logreg: FittedChurn
) -> None:
    # Measured (3,000 members x 150 days, seed 7): LightGBM 0.946, logistic 0.944.
    assert lgbm.metrics["roc_auc"] >= logreg.metrics["roc_auc"] - 0.01
    assert lgbm.metrics["roc_auc"] > 0.92
    assert logreg.metrics["roc_auc"] > 0.91
    # Measured top-decile lift 4.7-4.8 on a churn rate near 20% (the ceiling is about 5).
    assert lgbm.metrics["lift_top_decile"] > 4.0


def test_probabilities_are_calibrated(lgbm: FittedChurn, logreg: FittedChurn) -> None:
    # Cross-fitted on the validation date. Measured ECE 0.009 (LightGBM) and 0.010 (logistic),
    # Brier 0.059 and 0.061.
    for fitted in (lgbm, logreg):
        assert fitted.metrics["ece"] < 0.03
        assert fitted.metrics["brier"] < 0.08
        assert fitted.metrics["brier"] <= fitted.metrics["brier_uncalibrated"] + 0.002


def test_shuffled_labels_give_chance_auc(data: ChurnData) -> None:
    rng = np.random.default_rng(0)
    shuffled = {}
    for name, part in (("train", data.train), ("valid", data.valid)):
        shuffled[name] = part.assign(churned_activity=rng.permutation(part["churned_activity"]))
    noise = replace(data, train=shuffled["train"], valid=shuffled["valid"])
    fitted = fit_churn_model(ChurnConfig(model=LgbmParams(num_threads=1)), noise)
    # About 1,700 validation rows: chance AUC has a standard error near 0.017.
    assert abs(fitted.metrics["roc_auc"] - 0.5) < 0.06


def test_a_feature_that_peeks_past_t_is_caught(
    sim: tuple[Lake, Path], data: ChurnData, tmp_path: Path
) -> None:
    lake, features = sim
    t = data.valid_date
    cut = cut_lake(lake, t, tmp_path / "cut")
    build_member_features(cut, tmp_path / "replay", as_of=[t])
    seen = read_features(features, [t]).to_pandas()
    knowable = read_features(tmp_path / "replay", [t]).to_pandas()
    assert peeking_features(seen, knowable, FEATURE_COLUMNS) == []

    # A feature that counts the member's posts in the 30 days after T (the label's window).
    def posts_after(source: Lake) -> pd.Series:
        events = source.read("events").to_pandas()
        day = events["ts"].dt.tz_convert("UTC").dt.date
        later = events[(events["event_type"] == "post") & (day > t) & (day <= t + timedelta(30))]
        return later.groupby("member_id").size()

    leaky = {
        name: frame.assign(n_post_next_30d=frame["member_id"].map(posts_after(src)).fillna(0))
        for name, frame, src in (("seen", seen, lake), ("knowable", knowable, cut))
    }
    columns = [*FEATURE_COLUMNS, "n_post_next_30d"]
    assert peeking_features(leaky["seen"], leaky["knowable"], columns) == ["n_post_next_30d"]


def test_contributions_add_up_to_the_raw_score(
    lgbm: FittedChurn, logreg: FittedChurn, data: ChurnData
) -> None:
    x = feature_matrix(data.valid, data.feature_columns)
    for fitted in (lgbm, logreg):
        contrib, base = fitted.scorer.estimator.contributions(x)
        raw = fitted.scorer.estimator.raw_score(x)
        np.testing.assert_allclose(contrib.sum(axis=1) + base, raw, atol=1e-6)


@pytest.fixture(scope="module")
def scored(lgbm: FittedChurn, logreg: FittedChurn, data: ChurnData) -> list[pd.DataFrame]:
    return [fitted.scorer.score(data.valid) for fitted in (lgbm, logreg)]


def test_every_reason_carries_the_members_own_value(
    scored: list[pd.DataFrame], data: ChurnData
) -> None:
    checked = 0
    for out in scored:
        for i, reasons, drivers in zip(out.index, out["reasons"], out["drivers"], strict=True):
            assert len(reasons) == len(drivers) <= 3
            for text, feature in zip(reasons, drivers, strict=True):
                value = data.valid.at[i, feature]
                # Zero days since reads "today" ("last report today"), not "0 days ago".
                today = feature.startswith("days_since_") and value == 0
                shown = "today" if today else format_value(feature, value)
                assert shown in text, (text, feature)
                checked += 1
    assert checked > len(data.valid)  # most members get several reasons


def test_no_reason_reads_as_loyalty(scored: list[pd.DataFrame]) -> None:
    # A rising trend or many active days is a reason to stay, whatever the trees gave it.
    import re

    texts = [t for out in scored for reasons in out["reasons"] for t in reasons]
    assert texts
    assert not [t for t in texts if " went from " in t]
    busy = [
        t
        for t in texts
        if (found := re.fullmatch(r"active on only (\d+) of the last 30 days", t))
        and int(found[1]) >= 8
    ]
    assert busy == []
    assert not [t for t in texts if "never days" in t or (t.startswith("never ") and "in the" in t)]


def test_no_ticket_reason_without_an_unresolved_ticket(
    scored: list[pd.DataFrame], data: ChurnData
) -> None:
    none_open = data.valid["tickets_open_unresolved"] == 0
    some_open = ~none_open
    assert none_open.any() and some_open.any()
    for out in scored:
        texts = out.loc[none_open, "reasons"].map(" | ".join)
        assert not texts.str.contains("ticket").any()
        # The reason does show up where tickets are open (so the check above can fail).
        assert out.loc[some_open, "reasons"].map(" | ".join).str.contains("unresolved").any()


def test_reasons_only_push_risk_up(lgbm: FittedChurn, data: ChurnData) -> None:
    safest = data.valid.iloc[[int(np.argmin(lgbm.valid_raw))]]
    out = lgbm.scorer.score(safest)
    assert out["tier"].iloc[0] == "low"
    contrib, _ = lgbm.scorer.estimator.contributions(feature_matrix(safest, data.feature_columns))
    if (contrib <= 0).all():
        assert out["reasons"].iloc[0] == []


def test_tiers_follow_the_configured_thresholds(
    scored: list[pd.DataFrame], lgbm: FittedChurn
) -> None:
    # A fifth of the simulator's members churn (measured 19.9%): four and two times that are
    # above 0.5 and 0.25, so those are the thresholds.
    assert lgbm.metrics["tier_churn_rate"] > 0.125
    assert (lgbm.scorer.tiers.high, lgbm.scorer.tiers.medium) == (0.5, 0.25)
    out = scored[0]
    assert (out.loc[out["tier"] == "high", "probability"] >= 0.5).all()
    medium = out.loc[out["tier"] == "medium", "probability"]
    assert ((medium >= 0.25) & (medium < 0.5)).all()
    assert (out.loc[out["tier"] == "low", "probability"] < 0.25).all()


def test_calibrated_probability_keeps_the_ranking(lgbm: FittedChurn, data: ChurnData) -> None:
    probability = lgbm.scorer.probability(data.valid)
    assert roc_auc(data.y_valid, probability) == pytest.approx(lgbm.metrics["roc_auc"], abs=0.01)


def test_pattern_tables_give_lightgbms_pred_contrib(lgbm: FittedChurn, data: ChurnData) -> None:
    from models.churn.estimators import LgbmEstimator

    estimator = lgbm.scorer.estimator
    assert isinstance(estimator, LgbmEstimator)
    x = feature_matrix(data.valid, data.feature_columns)
    # NULLs where training had none too: LightGBM then reads them as 0 ("None" missing type).
    holes = np.random.default_rng(1).random(x.shape) < 0.05
    for rows in (x, np.where(holes, np.nan, x)):
        ours, base = estimator.contributions(rows)
        theirs, their_base = estimator.lightgbm_contributions(rows)
        np.testing.assert_allclose(ours, theirs, atol=1e-9)
        np.testing.assert_allclose(base, their_base, atol=1e-9)


def test_big_trees_fall_back_to_lightgbm(data: ChurnData) -> None:
    from models.churn import treeshap
    from models.churn.estimators import fit_lgbm

    x = feature_matrix(data.train, data.feature_columns)
    # Big trees: the defaults' leaf minimum and L2 (made for rare churn) would keep them small.
    params = LgbmParams(
        n_estimators=5,
        num_leaves=31,
        max_depth=6,
        min_child_samples=5,
        lambda_l2=1.0,
        num_threads=1,
    )
    big = fit_lgbm(x, data.y_train, data.feature_columns, params, 7)
    assert treeshap.build_tables(big.booster.dump_model()) is None
    contrib, base = big.contributions(x[:50])
    np.testing.assert_allclose(contrib.sum(axis=1) + base, big.raw_score(x[:50]), atol=1e-9)
