"""Calibration that keeps the ranking: the old step isotonic map against the strictly monotone
isotonic map and Platt scaling, on the same raw scores.

For each data set: a LightGBM churn model (steward's defaults) is trained on the training dates
and scores the validation date, whose rows are split in 2 stratified folds; each fold is
calibrated by a calibrator fitted on the other. Per held fold (then averaged): distinct
probabilities, and ROC-AUC of the raw score and of the probabilities (what calibration does to
the ranking on rows it did not see); Brier and ECE of the out-of-fold probabilities, as
training reports them. Data: the shared fightchurn sample (subscription label, data end 2020-06-01, weekly
dates) and the built-in simulator (activity label) at two seeds.
Run: `python -m bench.churn_calibration`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from features.lake.store import Lake

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass(frozen=True)
class StepIsotonic:
    """The calibrator steward shipped before: sklearn's isotonic steps, clipped."""

    x: np.ndarray
    y: np.ndarray

    def probability(self, raw: np.ndarray) -> np.ndarray:
        """Step-wise probabilities (ties every member inside a step)."""
        return np.clip(np.interp(raw, self.x, self.y), 0.001, 0.999)


def step_isotonic(raw: np.ndarray, y: np.ndarray) -> StepIsotonic:
    """Fit the old step map."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
    return StepIsotonic(iso.X_thresholds_.copy(), iso.y_thresholds_.copy())


METHODS = ("step-isotonic", "isotonic, unshrunk", "isotonic", "sigmoid")


def fit(method: str, raw: np.ndarray, y: np.ndarray) -> object:
    """One calibrator: step-isotonic (before session 6), isotonic unshrunk (before session 16:
    strict, blocks at their own churn rate), isotonic (now: blocks shrunk toward Platt), sigmoid."""
    from models.churn.calibration import Calibrator, fit_calibrator, isotonic_points

    if method == "step-isotonic":
        return step_isotonic(raw, y)
    if method == "isotonic, unshrunk":
        points = isotonic_points(raw, y, prior_rows=0)
        assert points is not None
        return Calibrator("isotonic", points[0], points[1], strict=True)
    return fit_calibrator(method, raw, y)


def cross_fitted(method: str, raw: np.ndarray, y: np.ndarray, seed: int = 7) -> CrossFit:
    """Out-of-fold probabilities over 2 stratified folds, and per held fold the ROC-AUC of the
    raw score and of the probabilities (a calibrator judged on rows it was not fitted on)."""
    from sklearn.model_selection import StratifiedKFold

    from models.churn.metrics import roc_auc

    out = np.empty(len(raw))
    raw_auc, cal_auc, distinct = [], [], []
    for fit_rows, held in StratifiedKFold(2, shuffle=True, random_state=seed).split(raw, y):
        p = fit(method, raw[fit_rows], y[fit_rows]).probability(raw[held])  # type: ignore[attr-defined]
        out[held] = p
        raw_auc.append(roc_auc(y[held], raw[held]))
        cal_auc.append(roc_auc(y[held], p))
        distinct.append(len(np.unique(p)))
    return CrossFit(out, float(np.mean(raw_auc)), float(np.mean(cal_auc)), int(np.mean(distinct)))


@dataclass(frozen=True)
class CrossFit:
    """Out-of-fold probabilities and the held folds' mean ROC-AUC, raw and calibrated."""

    probability: np.ndarray
    raw_auc: float
    calibrated_auc: float
    distinct: int


def fightchurn(work: Path, folder: Path | None = None) -> Path | None:
    """Features of a fightchurn folder (default: the shared sample), weekly, labels up to the
    data end `features build` picks (2020-06-01 for socialnet7 runs: the last subscription
    start)."""
    from features.adapters.fightchurn import FightChurnSource
    from features.lake.store import Lake
    from features.members.build import build_member_features
    from features.members.definition import FeatureConfig
    from pipelines.ingest import ingest_source

    folder = folder or SHARED / "fightchurn_socialnet7_sample"
    if not folder.is_dir():
        return None
    lake = Lake(work / "lake")
    ingest_source(lake, FightChurnSource(folder))
    end = data_end(lake)
    build_member_features(lake, work / "features", every_days=7, config=FeatureConfig(data_end=end))
    return work / "features"


