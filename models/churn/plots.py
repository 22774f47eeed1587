"""Figures logged with each churn run: ROC, calibration, lift, a SHAP-style summary and the
behavioural cohorts."""

from __future__ import annotations

from typing import Any

import numpy as np

from models.churn.metrics import reliability


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    """A fresh figure on the Agg backend (no display needed)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 5), dpi=100)
    axes = figure.subplots()
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    return figure, axes


def roc_figure(y: np.ndarray, score: np.ndarray, auc: float) -> Any:
    """ROC curve of the validation date."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, score)
    figure, axes = _figure("ROC (validation date)", "false positive rate", "true positive rate")
    axes.plot(fpr, tpr, label=f"AUC {auc:.3f}")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.legend(loc="lower right")
    return figure


def calibration_figure(
    y: np.ndarray, calibrated: np.ndarray, uncalibrated: np.ndarray, method: str
) -> Any:
    """Reliability diagram: cross-fitted calibrated probabilities against the raw sigmoid."""
    figure, axes = _figure(
        "Calibration (validation date)", "predicted probability", "observed churn rate"
    )
    for name, probability in (
        (f"{method} (cross-fitted)", calibrated),
        ("uncalibrated", uncalibrated),
    ):
        points = reliability(y, probability)
        axes.plot([p for p, _, _ in points], [r for _, r, _ in points], marker="o", label=name)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.legend(loc="upper left")
    return figure


def lift_figure(y: np.ndarray, score: np.ndarray) -> Any:
    """Cumulative lift by the share of members contacted, highest risk first."""
    order = np.argsort(-score, kind="stable")
    hits = np.cumsum(y[order])
    share = np.arange(1, len(y) + 1) / len(y)
    lift = hits / np.arange(1, len(y) + 1) / max(float(np.mean(y)), 1e-12)
    figure, axes = _figure(
        "Cumulative lift (validation date)", "share of members, highest risk first", "lift"
    )
    axes.plot(share, lift)
    axes.axhline(1.0, linestyle="--", color="grey")
    return figure


def shap_summary_figure(
    contrib: np.ndarray, x: np.ndarray, names: list[str], top: int = 15, points: int = 5_000
) -> Any:
    """Per-member contributions of the top features, coloured by the feature's value rank."""
    strength = np.abs(contrib).mean(axis=0)
    rng = np.random.default_rng(0)  # a fixed sample and jitter: the figure is the same every run
    if len(x) > points:
        keep = np.sort(rng.choice(len(x), points, replace=False))
        contrib, x = contrib[keep], x[keep]
    chosen = np.argsort(-strength, kind="stable")[:top][::-1]
    figure, axes = _figure("Contributions to churn log-odds", "contribution (log-odds)", "")
    for row, f in enumerate(chosen):
        values = x[:, f]
        ranks = np.argsort(np.argsort(np.nan_to_num(values, nan=-np.inf))) / max(len(values) - 1, 1)
        jitter = row + rng.uniform(-0.3, 0.3, len(values))
        axes.scatter(contrib[:, f], jitter, c=ranks, cmap="coolwarm", s=3, alpha=0.6)
    axes.set_yticks(range(len(chosen)), [names[f] for f in chosen], fontsize=7)
    axes.axvline(0.0, color="grey", linewidth=0.8)
    figure.tight_layout()
    return figure


def cohorts_figure(report: dict[str, Any]) -> Any:
    """Churn rate per cohort of each reported feature, with intervals and the overall rate."""
    from matplotlib.figure import Figure

    from models.churn.cohorts import cohort_range

    features = list(report["features"])
    columns = 3
    rows = max(1, -(-len(features) // columns))
    figure = Figure(figsize=(4 * columns, 3 * rows), dpi=100)
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes, feature in zip(grid.flat, features, strict=False):
        groups = report["features"][feature]
        rate = np.array([c["rate"] for c in groups])
        low = rate - np.array([c["rate_low"] for c in groups])
        high = np.array([c["rate_high"] for c in groups]) - rate
        axes.bar(range(len(groups)), rate, yerr=[low, high], capsize=2, color="tab:blue")
        axes.axhline(report["churn_rate"], linestyle="--", color="grey", linewidth=0.8)
        axes.set_xticks(
            range(len(groups)), [cohort_range(feature, c) for c in groups], rotation=60, fontsize=6
        )
        axes.set_title(feature, fontsize=8)
        axes.set_ylabel("churn rate", fontsize=7)
    for axes in list(grid.flat)[len(features) :]:
        axes.set_visible(False)
    figure.suptitle(f"Behavioural cohorts ({report['label']}; dashed: all members)", fontsize=9)
    figure.tight_layout()
    return figure
