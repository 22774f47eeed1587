"""Fit one churn model end to end, without MLflow: estimator, calibration, metrics, scorer.

What the metrics mean (all on the validation date, which training never saw):
- roc_auc, pr_auc, lift_top_decile: ranking quality of the raw (uncalibrated) score;
- brier, ece: calibration of cross-fitted probabilities (each validation fold calibrated by a
  calibrator fitted on the other folds), i.e. what the deployed procedure achieves on rows its
  calibrator did not see. brier_uncalibrated / ece_uncalibrated: the raw sigmoid, for contrast.
- roc_auc_ci_low/high, lift_ci_low/high: 95% bootstrap intervals of the raw score's ROC-AUC
  and top-decile lift over the validation rows (a model whose AUC interval includes 0.5 is
  never made champion);
- valid_roc_auc: AUC of the deployed model's probabilities (calibrator fitted on all validation
  rows): the like-for-like number the champion is compared on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.churn.calibration import CalibrationChoice, choose_calibrator, sigmoid
from models.churn.config import ChurnConfig
from models.churn.dataset import ChurnData, feature_matrix
from models.churn.estimators import fit_estimator
from models.churn.metrics import (
    bootstrap_intervals,
    calibration_metrics,
    ranking_metrics,
    roc_auc,
)
from models.churn.reasons import load_interventions
from models.churn.scorer import ChurnScorer


@dataclass(frozen=True)
class FittedChurn:
    """A fitted scorer plus what its run logs."""

    scorer: ChurnScorer
    metrics: dict[str, float]
    calibration: CalibrationChoice
    valid_raw: np.ndarray
    valid_contributions: np.ndarray
    importance: pd.DataFrame
    fit_seconds: float


def fit_churn_model(config: ChurnConfig, data: ChurnData) -> FittedChurn:
    """Train on the training dates, calibrate and evaluate on the validation date."""
    started = time.perf_counter()
    x_train = feature_matrix(data.train, data.feature_columns)
    estimator = fit_estimator(
        x_train, data.y_train, data.feature_columns, config.model, config.seed
    )
    fit_seconds = time.perf_counter() - started
    x_valid = feature_matrix(data.valid, data.feature_columns)
    raw = estimator.raw_score(x_valid)
    y = data.y_valid
    settings = config.validation
    choice = choose_calibrator(
        raw, y, list(settings.calibration_methods), settings.calibration_folds, config.seed
    )
    scorer = ChurnScorer(
        estimator=estimator,
        calibrator=choice.calibrator,
        feature_columns=list(data.feature_columns),
        tiers=config.tiers,
        interventions=load_interventions(config.reasons.interventions),
        top_k=config.reasons.top_k,
        label=config.label,
    )
    uncalibrated = calibration_metrics(y, sigmoid(raw))
    metrics = {
        **ranking_metrics(y, raw),
        **bootstrap_intervals(y, raw, settings.bootstrap, config.seed),
        **calibration_metrics(y, choice.out_of_fold),
        "brier_uncalibrated": uncalibrated["brier"],
        "ece_uncalibrated": uncalibrated["ece"],
        **{f"brier_cv_{m}": b for m, b in choice.brier_by_method.items()},
        "valid_roc_auc": roc_auc(y, choice.calibrator.probability(raw)),
        "train_roc_auc": roc_auc(data.y_train, estimator.raw_score(x_train)),
        "valid_churn_rate": float(y.mean()),
    }
    contrib, _ = estimator.contributions(x_valid)
    importance = pd.DataFrame(
        {
            "feature": data.feature_columns,
            "importance": estimator.importance(),
            "mean_abs_contribution": np.abs(contrib).mean(axis=0),
        }
    ).sort_values("mean_abs_contribution", ascending=False, ignore_index=True)
    return FittedChurn(scorer, metrics, choice, raw, contrib, importance, fit_seconds)