def data_end(lake: Lake) -> date:
    """The earliest of the tables' last days, as `features build` picks it."""
    from pipelines.steps import default_data_end

    found = default_data_end(lake).day
    assert found is not None, "the folder has no events"
    return found


def simulated(work: Path, seed: int) -> Path:
    """Features of a simulated community (3,000 members x 150 days), every 14 days."""
    from bench.churn import build_simulated_features

    return build_simulated_features(3_000, 150, seed, work)


def rows(name: str, features: Path, label: str) -> list[list[object]]:
    """One table row per calibrator on one data set."""
    from models.churn.config import ChurnConfig, LgbmParams
    from models.churn.dataset import feature_matrix, load_churn_data
    from models.churn.estimators import fit_estimator
    from models.churn.metrics import brier, ece

    data = load_churn_data(features, f"churned_{label}")
    config = ChurnConfig(label=label, model=LgbmParams(num_threads=1))  # type: ignore[arg-type]
    x = feature_matrix(data.train, data.feature_columns)
    estimator = fit_estimator(x, data.y_train, data.feature_columns, config.model, config.seed)
    raw = estimator.raw_score(feature_matrix(data.valid, data.feature_columns))
    y = data.y_valid
    out: list[list[object]] = []
    for method in METHODS:
        found = cross_fitted(method, raw, y)
        p = found.probability
        top = np.argsort(-p)[: max(len(p) // 100, 5)]
        out.append(
            [
                f"{name} ({data.valid_date}, {len(y):,} rows, {int(y.sum())} churners)",
                method,
                f"{len(np.unique(raw[: len(raw) // 2])):,}",
                f"{found.distinct:,}",
                f"{found.raw_auc:.4f}",
                f"{found.calibrated_auc:.4f}",
                f"{found.calibrated_auc - found.raw_auc:+.4f}",
                f"{brier(y, found.probability):.4f}",
                f"{ece(y, found.probability):.4f}",
                f"{p.max():.3f}",
                f"{p[top].mean():.3f} / {y[top].mean():.3f}",
            ]
        )
    return out


def main(argv: list[str] | None = None) -> None:
    """Print the comparison table."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fightchurn", nargs="*", type=Path, default=[], help="simulator run folders to add"
    )
    folders: list[Path] = parser.parse_args(argv).fightchurn
    table = Table(title="churn calibration: ranking kept and calibration quality")
    for column in (
        "data (validation date)",
        "calibrator",
        "distinct raw (per fold)",
        "distinct p (per fold)",
        "raw ROC-AUC (held folds)",
        "calibrated ROC-AUC (held folds)",
        "difference",
        "Brier (cross-fitted)",
        "ECE (cross-fitted)",
        "highest p",
        "top 1%: mean p / churned",
    ):
        table.add_column(column)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sets: list[tuple[str, Path | None, str]] = [
            ("fightchurn sample", fightchurn(work / "fightchurn"), "subscription")
        ]
        for seed in (7, 11):
            sets.append(
                (f"simulator seed {seed}", simulated(work / f"sim{seed}", seed), "activity")
            )
        for folder in folders:  # fightchurn simulator runs (socialnet7, crm5, ...)
            sets.append((folder.name, fightchurn(work / folder.name, folder), "subscription"))
        for name, features, label in sets:
            if features is None:
                continue  # the shared sample is not beside the project
            for row in rows(name, features, label):
                table.add_row(*map(str, row))
    Console(width=260).print(table)


if __name__ == "__main__":
    main()
