"""Calibration and metrics on synthetic scores whose true probabilities are known."""

from __future__ import annotations

import numpy as np
import pytest

from models.churn.calibration import choose_calibrator, fit_calibrator, sigmoid
from models.churn.metrics import brier, ece, lift_at, ranking_metrics


def overconfident(n: int = 4_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores three times too extreme for the labels drawn from them."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(-1.0, 1.2, n)
    y = (rng.random(n) < sigmoid(true_logit)).astype(np.int64)
    return 3.0 * true_logit, y


def test_calibration_fixes_overconfident_scores() -> None:
    raw, y = overconfident()
    choice = choose_calibrator(raw, y, ["isotonic", "sigmoid"], folds=2, seed=7)
    assert ece(y, choice.out_of_fold) < 0.03 < ece(y, sigmoid(raw))
    assert brier(y, choice.out_of_fold) < brier(y, sigmoid(raw))
    # Platt scaling is the right shape here, so it wins on cross-fitted Brier.
    assert choice.calibrator.method == "sigmoid"
    assert choice.calibrator.x[0] == pytest.approx(1 / 3, abs=0.05)


def test_calibrators_are_monotone_and_never_certain() -> None:
    raw, y = overconfident()
    grid = np.linspace(-20, 20, 401)
    for method in ("isotonic", "sigmoid"):
        p = fit_calibrator(method, raw, y).probability(grid)
        assert np.all(np.diff(p) >= 0)
        assert p.min() >= 0.001 and p.max() <= 0.999


def test_calibration_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="churners"):
        choose_calibrator(np.zeros(10), np.zeros(10, np.int64), ["sigmoid"], folds=2, seed=0)


def test_metrics_on_known_cases() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    perfect = np.arange(10, 0, -1, dtype=np.float64)
    assert ranking_metrics(y, perfect)["roc_auc"] == 1.0
    assert lift_at(y, perfect, 0.1) == pytest.approx(5.0)  # top row churns; base rate 0.2
    assert lift_at(y, -perfect, 0.1) == 0.0
    assert ece(y, np.full(10, 0.2)) == pytest.approx(0.0)
    assert ece(y, np.full(10, 0.7)) == pytest.approx(0.5)
