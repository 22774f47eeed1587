"""Churn training: train a model on the member features, log it to MLflow and register it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.storage.failpoints import failpoint
from models.champions import load_churn_judge
from models.churn.config import EXPERIMENT, ChurnConfig
from pipelines.steps import features_dir

if TYPE_CHECKING:
    from models.churn.backtest import Backtest
    from models.churn.dataset import ChurnData
    from models.churn.train import FittedChurn


@dataclass(frozen=True)
class ChurnTrainReport:
    """What one `steward train churn` did."""

    name: str
    label: str
    kind: str
    run_id: str
    version: str
    promoted: bool
    reason: str
    metrics: dict[str, float]
    data: dict[str, Any] = field(default_factory=dict)


def train_churn(config: ChurnConfig, force: bool = False) -> ChurnTrainReport:
    """Train, log to MLflow, register as steward-churn and promote it if it beats the champion."""
    from models.churn.labels import with_data_label
    from models.churn.train import fit_churn_model
    from models.tracking import configure_tracking, owned_run, use_experiment

    data = load_training_data(config)
    config = with_data_label(config, data.label)
    configure_tracking()
    with owned_run(use_experiment(EXPERIMENT), config.name):
        fitted = fit_churn_model(config, data)
        return log_and_register(config, data, fitted, force, register=config.register_model)


def backtest_churn(config: ChurnConfig, folds: int) -> tuple[Backtest, str]:
    """The training procedure repeated with each of the last `folds` labelled dates as the
    validation date (no refit, nothing registered), logged as one MLflow run: each date's
    metrics as a step, their means as mean_*. Returns the backtest and the run id."""
    import mlflow

    from models.churn.backtest import backtest
    from models.churn.runs import flat_params
    from models.tracking import configure_tracking, owned_run, use_experiment

    found = backtest(config, config.features or features_dir(), folds)
    configure_tracking()
    with owned_run(use_experiment(EXPERIMENT), f"{config.name}-backtest") as run:
        mlflow.log_params({**flat_params(config), "backtest.folds": folds})
        for step, metrics in enumerate(found.per_date):
            mlflow.log_metrics(metrics, step=step)
        mlflow.log_metrics({f"mean_{k}": v for k, v in found.mean().items()})
        mlflow.set_tags({"backtest_dates": ",".join(d.isoformat() for d in found.dates)})
        return found, run.info.run_id


def load_training_data(config: ChurnConfig) -> ChurnData:
    """The out-of-time split a config asks for, without the columns it excludes (label: auto
    becomes subscription or activity; data.label_reason says which and why)."""

    from models.churn.dataset import load_churn_data, read_metadata
    from models.churn.labels import choose_label

    folder = config.features or features_dir()
    config, why = choose_label(config, read_metadata(folder))
    data = load_churn_data(
        folder,
        config.label_column,
        config.validation.embargo_days,
        exclude=config.features_exclude,
        minimums=config.validation,
    )
    return replace(data, label_reason=why)


def log_and_register(
    config: ChurnConfig,
    data: ChurnData,
    fitted: FittedChurn,
    force: bool = False,
    register: bool = True,
) -> ChurnTrainReport:
    """Log a fitted model into the active run; register it and apply the champion rule."""
    import mlflow

    from models.churn.pyfunc import log_churn_model
    from models.churn.runs import log_training
    from models.registry import register_and_promote

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_and_register needs an active MLflow run")
    found = log_training(config, data, fitted)
    info = log_churn_model(
        fitted.scorer, data.valid.head(5), fitted.held_out, labels_through(data, fitted)
    )
    failpoint("train.model_logged")
    candidate = fitted.metrics["valid_roc_auc"]
    version, promoted, reason = "", False, "not registered: the champion is unchanged"
    if register:
        # The champion is judged on this run's validation rows: a like-for-like comparison.
        promotion = register_and_promote(
            info.model_uri,
            config.registered_model,
            candidate,
            _auc_on(data.valid, data.y_valid, data.valid_date),
            force=force,
            blocked=champion_blocker(fitted.metrics),
        )
        _tag_version(config, promotion.version, data.valid_date, candidate)
        version, promoted, reason = promotion.version, promotion.promoted, promotion.reason
        mlflow.set_tags({"registered_version": version, "promoted": promoted})
    mlflow.set_tag("promotion", reason)
    return ChurnTrainReport(
        name=config.name,
        label=config.label,
        kind=config.model.kind,
        run_id=run.info.run_id,
        version=version,
        promoted=promoted,
        reason=reason,
        metrics=fitted.metrics,
        data=found,
    )


def champion_blocker(metrics: dict[str, float]) -> str | None:
    """Why a model may not be champion: its validation AUC interval includes 0.5 (chance)."""
    low, high = metrics.get("roc_auc_ci_low"), metrics.get("roc_auc_ci_high")
    if low is None or high is None:
        return "too few validation rows of both classes for a bootstrap interval of its ROC-AUC"
    if low <= 0.5 <= high:
        return (
            f"its validation ROC-AUC interval {low:.3f}-{high:.3f} (95% bootstrap) includes "
            "0.5: no better than chance on these rows"
        )
    return None


def labels_through(data: ChurnData, fitted: FittedChurn) -> str | None:
    """The last day of any label a refitted served model learned from (None: not refitted)."""
    if fitted.held_out is None or not data.refit_dates:
        return None
    return data.labels_through.isoformat()  # the refit's last date is the validation date


def _auc_on(valid: pd.DataFrame, y: np.ndarray, valid_date: date) -> Callable[[str], float]:
    """Scores a registered version by its ROC-AUC on these validation rows (by its held-out
    model when its served one learned labels past valid_date)."""

    def score(model_uri: str) -> float:
        from mlflow.exceptions import MlflowException

        from models.churn.metrics import roc_auc

        try:
            return roc_auc(y, load_churn_judge(model_uri, valid_date).probability(valid))
        except (MlflowException, ValueError, KeyError, AttributeError):
            # A champion that cannot score today's feature rows cannot defend its title.
            return float("-inf")

    return score


def _tag_version(config: ChurnConfig, version: str, valid_date: date, auc: float) -> None:
    """Record on the registered version what it predicts and how it did."""
    from mlflow import MlflowClient

    client = MlflowClient()
    tags = {
        "label": config.label,
        "model_kind": config.model.kind,
        "valid_date": valid_date.isoformat(),
        "valid_roc_auc": f"{auc:.6f}",
    }
    for key, value in tags.items():
        client.set_model_version_tag(config.registered_model, version, key, value)


def training_table(reports: list[ChurnTrainReport]) -> Any:
    """One row per trained model: validation metrics and what the registry did."""
    from pipelines.output import rows_table

    columns = [
        "model",
        "label",
        "ROC-AUC",
        "95% CI",
        "PR-AUC",
        "lift@10%",
        "95% CI",
        "Brier",
        "ECE",
        "version",
        "registry",
    ]
    rows = [
        [
            f"{r.name} ({r.kind})",
            r.label,
            r.metrics["roc_auc"],
            _interval(r.metrics, "roc_auc", 3),
            r.metrics["pr_auc"],
            r.metrics["lift_top_decile"],
            _interval(r.metrics, "lift", 2),
            r.metrics["brier"],
            r.metrics["ece"],
            r.version,
            r.reason,
        ]
        for r in reports
    ]
    return rows_table("churn models (validation date; Brier/ECE cross-fitted)", columns, rows)


def _interval(metrics: dict[str, float], name: str, digits: int) -> str:
    """A bootstrap interval as low-high, or n/a."""
    low, high = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
    return "n/a" if low is None or high is None else f"{low:.{digits}f}-{high:.{digits}f}"
