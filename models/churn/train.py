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

Feature view (feature_view: auto): two models are fitted on the training dates, one on every
feature column and one on the long-term view (features.members.definition.long_term_columns),
and the one with the higher ROC-AUC on the validation date is kept; the metrics above are then
those of the chosen model, on the rows that chose it (two candidates: a small optimism, in
sweeps and the walk-forward backtest too, which choose on each validation date). Why: on the
book's simulator churn follows a member's totals since joining, and the members a model trains
on joined lately, so that their 7-, 30- and 90-day counts are the same numbers; the trees split
on any of them, and the splits on the short windows mislead on the older members it scores.

The served model (validation.refit, the default) is then refitted with the same settings on every
labelled date up to the validation date, so that it learns from the freshest closed labels: a
model that stops a horizon before the validation date is a month or more behind the members it
scores. Its scores are put on the held-out model's scale on the validation rows (mean and spread,
no labels) before the held-out model's calibrator; the metrics above stay the held-out model's,
and the held-out scorer travels with it (the champion rule judges it on later validation rows).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from features.members.definition import long_term_columns
from features.schemas import is_custom_event
from models.churn.calibration import CalibrationChoice, choose_calibrator, matched, sigmoid
from models.churn.config import ChurnConfig
from models.churn.dataset import ChurnData, feature_matrix
from models.churn.estimators import ChurnEstimator, fit_estimator
from models.churn.metrics import (
    bootstrap_intervals,
    calibration_metrics,
    ranking_metrics,
    roc_auc,
)
from models.churn.reasons import driver_topic, load_interventions
from models.churn.scorer import ChurnScorer


@dataclass(frozen=True)
class ViewChoice:
    """The feature columns a model uses, and the validation ROC-AUCs that chose them (auto)."""

    name: str  # "all" or "long_term"
    columns: int
    of: int  # feature columns available
    valid_roc_auc: dict[str, float]  # per view fitted on the training dates; {} unless auto
    reason: str


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
    # The model the metrics describe, when the served scorer is a refit (None: it is the same).
    held_out: ChurnScorer | None = None
    view: ViewChoice | None = None


def fit_churn_model(config: ChurnConfig, data: ChurnData, serve: bool = True) -> FittedChurn:
    """Choose the feature view, train on the training dates, calibrate and evaluate on the
    validation date; then (serve and validation.refit) refit the served model on every
    labelled date up to it."""
    started = time.perf_counter()
    data, view, estimator = choose_view(config, data)
    fitted = _fit_held_out(config, data, estimator, time.perf_counter() - started)
    fitted = replace(fitted, view=view)
    # Refit rows always add the validation date (and the dates training skipped before it).
    if not (serve and config.validation.refit and data.refit is not None):
        return fitted
    return _refit(config, data, fitted)


def _refit(config: ChurnConfig, data: ChurnData, held: FittedChurn) -> FittedChurn:
    """The held-out fit's settings on all refit rows; calibrated through the held-out model."""
    assert data.refit is not None
    started = time.perf_counter()
    y_refit = data.refit[data.label].to_numpy(dtype=np.int64)
    estimator = fit_estimator(
        feature_matrix(data.refit, data.feature_columns),
        y_refit,
        data.feature_columns,
        config.model,
        config.seed,
    )
    x_valid = feature_matrix(data.valid, data.feature_columns)
    calibrator = matched(held.calibration.calibrator, estimator.raw_score(x_valid), held.valid_raw)
    scorer = replace(held.scorer, estimator=estimator, calibrator=calibrator)
    contrib, _ = estimator.contributions(x_valid)
    metrics = {
        **held.metrics,
        "refit_rows": float(len(y_refit)),
        "refit_churners": float(y_refit.sum()),
    }
    return replace(
        held,
        scorer=scorer,
        metrics=metrics,
        valid_contributions=contrib,
        importance=_importance(data.feature_columns, estimator.importance(), contrib),
        fit_seconds=held.fit_seconds + time.perf_counter() - started,
        held_out=held.scorer,
    )


