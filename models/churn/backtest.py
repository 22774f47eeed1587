"""Rolling-origin backtest: the training procedure repeated with each of the last k dates as
validation date. One validation date of a small community holds a few dozen churners, so
one AUC is noisy; the mean over several dates is what model choices should rest on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from models.churn.config import ChurnConfig
from models.churn.dataset import complete_dates, load_churn_data, read_metadata
from models.churn.labels import choose_label
from models.churn.train import fit_churn_model

REPORTED = ("roc_auc", "pr_auc", "lift_top_decile", "brier", "ece")
# 95% bootstrap intervals of each date's ROC-AUC and lift, as training reports them.
INTERVALS = ("roc_auc_ci_low", "roc_auc_ci_high", "lift_ci_low", "lift_ci_high")


@dataclass(frozen=True)
class Backtest:
    """Metrics per validation date (with the date's rows, churners and training dates) and
    their means."""

    dates: list[date]
    per_date: list[dict[str, float]]

    def mean(self) -> dict[str, float]:
        """Each metric averaged over the validation dates."""
        return {m: float(np.mean([d[m] for d in self.per_date])) for m in REPORTED}


def backtest(config: ChurnConfig, features: Path, folds: int = 4) -> Backtest:
    """Train and evaluate once per validation date among the last `folds` labelled dates."""
    metadata = read_metadata(features)
    config, _ = choose_label(config, metadata)
    candidates = complete_dates(metadata)
    found: list[date] = []
    per_date: list[dict[str, float]] = []
    for day in candidates[::-1]:
        if len(found) == folds:
            break
        try:
            data = load_churn_data(
                features,
                config.label_column,
                config.validation.embargo_days,
                exclude=config.features_exclude,
                valid_date=day,
            )
        except ValueError:
            continue  # no labels of this kind that day, or no training dates before it
        metrics = fit_churn_model(config, data, serve=False).metrics
        counts = {
            "valid_rows": float(len(data.valid)),
            "valid_churners": float(data.y_valid.sum()),
            "train_dates": float(len(data.train_dates)),
        }
        kept = [m for m in (*REPORTED, *INTERVALS) if m in metrics]
        per_date.append({**{m: metrics[m] for m in kept}, **counts})
        found.append(day)
    if not found:
        raise ValueError(f"no date of the features at {features} can be backtested")
    return Backtest(found[::-1], per_date[::-1])
