"""The two churn estimators behind one small interface: raw scores and their contributions.

`raw_score` is the log-odds before calibration. `contributions` splits it per feature so that
contributions.sum(axis=1) + base == raw_score: LightGBM's TreeSHAP (`pred_contrib`) for the
trees, coefficient x standardised value for the logistic baseline.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from models.churn.config import LgbmParams, LogregParams

MEDIAN_ROWS = 200_000
TRANSFORM_ROWS = 65_536
CONTRIB_CHUNK = 65_536  # rows per pred_contrib call: bounds its (rows x features) output


class ChurnEstimator(Protocol):
    """What training, scoring and explanations need from a fitted model."""

    kind: str

    def raw_score(self, x: np.ndarray) -> np.ndarray:
        """Log-odds of churn per row."""
        ...

    def contributions(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature contributions (rows x features) and the base value per row."""
        ...

    def importance(self) -> np.ndarray:
        """A global importance per feature (model-specific units)."""
        ...


@dataclass
class LgbmEstimator:
    """A LightGBM booster, kept as its model string so it pickles across versions."""

    model_str: str
    num_threads: int = 2
    kind: str = "lgbm"
    _booster: Any = field(default=None, repr=False, compare=False)
    _tables: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"model_str": self.model_str, "num_threads": self.num_threads, "kind": self.kind}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._booster = self._tables = None

    @property
    def booster(self) -> Any:
        """The booster, rebuilt from the model string on first use."""
        if self._booster is None:
            import lightgbm as lgb

            self._booster = lgb.Booster(model_str=self.model_str)
        return self._booster

    def raw_score(self, x: np.ndarray) -> np.ndarray:
        """Log-odds of churn per row."""
        scores = self.booster.predict(x, raw_score=True, num_threads=self.num_threads)
        return np.asarray(scores, dtype=np.float64)

    def contributions(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """pred_contrib's TreeSHAP values: by pattern tables for small trees, else LightGBM's."""
        from models.churn import treeshap

        if self._tables is None:
            self._tables = treeshap.build_tables(self.booster.dump_model()) or []
        if self._tables:
            return treeshap.contributions(self._tables, x)
        return self.lightgbm_contributions(x)

    def lightgbm_contributions(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """LightGBM's own pred_contrib, in chunks (its last column is the base value)."""
        contrib = np.empty(x.shape, dtype=np.float64)
        base = np.empty(len(x), dtype=np.float64)
        for start in range(0, len(x), CONTRIB_CHUNK):
            stop = start + CONTRIB_CHUNK
            out = self.booster.predict(
                x[start:stop], pred_contrib=True, num_threads=self.num_threads
            )
            contrib[start:stop] = out[:, :-1]
            base[start:stop] = out[:, -1]
        return contrib, base

    def importance(self) -> np.ndarray:
        """Total split gain per feature."""
        return np.asarray(self.booster.feature_importance("gain"), dtype=np.float64)


def fit_lgbm(
    x: np.ndarray, y: np.ndarray, names: list[str], params: LgbmParams, seed: int
) -> LgbmEstimator:
    """Train LightGBM with fixed threads and deterministic=True so reruns reproduce."""
    import lightgbm as lgb

    settings = {
        "objective": "binary",
        "num_leaves": params.num_leaves,
        "max_depth": params.max_depth,
        "learning_rate": params.learning_rate,
        # At most 5% of the rows: a small community's few hundred rows can still split.
        "min_data_in_leaf": min(params.min_child_samples, max(1, len(y) // 20)),
        "feature_fraction": params.feature_fraction,
        "bagging_fraction": params.bagging_fraction,
        "bagging_freq": 1 if params.bagging_fraction < 1 else 0,
        "lambda_l2": params.lambda_l2,
        "num_threads": params.num_threads,
        "seed": seed,
        "deterministic": True,
        # LightGBM otherwise picks row- or column-wise histograms by timing them: a choice
        # that can differ between runs and change the sums.
        "force_col_wise": True,
        "verbose": -1,
    }
    data = lgb.Dataset(x, label=y, feature_name=names, free_raw_data=True)
    booster = lgb.train(settings, data, num_boost_round=params.n_estimators)
    return LgbmEstimator(booster.model_to_string(), num_threads=params.num_threads)


class SignedLogScaler:
    """Impute the median, add missing indicators, signed log1p, standardise (sklearn rules)."""

    def fit(self, x: np.ndarray) -> SignedLogScaler:
        """Learn medians (from up to MEDIAN_ROWS evenly spaced rows), means and scales."""
        step = max(1, len(x) // MEDIAN_ROWS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: median 0 below
            self.median_ = np.nan_to_num(np.nanmedian(x[::step], axis=0))
        width = 2 * x.shape[1]
        self.mean_, self.scale_ = np.zeros(width), np.ones(width)
        total, squares = np.zeros(width), np.zeros(width)
        for chunk in self._chunks(x):
            total += chunk.sum(axis=0)
        mean = total / len(x)
        for chunk in self._chunks(x):
            squares += ((chunk - mean) ** 2).sum(axis=0)
        scale = np.sqrt(squares / len(x))
        # A constant column has a rounding-sized scale: leave it unscaled (it centres to 0).
        self.mean_, self.scale_ = mean, np.where(scale > 1e-9, scale, 1.0)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Columns: the features, then their missing indicators, all standardised."""
        out = np.empty((len(x), 2 * x.shape[1]))
        for start in range(0, len(x), TRANSFORM_ROWS):
            out[start : start + TRANSFORM_ROWS] = self._widen(x[start : start + TRANSFORM_ROWS])
        return out

    def _chunks(self, x: np.ndarray) -> Iterator[np.ndarray]:
        """The transformed rows, a chunk at a time (a million members is 2 GB at once)."""
        for start in range(0, len(x), TRANSFORM_ROWS):
            yield self._widen(x[start : start + TRANSFORM_ROWS])

    def _widen(self, x: np.ndarray) -> np.ndarray:
        """Median-filled signed log1p values and missing flags, standardised."""
        missing = np.isnan(x)
        filled = np.where(missing, self.median_, x)
        wide = np.hstack([np.sign(filled) * np.log1p(np.abs(filled)), missing])
        return (wide - self.mean_) / self.scale_


@dataclass
class LogregEstimator:
    """Scaled logistic regression; contributions are coefficient x standardised value."""

    scaler: SignedLogScaler
    coef: np.ndarray  # 2 x features: values then missing indicators
    intercept: float
    kind: str = "logreg"

    def raw_score(self, x: np.ndarray) -> np.ndarray:
        """Log-odds of churn per row."""
        return np.asarray(self.scaler.transform(x) @ self.coef + self.intercept)

    def contributions(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A feature's contribution is its value term plus its missing-indicator term."""
        terms = self.scaler.transform(x) * self.coef
        n = x.shape[1]
        return terms[:, :n] + terms[:, n:], np.full(len(x), self.intercept)

    def importance(self) -> np.ndarray:
        """Absolute standardised coefficients (value and indicator added)."""
        n = len(self.coef) // 2
        return np.abs(self.coef[:n]) + np.abs(self.coef[n:])


def fit_logreg(x: np.ndarray, y: np.ndarray, params: LogregParams, seed: int) -> LogregEstimator:
    """Fit the L1 or L2 logistic baseline on signed-log standardised features."""
    from sklearn.linear_model import LogisticRegression

    scaler = SignedLogScaler().fit(x)
    # lbfgs and saga work on the dense matrix; liblinear copies it into a sparse format that
    # is 4 GB for a million members.
    model = LogisticRegression(
        C=params.C,
        l1_ratio=1.0 if params.penalty == "l1" else 0.0,
        solver="saga" if params.penalty == "l1" else "lbfgs",
        max_iter=params.max_iter,
        random_state=seed,
    )
    model.fit(scaler.transform(x), y)
    return LogregEstimator(scaler, model.coef_[0].astype(np.float64), float(model.intercept_[0]))


def fit_estimator(
    x: np.ndarray, y: np.ndarray, names: list[str], params: LgbmParams | LogregParams, seed: int
) -> ChurnEstimator:
    """Fit the estimator the config names."""
    if isinstance(params, LgbmParams):
        return fit_lgbm(x, y, names, params, seed)
    return fit_logreg(x, y, params, seed)
