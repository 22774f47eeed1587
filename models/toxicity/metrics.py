"""Quality of toxicity scores: ROC-AUC, PR-AUC and F1 at the chosen thresholds, by group.

Groups are the whole split, each source (corpus) and each language; plots are PR curves
per source and confusion matrices at the review and block thresholds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from models.toxicity.thresholds import Thresholds, lookup

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from models.toxicity.scoring import EnglishRoute

Table = Mapping[str, Mapping[str, Thresholds]]


def threshold_arrays(
    table: Table, label: str, routed: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Review and block threshold per row (inf where a row's language has none)."""
    review = np.full(len(routed), np.inf)
    block = np.full(len(routed), np.inf)
    for lang in set(routed):
        limits = lookup(table, label, lang)
        rows = np.asarray(routed) == lang
        if limits is not None:
            review[rows] = limits.review
            block[rows] = np.inf if limits.block is None else limits.block
    return review, block


def label_metrics(
    y: np.ndarray, p: np.ndarray, review: np.ndarray, block: np.ndarray
) -> dict[str, float]:
    """ROC-AUC, PR-AUC and F1/precision/recall at the review and block thresholds."""
    out = {"n": float(len(y)), "positives": float(y.sum())}
    if 0 < y.sum() < len(y):
        out["roc_auc"] = float(roc_auc_score(y, p))
        out["pr_auc"] = float(average_precision_score(y, p))
    for name, cut in (("review", review), ("block", block)):
        flagged = p >= cut
        out[f"f1_{name}"] = float(f1_score(y, flagged, zero_division=0))
        hits = float((flagged & (y == 1)).sum())
        out[f"precision_{name}"] = hits / flagged.sum() if flagged.any() else float("nan")
        out[f"recall_{name}"] = hits / y.sum() if y.sum() else float("nan")
    return out


def evaluate(
    frame: pd.DataFrame, probs: pd.DataFrame, routed: Sequence[str], table: Table
) -> pd.DataFrame:
    """One row per (split, group, label) with its metrics; groups: all, source:*, lang:*."""
    rows = []
    routed_arr = np.asarray(routed)
    for label in probs.columns:
        review, block = threshold_arrays(table, label, list(routed_arr))
        for split in sorted(frame["split"].unique()):
            in_split = (frame["split"] == split).to_numpy()
            groups = {"all": in_split}
            groups |= {
                f"source:{s}": in_split & (frame["source"] == s).to_numpy()
                for s in frame["source"].unique()
            }
            groups |= {
                f"lang:{lg}": in_split & (frame["lang"] == lg).to_numpy()
                for lg in frame["lang"].unique()
            }
            for group, mask in groups.items():
                known = mask & frame[label].notna().to_numpy() & probs[label].notna().to_numpy()
                if known.sum() == 0:
                    continue
                y = frame[label].to_numpy()[known].astype(int)
                p = probs[label].to_numpy()[known]
                metrics = label_metrics(y, p, review[known], block[known])
                rows.append({"split": split, "group": group, "label": label, **metrics})
    return pd.DataFrame(rows)


def metric_key(row: Mapping[Any, object], metric: str) -> str:
    """MLflow metric name, e.g. test/source-davidson/toxicity/roc_auc."""
    group = str(row["group"]).replace(":", "-")
    return f"{row['split']}/{group}/{row['label']}/{metric}"


def pr_curve_figure(frame: pd.DataFrame, probs: pd.DataFrame, split: str, label: str) -> Figure:
    """Precision-recall curves of one label on one split, one line per source."""
    from matplotlib.figure import Figure
    from sklearn.metrics import precision_recall_curve

    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    for source in sorted(frame["source"].unique()):
        mask = (
            (frame["split"] == split)
            & (frame["source"] == source)
            & frame[label].notna()
            & probs[label].notna()
        )
        y = frame.loc[mask, label].to_numpy().astype(int)
        if mask.sum() == 0 or y.sum() in (0, len(y)):
            continue
        precision, recall, _ = precision_recall_curve(y, probs.loc[mask, label])
        ax.plot(
            recall,
            precision,
            label=f"{source} (AP {average_precision_score(y, probs.loc[mask, label]):.3f})",
        )
    ax.set(xlabel="recall", ylabel="precision", title=f"{label} on {split}", ylim=(0, 1.02))
    ax.legend(loc="lower left", fontsize=8)
    return fig


def confusion_figure(
    frame: pd.DataFrame,
    probs: pd.DataFrame,
    routed: Sequence[str],
    table: Table,
    split: str,
    label: str,
) -> Figure:
    """Confusion matrices per source at the review and block thresholds."""
    from matplotlib.figure import Figure

    review, block = threshold_arrays(table, label, list(routed))
    sources = sorted(frame.loc[frame["split"] == split, "source"].unique())
    fig = Figure(figsize=(3 * max(len(sources), 1), 5.5))
    axes = np.atleast_2d(fig.subplots(2, max(len(sources), 1), squeeze=False))
    for col, source in enumerate(sources):
        mask = (
            (frame["split"] == split)
            & (frame["source"] == source)
            & frame[label].notna()
            & probs[label].notna()
        ).to_numpy()
        y = frame[label].to_numpy()[mask].astype(int)
        for row, (name, cut) in enumerate((("review", review), ("block", block))):
            flagged = probs[label].to_numpy()[mask] >= cut[mask]
            cm = np.array([[((y == t) & (flagged == f)).sum() for f in (0, 1)] for t in (0, 1)])
            ax = axes[row, col]
            ax.imshow(cm, cmap="Blues")
            for (i, j), v in np.ndenumerate(cm):
                ax.text(j, i, f"{v:,}", ha="center", va="center")
            ax.set(
                xticks=[0, 1],
                yticks=[0, 1],
                xticklabels=["ok", name],
                yticklabels=["clean", "toxic"],
            )
            ax.set_title(f"{source}: {name}", fontsize=9)
    fig.tight_layout()
    return fig


def compare_english_routes(
    held: pd.DataFrame,
    combine: Callable[[EnglishRoute], np.ndarray],
    labels: Sequence[str],
    routed: Sequence[str],
    table: Table,
) -> pd.DataFrame:
    """English held-out quality of the linear model, the transformer and their average.

    `combine(route)` gives every row's probabilities for that route. Only ROC-AUC and PR-AUC
    compare fairly: the thresholds belong to the route being served.
    """
    english = np.asarray(routed) == "en"
    parts = []
    for route in ("linear", "transformer", "ensemble"):
        frame = pd.DataFrame(
            combine(route)[english], columns=list(labels), index=held.index[english]
        )
        result = evaluate(held[english], frame, ["en"] * int(english.sum()), table)
        result = result[result["group"].str.startswith("source:") | (result["group"] == "lang:en")]
        parts.append(result.assign(model=route, group=route + "." + result["group"]))
    return pd.concat(parts, ignore_index=True)
