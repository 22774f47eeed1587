"""What a registered churn model runs: raw feature rows -> probability, tier, reasons.

The batch scorer, the MLflow pyfunc and the HTTP API all call `ChurnScorer.score`, so a member
gets the same probability and reasons whichever way they are scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from features.scores.at_risk import TIERS
from models.churn.calibration import Calibrator
from models.churn.config import Tiers
from models.churn.dataset import feature_matrix
from models.churn.estimators import ChurnEstimator
from models.churn.reasons import Reasons, explain

CHUNK_ROWS = 131_072  # rows scored at once: bounds the contribution matrix in memory


@dataclass
class ChurnScorer:
    """A fitted estimator with its calibrator, tiers and reason settings."""

    estimator: ChurnEstimator
    calibrator: Calibrator
    feature_columns: list[str]
    tiers: Tiers
    interventions: dict[str, str]
    top_k: int
    label: str
    # Custom event types read as a risk in reasons (reasons.harm_events); a default, so that
    # models saved before it load with none.
    harm_events: frozenset[str] = frozenset()

    def probability(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probabilities only (no reasons)."""
        raw = self.estimator.raw_score(feature_matrix(frame, self.feature_columns))
        return self.calibrator.probability(raw)

    def tier(self, probability: np.ndarray) -> np.ndarray:
        """high / medium / low from the configured thresholds."""
        high, medium, low = TIERS
        return np.where(
            probability >= self.tiers.high,
            high,
            np.where(probability >= self.tiers.medium, medium, low),
        )

    def score(self, frame: pd.DataFrame, reasons: bool = True) -> pd.DataFrame:
        """One output row per input row (same index): probability, tier, reasons, interventions."""
        parts = []
        for start in range(0, max(len(frame), 1), CHUNK_ROWS):
            chunk = frame.iloc[start : start + CHUNK_ROWS]
            probability, found = self._score_chunk(chunk, reasons)
            out = pd.DataFrame(
                {"probability": probability, "tier": self.tier(probability)}, index=chunk.index
            )
            if found is not None:
                out["reasons"] = found.lists("texts")
                out["interventions"] = found.lists("interventions")
                out["intervention"] = found.first_intervention()
                out["drivers"] = found.lists("drivers")
            parts.append(out)
        return pd.concat(parts) if len(parts) > 1 else parts[0]

    def score_arrow(self, frame: pd.DataFrame) -> pa.Table:
        """score() as an Arrow table with list columns: the fast path for millions of members."""
        parts = []
        for start in range(0, max(len(frame), 1), CHUNK_ROWS):
            probability, found = self._score_chunk(frame.iloc[start : start + CHUNK_ROWS], True)
            assert found is not None
            columns = {
                "probability": pa.array(probability, pa.float64()),
                "tier": pa.array(self.tier(probability), pa.string()),
                "reasons": found.arrow("texts"),
                "interventions": found.arrow("interventions"),
                "intervention": pa.array(found.first_intervention(), pa.string()),
                "drivers": found.arrow("drivers"),
            }
            parts.append(pa.table(columns))
        return pa.concat_tables(parts)

    def _score_chunk(self, frame: pd.DataFrame, reasons: bool) -> tuple[np.ndarray, Reasons | None]:
        """Calibrated probabilities and (optionally) the reasons of one chunk of rows."""
        x = feature_matrix(frame, self.feature_columns)
        probability = self.calibrator.probability(self.estimator.raw_score(x))
        if not reasons:
            return probability, None
        contrib, _ = self.estimator.contributions(x)
        index = {c: i for i, c in enumerate(self.feature_columns)}
        found = explain(
            lambda c: x[:, index[c]],
            contrib,
            self.feature_columns,
            self.interventions,
            self.top_k,
            self.harm_events,
        )
        return probability, found