def choose_view(
    config: ChurnConfig, data: ChurnData
) -> tuple[ChurnData, ViewChoice, ChurnEstimator | None]:
    """The data narrowed to the config's feature view; for auto, the view whose model (fitted on
    the training dates, returned for reuse) ranks the validation date better."""
    harm_events(config, data.feature_columns)  # a typo fails before any fit
    everything = list(data.feature_columns)
    long_term = long_term_columns(everything)
    if config.feature_view == "long_term":
        if not long_term:
            raise ValueError("feature_view: long_term: the features have no long-term column")
        view = ViewChoice(
            "long_term", len(long_term), len(everything), {}, "feature_view: long_term"
        )
        return replace(data, feature_columns=long_term), view, None
    why = _every_column_because(config, data, len(everything), len(long_term))
    if why is not None:
        return data, ViewChoice("all", len(everything), len(everything), {}, why), None
    fits: dict[str, ChurnEstimator] = {}
    aucs: dict[str, float] = {}
    for name, columns in (("all", everything), ("long_term", long_term)):
        fits[name] = fit_estimator(
            feature_matrix(data.train, columns), data.y_train, columns, config.model, config.seed
        )
        raw = fits[name].raw_score(feature_matrix(data.valid, columns))
        aucs[name] = roc_auc(data.y_valid, raw)
    # Ties keep every column: the long-term view must earn its place.
    name = "long_term" if aucs["long_term"] > aucs["all"] else "all"
    columns = long_term if name == "long_term" else everything
    why = (
        f"feature_view: auto: validation ROC-AUC {aucs['long_term']:.3f} with the long-term "
        f"view against {aucs['all']:.3f} with every column"
    )
    view = ViewChoice(name, len(columns), len(everything), aucs, why)
    return replace(data, feature_columns=columns), view, fits[name]


def _every_column_because(
    config: ChurnConfig, data: ChurnData, columns: int, long_term: int
) -> str | None:
    """Why auto (or all) keeps every column without comparing views; None: compare them."""
    if config.feature_view == "all":
        return "feature_view: all"
    if long_term in (0, columns):
        return "feature_view: auto: the features have no separate long-term view"
    churners, needed = int(data.y_valid.sum()), config.validation.view_min_churners
    if churners < needed:
        return (
            f"feature_view: auto: {churners} churners on the validation date, fewer than "
            f"validation.view_min_churners ({needed}) to choose a view on"
        )
    return None


def _fit_held_out(
    config: ChurnConfig,
    data: ChurnData,
    estimator: ChurnEstimator | None = None,
    fit_seconds: float = 0.0,
) -> FittedChurn:
    """Train on the training dates (unless the estimator was fitted already), calibrate and
    evaluate on the validation date."""
    harm = harm_events(config, data.feature_columns)  # a typo fails before the fit
    started = time.perf_counter()
    x_train = feature_matrix(data.train, data.feature_columns)
    if estimator is None:
        estimator = fit_estimator(
            x_train, data.y_train, data.feature_columns, config.model, config.seed
        )
    fit_seconds += time.perf_counter() - started
    x_valid = feature_matrix(data.valid, data.feature_columns)
    raw = estimator.raw_score(x_valid)
    y = data.y_valid
    settings = config.validation
    choice = choose_calibrator(
        raw, y, list(settings.calibration_methods), settings.calibration_folds, config.seed
    )
    # The tiers' churn rate is over every labelled row up to the validation date, so that a
    # small validation date does not move the thresholds much.
    labels = np.concatenate([part[data.label].to_numpy() for part in data.labelled_parts])
    seen_rate = float(labels.mean())
    scorer = ChurnScorer(
        estimator=estimator,
        calibrator=choice.calibrator,
        feature_columns=list(data.feature_columns),
        tiers=config.tiers.resolved(seen_rate),
        interventions=load_interventions(config.reasons.interventions),
        top_k=config.reasons.top_k,
        label=config.label,
        harm_events=harm,
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
        "tier_high": scorer.tiers.high,
        "tier_medium": scorer.tiers.medium,
        "tier_churn_rate": seen_rate,
    }
    contrib, _ = estimator.contributions(x_valid)
    importance = _importance(data.feature_columns, estimator.importance(), contrib)
    return FittedChurn(scorer, metrics, choice, raw, contrib, importance, fit_seconds)


def harm_events(config: ChurnConfig, columns: Sequence[str]) -> frozenset[str]:
    """The config's harmful custom types, each checked against the model's features: a typo
    would otherwise word that type as engagement without a word."""
    known = sorted({t for t in map(driver_topic, columns) if is_custom_event(t)})
    missing = [t for t in config.reasons.harm_events if t not in known]
    if missing:
        have = ", ".join(known) if known else "none"
        raise ValueError(
            f"reasons.harm_events: {', '.join(missing)} has no features in this model "
            f"(custom event types with features: {have})"
        )
    return frozenset(config.reasons.harm_events)


def _importance(columns: list[str], importance: np.ndarray, contrib: np.ndarray) -> pd.DataFrame:
    """Per feature: the model's own importance and the mean |contribution| on validation rows."""
    return pd.DataFrame(
        {
            "feature": columns,
            "importance": importance,
            "mean_abs_contribution": np.abs(contrib).mean(axis=0),
        }
    ).sort_values("mean_abs_contribution", ascending=False, ignore_index=True)
