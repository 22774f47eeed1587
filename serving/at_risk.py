"""The latest at-risk table, held in memory: one member by id, or filtered pages of members."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TIERS = ("high", "medium", "low")


@dataclass
class AtRiskTable:
    """Rows of `steward score members`, highest probability first, indexed by member_id."""

    frame: pd.DataFrame
    path: Path
    attributes: list[dict[str, Any]]
    index: dict[str, int]

    @classmethod
    def read(cls, path: Path) -> AtRiskTable:
        """Read the table the batch pipeline wrote (same reader as `steward at-risk`)."""
        from pipelines.churn import at_risk

        frame = at_risk(path=path).reset_index(drop=True)
        attributes = [_parse(a) for a in frame["attributes"]]
        index = {str(m): i for i, m in enumerate(frame["member_id"])}
        return cls(frame, path, attributes, index)

    @functools.cached_property
    def synthetic_note(self) -> str | None:
        """Says the members are the simulator's (all or some), or None when none is."""
        from features.provenance import synthetic_note

        return synthetic_note(self.attributes)

    @property
    def as_of(self) -> date | None:
        """The observation date the table was scored at."""
        return _day(self.frame["as_of"].iloc[0]) if len(self.frame) else None

    @property
    def model_version(self) -> str | None:
        """The churn model version that scored the table."""
        return str(self.frame["model_version"].iloc[0]) if len(self.frame) else None

    def member(self, member_id: str) -> dict[str, Any] | None:
        """One member's row, or None when the member was not scored."""
        i = self.index.get(member_id)
        return None if i is None else self.row(i)

    def row(self, i: int) -> dict[str, Any]:
        """Row i as plain Python values."""
        r = self.frame.iloc[i]
        return {
            "member_id": str(r["member_id"]),
            "probability": float(r["probability"]),
            "tier": str(r["tier"]),
            "reasons": [str(x) for x in r["reasons"]],
            "interventions": [str(x) for x in r["interventions"]],
            "intervention": None if pd.isna(r["intervention"]) else str(r["intervention"]),
            "as_of": _day(r["as_of"]),
            "model_name": str(r["model_name"]),
            "model_version": str(r["model_version"]),
            "scored_at": pd.Timestamp(r["scored_at"]).to_pydatetime(),
            "attributes": self.attributes[i],
        }

    def select(
        self,
        tier: str | None = None,
        min_probability: float | None = None,
        segment: dict[str, str] | None = None,
    ) -> np.ndarray:
        """Positions of the rows that pass the filters, in table order (highest risk first)."""
        keep = np.ones(len(self.frame), dtype=bool)
        if tier is not None:
            keep &= (self.frame["tier"] == tier).to_numpy()
        if min_probability is not None:
            keep &= (self.frame["probability"] >= min_probability).to_numpy()
        for key, value in (segment or {}).items():
            # Attribute values are compared as text, as `steward at-risk --segment` does.
            keep &= np.fromiter(
                (_text(a.get(key)) == value for a in self.attributes), bool, len(self.attributes)
            )
        return np.flatnonzero(keep)


def _parse(raw: object) -> dict[str, Any]:
    """A member's attributes JSON as a dict ({} when absent or not an object)."""
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        found = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def _text(value: object) -> str | None:
    """An attribute value as json_extract_string gives it."""
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _day(value: object) -> date:
    """A date from the Parquet date column, whatever pandas made of it."""
    if isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    return pd.Timestamp(str(value)).date()
