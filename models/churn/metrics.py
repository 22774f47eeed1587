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


def top_rows(score: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """Indices of the top `fraction` of rows by score (at least one; ties in row order)."""
    n = max(1, int(np.ceil(fraction * len(score))))
    return np.argsort(-score, kind="stable")[:n]


def lift_at(y: np.ndarray, score: np.ndarray, fraction: float = 0.1) -> float:
    """Churn rate among the top `fraction` by score over the overall churn rate."""
    top = top_rows(score, fraction)
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


def bootstrap_intervals(
    y: np.ndarray, score: np.ndarray, resamples: int = 200, seed: int = 0, level: float = 0.95
) -> dict[str, float]:
    """Percentile bootstrap intervals of ROC-AUC and top-decile lift over resampled rows.

    Resamples that draw a single class are skipped (they have no AUC).
    """
    y = np.asarray(y)
    score = np.asarray(score, dtype=np.float64)
    rng = np.random.default_rng(seed)
    aucs: list[float] = []
    lifts: list[float] = []
    for _ in range(resamples):
        rows = rng.integers(0, len(y), len(y))
        drawn = y[rows]
        if drawn.min() == drawn.max():
            continue
        aucs.append(fast_roc_auc(drawn, score[rows]))
        lifts.append(lift_at(drawn, score[rows]))
    if not aucs:
        return {}
    tail = (1 - level) / 2 * 100
    return {
        "roc_auc_ci_low": float(np.percentile(aucs, tail)),
        "roc_auc_ci_high": float(np.percentile(aucs, 100 - tail)),
        "lift_ci_low": float(np.percentile(lifts, tail)),
        "lift_ci_high": float(np.percentile(lifts, 100 - tail)),
    }


def fast_roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC by average ranks (Mann-Whitney U), ties counted half: roc_auc without sklearn's
    per-call checks, for bootstrap loops."""
    from scipy.stats import rankdata

    ranks = rankdata(score)
    positives = y == 1
    n_pos = int(positives.sum())
    n_neg = len(y) - n_pos
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
