"""Identity bias of toxicity scores on template statements (features.text.identity_terms).

Per group: the share of its neutral (and of its positive and anti-discrimination) statements
at or above `review`, and the bias AUCs of the Jigsaw Unintended Bias challenge (Borkan et
al. 2019): subgroup AUC (toxic against clean statements about the group), BPSN (clean
statements about the group against toxic statements about the others: low when naming the
group raises the score) and BNSP (toxic about the group against clean about the others).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from models.toxicity.thresholds import lookup

if TYPE_CHECKING:
    from models.toxicity.scoring import ToxicityScorer


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def identity_bias(frame: pd.DataFrame, p: np.ndarray, review: np.ndarray) -> pd.DataFrame:
    """One row per group: flag rates at review by kind and the three bias AUCs.

    `frame` has `group`, `kind`, `toxicity`, `seen`, `lang` (identity_eval_frame); `p` the
    toxicity probability and `review` the review threshold of each row. Background rows for
    BPSN/BNSP are the other groups of the same language.
    """
    p = np.asarray(p, dtype=float)
    flagged = p >= np.asarray(review, dtype=float)
    y = frame["toxicity"].to_numpy().astype(int)
    rows = []
    keys = list(zip(frame["lang"].astype(str), frame["group"].astype(str), strict=True))
    for lang, group in dict.fromkeys(keys):
        inside = np.array([k == (lang, group) for k in keys])
        idx = np.flatnonzero(inside)
        others = ~inside & (frame["lang"] == lang).to_numpy()
        kind = frame["kind"].to_numpy()
        row: dict[str, object] = {
            "lang": lang,
            "group": group,
            "seen": bool(frame["seen"].to_numpy()[idx[0]]),
        }
        for k in ("neutral", "positive", "counter", "hostile"):
            rows_k = inside & (kind == k)
            row[f"flagged_{k}"] = float(flagged[rows_k].mean()) if rows_k.any() else float("nan")
        row["subgroup_auc"] = _auc(y[inside], p[inside])
        bpsn = (inside & (y == 0)) | (others & (y == 1))
        bnsp = (inside & (y == 1)) | (others & (y == 0))
        row["bpsn_auc"] = _auc(y[bpsn], p[bpsn])
        row["bnsp_auc"] = _auc(y[bnsp], p[bnsp])
        rows.append(row)
    return pd.DataFrame(rows)


def bias_summary(table: pd.DataFrame, max_flagged: float = 0.05, min_bpsn: float = 0.85) -> dict:
    """Per language and seen/unseen groups: worst neutral flag rate, worst BPSN, groups failing."""
    out: dict[str, dict[str, float | int | list[str]]] = {}
    for (lang, seen), part in table.groupby(["lang", "seen"]):
        failing = part[(part["flagged_neutral"] > max_flagged) | (part["bpsn_auc"] < min_bpsn)]
        out[f"{lang}:{'seen' if seen else 'unseen'}"] = {
            "groups": len(part),
            "max_flagged_neutral": float(part["flagged_neutral"].max()),
            "min_bpsn_auc": float(part["bpsn_auc"].min()),
            "min_subgroup_auc": float(part["subgroup_auc"].min()),
            "min_bnsp_auc": float(part["bnsp_auc"].min()),
            "failing": sorted(str(g) for g in failing["group"]),
        }
    return out


def pair_summary(frame: pd.DataFrame, p: np.ndarray, review: np.ndarray) -> pd.DataFrame:
    """Statements naming two groups at once, per language: the share of neutral, positive and
    hostile ones at or above review, the worst pair's neutral share, and the AUC of hostile
    against the rest (identity_pair_eval_frame's columns, as identity_bias)."""
    flagged = np.asarray(p, dtype=float) >= np.asarray(review, dtype=float)
    scored = frame.assign(p=np.asarray(p, dtype=float), flagged=flagged)
    rows = []
    for lang, part in scored.groupby("lang"):
        kind = part["kind"]
        neutral = part[kind == "neutral"]
        rows.append(
            {
                "lang": lang,
                "pairs": part["group"].nunique(),
                "flagged_neutral": float(neutral["flagged"].mean()),
                "worst_pair_neutral": float(neutral.groupby("group")["flagged"].mean().max()),
                "flagged_positive": float(part.loc[kind == "positive", "flagged"].mean()),
                "flagged_hostile": float(part.loc[kind == "hostile", "flagged"].mean()),
                "auc": _auc(part["toxicity"].to_numpy().astype(int), part["p"].to_numpy()),
            }
        )
    return pd.DataFrame(rows)


def _served(scorer: ToxicityScorer, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The scorer's toxicity probability and its own review cut for each row of `frame`."""
    probs, _ = scorer.predict_proba(frame["text"].tolist(), frame["lang"].tolist())
    p = probs[:, scorer.labels.index("toxicity")]
    cuts = {}
    for lang in frame["lang"].unique():
        found = lookup(scorer.thresholds, "toxicity", str(lang))
        cuts[lang] = np.inf if found is None else found.review
    return p, frame["lang"].map(cuts).to_numpy(dtype=float)


def served_identity_table(scorer: ToxicityScorer) -> pd.DataFrame:
    """Per group: flag rates at the scorer's toxicity review threshold and the bias AUCs."""
    from features.text.identity_terms import identity_eval_frame

    frame = identity_eval_frame()
    return identity_bias(frame, *_served(scorer, frame))


def served_pair_summary(scorer: ToxicityScorer, stacked: bool = False) -> pd.DataFrame:
    """pair_summary of the scorer on the held-out pair statements ("X and Y"; with `stacked`,
    English self-descriptions stacking two as adjectives), at its own review cuts."""
    from features.text.identity_terms import (
        identity_pair_eval_frame,
        identity_stacked_eval_frame,
    )

    frame = identity_stacked_eval_frame() if stacked else identity_pair_eval_frame()
    return pair_summary(frame, *_served(scorer, frame))
