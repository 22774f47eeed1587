"""Actions from probabilities: per label and language, thresholds chosen on validation data.

`block` starts at the lowest score where precision reaches the target (0.95 by default);
`review` at the highest score where recall still reaches its target (0.90). Each validation
source counts equally, so a corpus that is 80% toxic does not set the bar for one that is 10%;
with a stated prevalence, toxic and clean posts are reweighted to it, because precision
depends on how common toxic posts are and public corpora are far more toxic than a forum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

ACTIONS: tuple[str, ...] = ("allow", "review", "block")
POOLED = "*"


@dataclass(frozen=True)
class Thresholds:
    """Scores at or above `review` go to review, at or above `block` are blocked."""

    review: float
    block: float | None  # None: no score reached the precision target, so nothing is blocked

    def action(self, p: float) -> str:
        """The action for one probability."""
        if self.block is not None and p >= self.block:
            return "block"
        return "review" if p >= self.review else "allow"

    def to_dict(self) -> dict[str, float | None]:
        """JSON-ready form."""
        return {"review": self.review, "block": self.block}


def choose_thresholds(
    y: np.ndarray,
    p: np.ndarray,
    weights: np.ndarray | None = None,
    block_precision: float = 0.95,
    review_recall: float = 0.90,
) -> Thresholds:
    """Review and block thresholds meeting the recall and precision targets on (y, p)."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    w = np.ones_like(p) if weights is None else np.asarray(weights, dtype=float)
    if y.sum() == 0 or y.sum() == len(y):
        raise ValueError("thresholds need both toxic and non-toxic validation examples")
    from sklearn.metrics import precision_recall_curve

    # One point per distinct score (a threshold takes all tied scores or none); the last
    # precision/recall pair is sklearn's (1, 0) end point, not a threshold.
    precision, recall, cuts = precision_recall_curve(y, p, sample_weight=w)
    precision, recall = precision[:-1], recall[:-1]
    review = float(cuts[recall >= review_recall].max())
    meets = cuts[precision >= block_precision]
    block = float(meets.min()) if len(meets) else None
    return Thresholds(review=review, block=block)


def source_weights(
    sources: Sequence[str], y: np.ndarray | None = None, prevalence: float | None = None
) -> np.ndarray:
    """Every source the same total weight; with `prevalence`, positives then sum to it."""
    s = pd.Series(list(sources))
    w = (1.0 / s.map(s.value_counts())).to_numpy(dtype=float, copy=True)
    if prevalence is None or y is None:
        return w
    positive = np.asarray(y) == 1
    w[positive] *= prevalence / w[positive].sum()
    w[~positive] *= (1 - prevalence) / w[~positive].sum()
    return w


def fit_threshold_table(
    y: pd.DataFrame,
    p: pd.DataFrame,
    langs: Sequence[str],
    sources: Sequence[str],
    block_precision: float,
    review_recall: float,
    min_positives: int,
    prevalence: float | None = None,
) -> dict[str, dict[str, Thresholds]]:
    """Thresholds per label: one per language with enough positives, and a pooled fallback."""
    table: dict[str, dict[str, Thresholds]] = {}
    lang = np.asarray(langs)
    source = np.asarray(sources)
    for label in p.columns:
        known = y[label].notna().to_numpy() & p[label].notna().to_numpy()
        yl, pl = y[label].to_numpy(), p[label].to_numpy()
        per_lang: dict[str, Thresholds] = {}
        groups = [(POOLED, known), *((lg, known & (lang == lg)) for lg in np.unique(lang[known]))]
        for name, rows in groups:
            positives = yl[rows].sum()
            if positives < min_positives or rows.sum() - positives < min_positives:
                continue
            weights = source_weights(list(source[rows]), yl[rows], prevalence)
            per_lang[str(name)] = choose_thresholds(
                yl[rows], pl[rows], weights, block_precision, review_recall
            )
        if per_lang:
            table[str(label)] = per_lang
    return table


def lookup(
    table: Mapping[str, Mapping[str, Thresholds]], label: str, lang: str
) -> Thresholds | None:
    """The thresholds of a label for a language, else the pooled ones, else None."""
    per_lang = table.get(label, {})
    return per_lang.get(lang) or per_lang.get(POOLED)


def table_to_dict(
    table: Mapping[str, Mapping[str, Thresholds]],
) -> dict[str, dict[str, dict[str, float | None]]]:
    """JSON-ready form of a threshold table."""
    return {label: {lg: t.to_dict() for lg, t in per.items()} for label, per in table.items()}


def table_from_dict(
    raw: Mapping[str, Mapping[str, Mapping[str, float | None]]],
) -> dict[str, dict[str, Thresholds]]:
    """A threshold table back from its JSON form."""
    return {
        label: {lg: Thresholds(float(t["review"] or 0.0), t["block"]) for lg, t in per.items()}
        for label, per in raw.items()
    }
