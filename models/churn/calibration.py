"""Probability calibration of raw log-odds: isotonic or sigmoid, whichever has the lower Brier.

The calibrator is fitted on the validation date (the only data the trees did not see). To
report calibration honestly, the choice and the reported Brier/ECE come from cross-fitting:
the validation rows are split in K stratified folds and each fold is calibrated by a
calibrator fitted on the other folds. The deployed calibrator is then refitted on all
validation rows with the chosen method.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.churn.metrics import brier

# Isotonic steps can reach exactly 0 or 1 on a small bin; no member is ever certain.
P_MIN, P_MAX = 0.001, 0.999


@dataclass(frozen=True)
class Calibrator:
    """A fitted monotone map from raw log-odds to probability."""

    method: str
    x: np.ndarray  # isotonic: step thresholds; sigmoid: [slope, intercept]
    y: np.ndarray

    def probability(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated churn probability for raw scores."""
        if self.method == "sigmoid":
            slope, intercept = self.x
            out = sigmoid(slope * raw + intercept)
        else:
            out = np.interp(raw, self.x, self.y)
        return np.clip(out, P_MIN, P_MAX)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z) without overflow for large |z|."""
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


def fit_calibrator(method: str, raw: np.ndarray, y: np.ndarray) -> Calibrator:
    """Fit one calibration method on raw scores and labels."""
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return Calibrator("isotonic", iso.X_thresholds_.copy(), iso.y_thresholds_.copy())
    if method == "sigmoid":
        from sklearn.linear_model import LogisticRegression

        # Platt scaling, essentially unregularised: one slope and one intercept.
        platt = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000).fit(raw[:, None], y)
        params = np.array([platt.coef_[0, 0], platt.intercept_[0]])
        return Calibrator("sigmoid", params, np.empty(0))
    raise ValueError(f"unknown calibration method {method!r}: use isotonic or sigmoid")


@dataclass(frozen=True)
class CalibrationChoice:
    """The deployed calibrator and the cross-fitted evidence for it."""

    calibrator: Calibrator
    out_of_fold: np.ndarray  # cross-fitted probabilities of the chosen method
    brier_by_method: dict[str, float]


def cross_fit(method: str, raw: np.ndarray, y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Out-of-fold calibrated probabilities: each fold calibrated by the other folds."""
    from sklearn.model_selection import StratifiedKFold

    out = np.empty(len(raw), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_rows, held_rows in splitter.split(raw, y):
        out[held_rows] = fit_calibrator(method, raw[fit_rows], y[fit_rows]).probability(
            raw[held_rows]
        )
    return out


def choose_calibrator(
    raw: np.ndarray, y: np.ndarray, methods: list[str], folds: int, seed: int
) -> CalibrationChoice:
    """Pick the method with the lower cross-fitted Brier; refit it on all rows."""
    if int(y.sum()) < folds or int(len(y) - y.sum()) < folds:
        raise ValueError(
            f"calibration needs at least {folds} churners and {folds} stayers on the validation date"
        )
    oof = {m: cross_fit(m, raw, y, folds, seed) for m in methods}
    scores = {m: brier(y, p) for m, p in oof.items()}
    best = min(methods, key=lambda m: (scores[m], m))
    return CalibrationChoice(fit_calibrator(best, raw, y), oof[best], scores)
