"""Training and validation frames from the member features, split out of time.

Labels are used only on complete dates: as_of + horizon <= data_end. On later dates the feature
build may already know some churners (their subscription ended before data_end) but not who
stayed, so their labelled rows are nearly all positives: training or validating on them would
bias both. Validation is the latest complete date; training uses every earlier date whose label
window closes on or before the validation date less the embargo (as_of + horizon + embargo <=
validation date), so no training label reaches past the validation date, even at embargo 0.
The served model may then be refitted on every labelled date up to the validation date
(`refit`): the metrics are the held-out model's, the served one learns from the freshest labels.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from features.members.definition import feature_columns
from features.members.store import METADATA, built_with, read_features

KEYS = ("member_id", "as_of")


@dataclass(frozen=True)
class ChurnData:
    """Out-of-time training and validation rows of one label."""

    train: pd.DataFrame
    valid: pd.DataFrame
    label: str
    feature_columns: list[str]
    train_dates: list[date]
    valid_date: date
    metadata: dict[str, Any] = field(default_factory=dict)
    label_reason: str = ""  # why this label (label: auto), for the output and the run
    # Every labelled row on the complete dates up to valid_date: what the served model refits on.
    refit: pd.DataFrame | None = None
    refit_dates: list[date] = field(default_factory=list)

    @property
    def labelled_parts(self) -> tuple[pd.DataFrame, ...]:
        """Every labelled row up to the validation date: the refit rows (they hold the training
        and validation rows), or those two where there are none."""
        return (self.train, self.valid) if self.refit is None else (self.refit,)

    @property
    def labels_through(self) -> date:
        """The last day of any label a model trained on these rows saw: the validation date's
        window (training windows close before it; the refit and the calibrator use it)."""
        horizon = int(self.metadata.get("config", {}).get("horizon_days", 0))
        return self.valid_date + timedelta(days=horizon)

    @property
    def y_train(self) -> np.ndarray:
        """Training labels as 0/1 integers."""
        return self.train[self.label].to_numpy(dtype=np.int64)

    @property
    def y_valid(self) -> np.ndarray:
        """Validation labels as 0/1 integers."""
        return self.valid[self.label].to_numpy(dtype=np.int64)


def read_metadata(features: Path) -> dict[str, Any]:
    """The feature build's _features.json; a clear error when the folder is not a build."""
    path = Path(features) / METADATA
    if not path.is_file():
        raise ValueError(
            f"no member features at {features}: run `steward features build --every 14d` first"
        )
    return dict(json.loads(path.read_text()))


def complete_dates(metadata: dict[str, Any]) -> list[date]:
    """Observation dates whose whole label window lies within the data."""
    config = metadata["config"]
    horizon = timedelta(days=int(config["horizon_days"]))
    end = date.fromisoformat(config["data_end"])
    return [d for d in map(date.fromisoformat, metadata["as_of"]) if d + horizon <= end]


