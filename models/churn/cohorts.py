"""Behavioural cohorts ("Fighting Churn With Data", chapter 5): members grouped by how much of
one behaviour they show, with the share of each group that churned and an interval.

What the book has retention teams read first: not a model's weights but how often members who
log in this often leave. Cohorts are quantile groups of one feature over labelled rows (a churn
run: every one up to its validation date); equal values always share a cohort (a feature that is 0 for half the
rows gives one cohort of zeros) and a missing value ("never posted") is a cohort of its own.
Intervals resample members, not rows (a member drawn twice counts twice on each of their dates):
one member appears on many dates, so resampling rows would count them as independent and make
the intervals too narrow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.churn.wording import format_value, missing_word

GROUPS = 10
RESAMPLES = 200
LEVEL = 0.95


@dataclass(frozen=True)
class Cohort:
    """Rows whose value lies in [low, high] (both None: the value is missing)."""

    low: float | None
    high: float | None
    rows: int
    churners: int
    rate: float
    rate_low: float  # the rate's interval, members resampled
    rate_high: float


def cohort_codes(values: np.ndarray, groups: int = GROUPS) -> np.ndarray:
    """Each row's cohort: 0.. by value (quantile edges, equal values together), -1 if missing."""
    values = np.asarray(values, dtype=np.float64)
    known = ~np.isnan(values)
    if not known.any():
        return np.full(len(values), -1, dtype=np.int64)
    inner = np.linspace(0, 1, groups + 1)[1:-1]
    edges = np.unique(np.quantile(values[known], inner))
    codes = np.searchsorted(edges, values, side="right").astype(np.int64)
    codes[~known] = -1
    # Renumber the non-empty cohorts 0.. in value order (repeated edges leave gaps).
    used = np.unique(codes[known])
    codes[known] = np.searchsorted(used, codes[known])
    return codes


def cohorts(
    values: np.ndarray,
    y: np.ndarray,
    members: np.ndarray,
    groups: int = GROUPS,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> list[Cohort]:
    """One feature's cohorts in value order (the missing cohort last), with churn rates."""
    values = np.asarray(values, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if not len(values):
        return []
    codes = cohort_codes(values, groups)
    slot = np.where(codes < 0, codes.max(initial=-1) + 1, codes)  # missing: the last slot
    n_slots = int(slot.max()) + 1
    member, n_members = _member_codes(members)
    # Rows and churners per member and cohort: resampling members reweights these cells.
    cell = member * n_slots + slot
    rows = np.bincount(cell, minlength=n_members * n_slots).reshape(n_members, n_slots)
    churn = np.bincount(cell, weights=y, minlength=n_members * n_slots).reshape(n_members, n_slots)
    boot = _resampled_rates(rows, churn, resamples, seed)
    tail = (1 - LEVEL) / 2
    missing_slot = n_slots - 1 if (codes < 0).any() else None
    out = []
    for s in range(n_slots):
        chosen = slot == s
        missing = s == missing_slot
        picked = values[chosen]
        drawn = boot[:, s][~np.isnan(boot[:, s])]
        # A cohort no resample drew (one or two members) has no interval: say anything, 0-1.
        low, high = np.quantile(drawn, [tail, 1 - tail]) if len(drawn) else (0.0, 1.0)
        out.append(
            Cohort(
                low=None if missing else float(picked.min()),
                high=None if missing else float(picked.max()),
                rows=int(chosen.sum()),
                churners=int(y[chosen].sum()),
                rate=float(y[chosen].mean()),
                rate_low=float(low),
                rate_high=float(high),
            )
        )
    return out


def _resampled_rates(rows: np.ndarray, churn: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Each cohort's churn rate with members drawn with replacement: resamples x cohorts (NaN
    where a resample drew none of a cohort's members). Weights come in blocks of about 5
    million, so a community of millions of members needs tens of megabytes, not gigabytes."""
    rng = np.random.default_rng(seed)
    n = len(rows)
    rows, churn = rows.astype(np.float64), churn.astype(np.float64)  # BLAS, not integer loops
    block = max(1, 5_000_000 // max(n, 1))
    out = []
    for start in range(0, resamples, block):
        size = min(block, resamples - start)
        # How often each member was drawn (5x faster than Poisson weights at 600k members).
        drawn = [np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(size)]
        weights = np.stack(drawn).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append((weights @ churn) / (weights @ rows))
    return np.vstack(out) if out else np.empty((0, rows.shape[1]))


def _member_codes(members: np.ndarray) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(pd.Series(members), sort=False)
    return codes.astype(np.int64), len(uniques)


def cohort_report(
    rows: pd.DataFrame, label: str, features: Sequence[str], groups: int = GROUPS
) -> dict[str, Any]:
    """Cohorts of each feature over labelled rows (member_id, the features, the label)."""
    labelled = rows[rows[label].notna()]
    y = labelled[label].to_numpy(dtype=np.float64)
    members = labelled["member_id"].to_numpy()
    return {
        "label": label,
        "rows": len(labelled),
        "members": int(pd.Series(members).nunique()),
        "churn_rate": float(y.mean()) if len(y) else float("nan"),
        "interval": f"{LEVEL:.0%}, members resampled {RESAMPLES} times",
        "features": {
            f: [asdict(c) for c in cohorts(labelled[f].to_numpy(np.float64), y, members, groups)]
            for f in features
        },
    }


def extremes(groups: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cohorts with the highest and the lowest churn rate."""
    ranked = sorted(groups, key=lambda c: c["rate"])
    return ranked[-1], ranked[0]


def cohort_range(feature: str, cohort: dict[str, Any]) -> str:
    """A cohort's values as the reasons print them: "0", "3-7", or "never" when missing."""
    low, high = cohort["low"], cohort["high"]
    if low is None or high is None:
        return missing_word(feature)
    first, last = format_value(feature, low), format_value(feature, high)
    return first if first == last else f"{first}-{last}"


def cohort_lines(report: dict[str, Any], top: int = 3) -> list[str]:
    """One line per feature: the cohorts that churn most and least, against all members."""
    lines = []
    for feature, groups in list(report["features"].items())[:top]:
        worst, best = extremes(groups)
        lines.append(
            f"cohorts by {feature}: {_share(worst)} of members {_where(feature, worst)} churned, "
            f"{_share(best)} {_where(feature, best)}; all members {report['churn_rate']:.1%}"
        )
    return lines


def _where(feature: str, cohort: dict[str, Any]) -> str:
    if cohort["low"] is None:
        return f"with it missing ({missing_word(feature)})"
    return f"at {cohort_range(feature, cohort)}"


def _share(cohort: dict[str, Any]) -> str:
    return (
        f"{cohort['rate']:.1%} ({cohort['rate_low']:.1%}-{cohort['rate_high']:.1%}, "
        f"{cohort['rows']:,} rows)"
    )
