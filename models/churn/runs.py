"""What one churn training run records in MLflow (the caller opens the run)."""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd

from models.churn import plots
from models.churn.calibration import sigmoid
from models.churn.cohorts import cohort_report
from models.churn.config import ChurnConfig, resolved_dict
from models.churn.dataset import ChurnData, feature_matrix, fingerprint
from models.churn.train import FittedChurn

COHORT_FEATURES = 6  # the most important features get a cohort table each


def flat_params(config: ChurnConfig) -> dict[str, Any]:
    """The resolved config flattened to dotted keys (MLflow params are flat)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else key, item)
        else:
            out[prefix] = value

    walk("", resolved_dict(config))
    return out


def log_training(config: ChurnConfig, data: ChurnData, fitted: FittedChurn) -> dict[str, Any]:
    """Params, resolved config, data fingerprint, metrics, importance, plots and cohorts; returns
    the fingerprint with the cohorts."""
    # refitted: whether the served model is a refit on every labelled date (train.py).
    found = {
        **fingerprint(data),
        "refitted": fitted.held_out is not None,
        "feature_view": _view(fitted),
    }
    mlflow.log_params(flat_params(config))
    mlflow.log_dict(resolved_dict(config), "config.yaml")
    mlflow.log_dict(found, "data_fingerprint.json")
    mlflow.log_params(
        {
            "data.lake_snapshot": found["lake_snapshot"],
            "data.train_dates": ",".join(found["train_dates"]),
            "data.valid_date": found["valid_date"],
            "data.content_sha256": found["content_sha256"],
        }
    )
    counts = ("train_rows", "valid_rows", "train_positives", "valid_positives")
    mlflow.log_metrics({**fitted.metrics, **{f"data_{k}": float(found[k]) for k in counts}})
    views = found["feature_view"].get("valid_roc_auc", {})
    mlflow.log_metrics({f"view_{name}_valid_roc_auc": auc for name, auc in views.items()})
    mlflow.set_tags(
        {
            "label": config.label,
            "model_kind": config.model.kind,
            "calibration": fitted.calibration.calibrator.method,
            "label_reason": found["label_reason"],
            "feature_view": found["feature_view"].get("name", "all"),
            "train_dates": ",".join(found["train_dates"]),
            "valid_date": found["valid_date"],
            # Scores of dates before it are in hindsight: the backtest does not judge them.
            "labels_through": data.labels_through.isoformat(),
            "train_rows": str(found["train_rows"]),
            "train_churners": str(found["train_positives"]),
            "valid_rows": str(found["valid_rows"]),
            "valid_churners": str(found["valid_positives"]),
            **_refit_tags(found, fitted),
            "fit_seconds": f"{fitted.fit_seconds:.2f}",
            "metrics_note": (
                "all on the validation date; roc_auc, pr_auc, lift_top_decile: raw score; "
                "brier, ece: probabilities cross-fitted over its folds"
            ),
        }
    )
    mlflow.log_text(fitted.importance.to_csv(index=False), "feature_importance.csv")
    _log_plots(data, fitted)
    cohorts = _log_cohorts(data, fitted)
    return {**found, "cohorts": cohorts}


def _view(fitted: FittedChurn) -> dict[str, Any]:
    """The feature view the model uses and why (models/churn/train.py choose_view)."""
    view = fitted.view
    if view is None:
        return {}
    return {
        "name": view.name,
        "columns": view.columns,
        "of": view.of,
        "valid_roc_auc": view.valid_roc_auc,
        "reason": view.reason,
    }


def _log_cohorts(data: ChurnData, fitted: FittedChurn) -> dict[str, Any]:
    """Behavioural cohorts of the most important features over every labelled row up to the
    validation date, as cohorts.json and plots/cohorts.png."""
    # Descriptive, not fitted: all the labels known, whichever model is served.
    rows = pd.concat(data.labelled_parts, ignore_index=True)
    features = fitted.importance["feature"].head(COHORT_FEATURES).tolist()
    report = cohort_report(rows, data.label, features)
    mlflow.log_dict(report, "cohorts.json")
    mlflow.log_figure(plots.cohorts_figure(report), "plots/cohorts.png")
    return report


def _refit_tags(found: dict[str, Any], fitted: FittedChurn) -> dict[str, str]:
    """What the served model learned from, when it was refitted after validation."""
    if fitted.held_out is None:
        return {"served_model": "the validated model (no refit)"}
    return {
        "served_model": "refitted on every labelled date up to the validation date",
        "refit_dates": ",".join(found["refit_dates"]),
        "refit_rows": str(found["refit_rows"]),
        "refit_churners": str(found["refit_positives"]),
    }


def _log_plots(data: ChurnData, fitted: FittedChurn) -> None:
    """ROC, calibration, lift and contribution summary as PNG artifacts under plots/."""
    y, raw = data.y_valid, fitted.valid_raw
    columns = fitted.scorer.feature_columns  # the model's own: feature_view may narrow the data's
    x = feature_matrix(data.valid, columns)
    figures = {
        "roc.png": plots.roc_figure(y, raw, fitted.metrics["roc_auc"]),
        "calibration.png": plots.calibration_figure(
            y,
            fitted.calibration.out_of_fold,
            sigmoid(raw),
            fitted.calibration.calibrator.method,
        ),
        "lift.png": plots.lift_figure(y, raw),
        "shap_summary.png": plots.shap_summary_figure(fitted.valid_contributions, x, columns),
    }
    for name, figure in figures.items():
        mlflow.log_figure(figure, f"plots/{name}")