def select_columns(columns: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """The columns no exclude pattern matches; a pattern matching nothing is an error (a typo)."""
    for pattern in exclude:
        if not any(fnmatch.fnmatchcase(c, pattern) for c in columns):
            raise ValueError(f"features_exclude: {pattern!r} matches no feature column")
    kept = [c for c in columns if not any(fnmatch.fnmatchcase(c, p) for p in exclude)]
    if not kept:
        raise ValueError("features_exclude leaves no feature column to train on")
    return kept


class Minimums(Protocol):
    """The least churners and stayers a validation date must hold (ValidationSettings)."""

    min_churners: int
    min_stayers: int


def load_churn_data(
    features: Path,
    label: str,
    embargo_days: int | None = None,
    valid_date: date | None = None,
    exclude: Sequence[str] = (),
    minimums: Minimums | None = None,
) -> ChurnData:
    """Labelled rows of complete dates, split: the latest (or valid_date) validates; training
    uses every date whose label window closes embargo_days (None: 0) before it."""
    metadata = read_metadata(features)
    expected = feature_columns(built_with(metadata))
    columns = list(metadata.get("feature_columns", expected))
    if columns != expected:
        raise ValueError(
            f"the features at {features} were built with other feature columns: rebuild them"
        )
    columns = select_columns(columns, exclude)
    dates = complete_dates(metadata)
    horizon = int(metadata["config"]["horizon_days"])
    embargo = 0 if embargo_days is None else embargo_days
    frame = read_features(features, dates).to_pandas()
    frame = frame[frame[label].notna()]
    labelled = sorted(set(frame["as_of"]))
    if not labelled:
        raise ValueError(f"no {label} labels at {features}: the data may be too short for them")
    if valid_date is None:
        valid_date = labelled[-1]
    elif valid_date not in labelled:
        raise ValueError(
            f"{valid_date} is not a complete labelled date of the features at {features}"
        )
    valid = frame[frame["as_of"] == valid_date].reset_index(drop=True)
    if minimums is not None:
        check_minimums(valid[label].to_numpy(dtype=np.int64), valid_date, label, minimums)
    closes = timedelta(days=horizon + embargo)
    train_dates = [d for d in labelled if d + closes <= valid_date]
    if not train_dates:
        raise ValueError(
            f"no {label} training dates before {valid_date}: a training date's {horizon}-day "
            f"label window (plus an embargo of {embargo} days) must close by then, and the "
            f"earliest labelled date is {labelled[0]}; build features over a longer history "
            "(--from an earlier date) or more often (--every 7d)"
        )
    train = frame[frame["as_of"].isin(train_dates)].reset_index(drop=True)
    for name, part in (("training", train), ("validation", valid)):
        if part[label].nunique() < 2:
            raise ValueError(f"the {name} rows of {label} have a single class: cannot fit or score")
    refit_dates = [d for d in labelled if d <= valid_date]
    refit = frame[frame["as_of"].isin(refit_dates)].reset_index(drop=True)
    return ChurnData(
        train, valid, label, columns, train_dates, valid_date, metadata, "", refit, refit_dates
    )


def check_minimums(y: np.ndarray, day: date, label: str, minimums: Minimums) -> None:
    """A clear error naming the date, the counts and the fix when a validation date is thin."""
    churners, stayers = int(y.sum()), int(len(y) - y.sum())
    if churners >= minimums.min_churners and stayers >= minimums.min_stayers:
        return
    raise ValueError(
        f"the validation date {day} has {churners} {label} churners and {stayers} stayers; "
        f"at least {minimums.min_churners} churners and {minimums.min_stayers} stayers are "
        "needed to judge a model. Fix: validate on an earlier date with more members "
        "(--data-end DATE on `features build`), build dates more often (--every 7d), build "
        "over a longer history (--from DATE), or lower validation.min_churners / "
        "validation.min_stayers (--set)"
    )


def load_scoring_rows(features: Path, as_of: date | None = None) -> tuple[pd.DataFrame, date]:
    """Every member row at as_of (default: the latest observation date), labels or not."""
    metadata = read_metadata(features)
    written = sorted(map(date.fromisoformat, metadata["as_of"]))
    if not written:
        raise ValueError(f"the features at {features} have no observation dates")
    day = as_of or written[-1]
    if day not in written:
        shown = ", ".join(d.isoformat() for d in written[-5:])
        raise ValueError(
            f"no features as of {day}; built dates end with {shown} "
            f"(build it with `steward features build --as-of {day}`)"
        )
    return read_features(features, [day]).to_pandas(), day


def feature_matrix(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The feature columns as a float64 matrix, NULL as NaN."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"member rows lack feature columns {missing[:5]}")
    return frame[columns].to_numpy(dtype=np.float64, na_value=np.nan)


def fingerprint(data: ChurnData) -> dict[str, Any]:
    """What identifies the data a model saw: snapshot, dates, rows, labels and a content hash."""
    digest = hashlib.sha256()
    # Refit rows hold the training and validation rows (the dates below say which are which).
    for part in data.labelled_parts:
        keyed = part[[*KEYS, *data.feature_columns, data.label]]
        digest.update(pd.util.hash_pandas_object(keyed, index=False).to_numpy().tobytes())
    return {
        "lake_snapshot": data.metadata.get("lake_snapshot"),
        "feature_definition_version": data.metadata.get("feature_definition_version"),
        "feature_build_created_at": data.metadata.get("created_at"),
        "feature_config": data.metadata.get("config"),
        "label": data.label,
        "label_reason": data.label_reason,
        "train_dates": [d.isoformat() for d in data.train_dates],
        "valid_date": data.valid_date.isoformat(),
        "train_rows": len(data.train),
        "valid_rows": len(data.valid),
        "train_positives": int(data.y_train.sum()),
        "valid_positives": int(data.y_valid.sum()),
        **_refit_counts(data),
        "content_sha256": digest.hexdigest(),
    }


def _refit_counts(data: ChurnData) -> dict[str, Any]:
    """The rows a served refit learns from (none without refit rows)."""
    if data.refit is None:
        return {}
    return {
        "refit_dates": [d.isoformat() for d in data.refit_dates],
        "refit_rows": len(data.refit),
        "refit_positives": int(data.refit[data.label].to_numpy(dtype=np.int64).sum()),
    }
