"""Backtest from the scored history: what the scores said then against the labels known now.

`steward score members --from --to` keeps each date's scores; once a date's label window has
closed (a later feature build with a later data end), its scores are judged: ROC-AUC, PR-AUC
and top-decile lift per date, with bootstrap confidence intervals. Dates whose labels are still
open are listed as such, not judged; so are dates scored in hindsight, by a version that had
learned labels past them (its training, validation or refit reached beyond the date): their
scores would describe rows the model learned, not what it would have said then.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from features.members.store import read_features
from features.scores.history import history_dates, read_scored
from models.churn.dataset import complete_dates, read_metadata
from models.churn.metrics import bootstrap_intervals, ranking_metrics


@dataclass(frozen=True)
class ScoredDate:
    """One scored date judged against its closed labels (metrics empty: not judged, see note)."""

    as_of: date
    label: str
    model_versions: str
    rows: int
    churners: int
    metrics: dict[str, float]
    note: str = ""


def backtest_history(
    history: Path,
    features: Path,
    learned: Callable[[str, str, int], date | None],
    resamples: int = 200,
    seed: int = 0,
) -> list[ScoredDate]:
    """Each scored date against the labels of the feature build at features; learned gives
    the last label day a (model name, version, label horizon) learned (None: unknown, judged)."""
    metadata = read_metadata(features)
    closed = set(complete_dates(metadata))
    horizon = int(metadata["config"]["horizon_days"])
    through = functools.cache(lambda name, version: learned(name, version, horizon))
    out = []
    for day in history_dates(history):
        scores = read_scored(history, day)
        label = str(scores["label"].iloc[0]) if len(scores) else "activity"
        versions = ",".join(sorted(set(scores["model_version"].astype(str))))
        if day not in closed:
            note = "labels not closed yet (rebuild the features with a later data end)"
            out.append(ScoredDate(day, label, versions, len(scores), 0, {}, note))
            continue
        column = f"churned_{label}"
        labels = read_features(features, [day]).select(["member_id", column]).to_pandas()
        joined = scores.merge(labels.dropna(), on="member_id", how="inner")
        y = joined[column].to_numpy(dtype=np.int64)
        p = joined["probability"].to_numpy(dtype=np.float64)
        churners = int(y.sum())
        note = _hindsight(scores, day, through)
        if not note and (churners == 0 or churners == len(y)):
            note = "one class only among the scored members: nothing to rank"
        if note:
            out.append(ScoredDate(day, label, versions, len(y), churners, {}, note))
            continue
        metrics = {**ranking_metrics(y, p), **bootstrap_intervals(y, p, resamples, seed)}
        out.append(ScoredDate(day, label, versions, len(y), churners, metrics))
    return out


def _hindsight(scores: pd.DataFrame, day: date, through: Callable[[str, str], date | None]) -> str:
    """Why day's scores are in hindsight (a version that scored them learned labels past day),
    or "" when every version had learned only labels up to day."""
    pairs = scores[["model_name", "model_version"]].astype(str).drop_duplicates()
    for name, version in pairs.itertuples(index=False):
        last = through(name, version)
        if last is not None and last > day:
            return (
                f"in hindsight: v{version} learned labels up to {last}; to backtest {day}, "
                f"`train churn --backtest 4`, or train on data ending by then (`features build "
                f"--data-end {day}`, `train churn`) and score with that version (`score "
                f"members --model-version N`)"
            )
    return ""
