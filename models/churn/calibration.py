"""Probability calibration of raw log-odds: isotonic or sigmoid, whichever has the lower Brier.

The calibrator is fitted on the validation date (the only data the trees did not see). To
report calibration honestly, the choice and the reported Brier/ECE come from cross-fitting:
the validation rows are split in K stratified folds and each fold is calibrated by a
calibrator fitted on the other folds. The deployed calibrator is then refitted on all
validation rows with the chosen method.

Both methods keep the ranking: a retention team works down the list, so calibration must not
tie members the raw score tells apart. Isotonic regression's steps are kept as points (each
block's mean raw score and its churn rate shrunk toward Platt scaling's, in log-odds: a small
block at the top must not claim certainty) joined by straight lines, and
extended past the ends along the chord, so the map is strictly increasing; Platt scaling is
a sigmoid with a positive slope. Both are squeezed into [P_MIN, P_MAX] by an affine map (not a
clip, which would tie the extremes). Calibrated and raw ROC-AUC are therefore equal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from models.churn.metrics import brier

# Isotonic steps can reach exactly 0 or 1 on a small bin; no member is ever certain.
P_MIN, P_MAX = 0.001, 0.999


@dataclass(frozen=True)
class Calibrator:
    """A fitted monotone map from raw log-odds to probability."""

    method: str
    # strict isotonic: block centres and their log-odds; sigmoid: [slope, intercept].
    # Models registered before strict calibration hold step thresholds and probabilities.
    x: np.ndarray
    y: np.ndarray
    strict: bool = False  # False in calibrators pickled before strictly monotone ones
    # raw is first mapped to scale * raw + shift (scale > 0, so the order is kept): how a model
    # refitted for serving puts its scores on the scale of the model the calibrator was fitted
    # on (pickles from before this field unpickle with the identity map).
    scale: float = 1.0
    shift: float = 0.0

    def probability(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated churn probability for raw scores."""
        raw = self.scale * np.asarray(raw, dtype=np.float64) + self.shift
        if self.strict:
            return squeeze(expit(self.log_odds(raw)))
        if self.method == "sigmoid":
            slope, intercept = self.x
            out = sigmoid(slope * raw + intercept)
        else:
            out = np.interp(raw, self.x, self.y)
        return np.clip(out, P_MIN, P_MAX)

    def log_odds(self, raw: np.ndarray) -> np.ndarray:
        """A strict calibrator's log-odds of already scaled raw scores: strictly increasing."""
        if self.method == "sigmoid":
            slope, intercept = self.x
            return np.asarray(slope * raw + intercept)
        x, y = self.x, self.y
        chord = (y[-1] - y[0]) / (x[-1] - x[0])
        inside = np.interp(raw, x, y)
        below = y[0] + chord * (raw - x[0])
        above = y[-1] + chord * (raw - x[-1])
        return np.where(raw < x[0], below, np.where(raw > x[-1], above, inside))


def matched(calibrator: Calibrator, raw: np.ndarray, reference: np.ndarray) -> Calibrator:
    """calibrator for another model's raw scores: an affine map puts raw (that model's scores on
    the validation rows) at the mean and spread of reference (the calibrated model's scores on
    the same rows) first. No label is used, and a positive scale keeps the ranking."""
    spread = float(np.std(raw))
    scale = float(np.std(reference)) / spread if spread > 0 else 1.0
    scale = scale if scale > 0 else 1.0
    shift = float(np.mean(reference)) - scale * float(np.mean(raw))
    # Composed with the calibrator's own map (the identity when it was fitted here).
    return replace(
        calibrator,
        scale=calibrator.scale * scale,
        shift=calibrator.scale * shift + calibrator.shift,
    )


def expit(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z), exact in the far negative tail (distinct values down to z = -700)."""
    from scipy.special import expit as _expit

    return np.asarray(_expit(z))


def squeeze(p: np.ndarray) -> np.ndarray:
    """Map [0, 1] onto [P_MIN, P_MAX] keeping order strictly (a clip would tie the extremes)."""
    return P_MIN + (P_MAX - P_MIN) * p


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z) without overflow for large |z|."""
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


def fit_calibrator(method: str, raw: np.ndarray, y: np.ndarray) -> Calibrator:
    """Fit one calibration method on raw scores and labels."""
    if method == "isotonic":
        points = isotonic_points(raw, y)
        if points is None:
            return fit_calibrator("sigmoid", raw, y)  # one step: no shape to keep
        return Calibrator("isotonic", points[0], points[1], strict=True)
    if method == "sigmoid":
        from sklearn.linear_model import LogisticRegression

        # Platt scaling, essentially unregularised: one slope and one intercept.
        platt = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000).fit(raw[:, None], y)
        # A slope of 0 or below would tie or reverse the ranking (a useless model): keep order.
        params = np.array([max(float(platt.coef_[0, 0]), MIN_SLOPE), platt.intercept_[0]])
        return Calibrator("sigmoid", params, np.empty(0), strict=True)
    raise ValueError(f"unknown calibration method {method!r}: use isotonic or sigmoid")


MIN_SLOPE = 1e-6
# Block rates are bounded here before their log-odds are taken.
BLOCK_MIN = 1e-4
# Each isotonic block's churn rate is shrunk toward Platt scaling's as if the block had this
# many more rows: a top block of 5 members who all left is not "99.9% will leave". Chosen on
# cross-fitted validation dates (5 fold splits each) of the fightchurn sample, a 10,000-customer
# socialnet7 seed (150), a crm5 run and steward's simulator: plain isotonic gave its top 1% of
# members 0.09-0.59 more probability than their churn rate on the first three (0.999 where 78%
# left, seed 150); with 20 rows the gap was -0.05 to +0.19 and the Brier score lower or level
# on all four. 5 rows left crm5's gap at +0.37; 50 under-stated the simulator's top 1% more
# (-0.014 against -0.008).
PRIOR_ROWS = 20


def isotonic_points(
    raw: np.ndarray, y: np.ndarray, prior_rows: int = PRIOR_ROWS
) -> tuple[np.ndarray, np.ndarray] | None:
    """Isotonic regression's blocks as (mean raw score, log-odds of the churn rate), in order,
    each rate shrunk toward Platt scaling's by prior_rows rows and made monotone again; None
    when the fit is a single block."""
    from sklearn.isotonic import IsotonicRegression

    raw = np.asarray(raw, dtype=np.float64)
    fitted = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit_transform(raw, y)
    _, which = np.unique(fitted, return_inverse=True)
    rows = np.bincount(which).astype(np.float64)
    prior = np.bincount(which, weights=fit_calibrator("sigmoid", raw, y).probability(raw)) / rows
    shrunk = (np.bincount(which, weights=y) + prior_rows * prior) / (rows + prior_rows)
    # Blocks are contiguous ranges of raw: their mean scores increase with their index.
    centres = np.bincount(which, weights=raw) / rows
    # Shrinking a small block more than its neighbour can undo the order: pool them again.
    rates = IsotonicRegression().fit_transform(centres, shrunk, sample_weight=rows + prior_rows)
    values, group = np.unique(np.clip(rates, BLOCK_MIN, 1 - BLOCK_MIN), return_inverse=True)
    if len(values) < 2:
        return None
    merged = np.bincount(group, weights=centres * rows) / np.bincount(group, weights=rows)
    keep = np.concatenate([[True], np.diff(merged) > 0])
    if keep.sum() < 2:
        return None
    log_odds = np.log(values / (1 - values))
    return merged[keep], log_odds[keep]


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
