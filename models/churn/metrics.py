"""Churn metrics: ranking (ROC-AUC, PR-AUC, top-decile lift) and calibration (Brier, ECE)."""

from __future__ import annotations

import numpy as np

ECE_BINS = 10


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


def pr_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision (area under the precision-recall curve)."""
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, score))


def lift_at(y: np.ndarray, score: np.ndarray, fraction: float = 0.1) -> float:
    """Churn rate among the top `fraction` by score over the overall churn rate."""
    n = max(1, int(np.ceil(fraction * len(y))))
    top = np.argsort(-score, kind="stable")[:n]
    base = float(np.mean(y))
    return float(np.mean(y[top]) / base) if base > 0 else float("nan")


def brier(y: np.ndarray, probability: np.ndarray) -> float:
    """Mean squared error of the probabilities."""
    return float(np.mean((probability - y) ** 2))


def ece(y: np.ndarray, probability: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: |mean probability - churn rate| over equal-width bins."""
    which = np.minimum((probability * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(probability[inside].mean() - y[inside].mean())
    return float(total)


def ranking_metrics(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC and top-decile lift of any score (ranking only)."""
    return {
        "roc_auc": roc_auc(y, score),
        "pr_auc": pr_auc(y, score),
        "lift_top_decile": lift_at(y, score),
    }


def calibration_metrics(y: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Brier score and ECE of probabilities."""
    return {"brier": brier(y, probability), "ece": ece(y, probability)}


def reliability(
    y: np.ndarray, probability: np.ndarray, bins: int = ECE_BINS
) -> list[tuple[float, float, int]]:
    """(mean probability, churn rate, rows) per non-empty equal-width bin: the calibration plot."""
    which = np.minimum((probability * bins).astype(np.int64), bins - 1)
    return [
        (
            float(probability[which == b].mean()),
            float(y[which == b].mean()),
            int((which == b).sum()),
        )
        for b in range(bins)
        if (which == b).any()
    ]
