"""The at-risk table: where it lives, how it is published, read and filtered.

`steward score members` writes it, `steward at-risk` and the server read it: all through this
module, so the CLI and the HTTP API filter the same rows the same way.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from features.storage.catalog import Catalog
from features.storage.locks import exclusive_lock
from features.storage.publish import replace_file

Tier = Literal["high", "medium", "low"]
TIERS: tuple[str, ...] = get_args(Tier)
AT_RISK_COLUMNS = (
    "member_id",
    "as_of",
    "probability",
    "tier",
    "reasons",
    "interventions",
    "intervention",
    "drivers",
    "model_name",
    "model_version",
    "label",
    "scored_at",
    "attributes",
)
LIST_COLUMNS = ("reasons", "interventions", "drivers")
SEGMENT_KEY = re.compile(r"^[A-Za-z0-9_]+$")


def at_risk_path() -> Path:
    """Where the at-risk table lives: STEWARD_HOME/scores/at_risk.parquet."""
    return Catalog.default().at_risk


def write_at_risk(table: Any, path: Path | None = None) -> Path:
    """Write the table beside its final place, then os.replace it in: readers never see half."""
    import pyarrow.parquet as pq

    return publish_at_risk(lambda aside: pq.write_table(table, aside, compression="zstd"), path)


def publish_at_risk(write: Callable[[Path], object], path: Path | None = None) -> Path:
    """Let `write` fill a file (or use a folder of that name) aside, then swap the file in."""
    path = path or at_risk_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(path.parent):
        # One writer at a time, so that what is aside under the lock is a killed writer's.
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            else:
                stale.unlink(missing_ok=True)
        replace_file(path, write, "score.written_aside")
    return path


def parse_pairs(pairs: Sequence[str], what: str, example: str) -> dict[str, str]:
    """KEY=VALUE pairs (--segment, segment=, --map); anything else a ValueError saying so."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{what} {pair!r} is not KEY=VALUE (e.g. {example})")
        out[key.strip()] = value.strip()
    return out


def parse_segment(
    pairs: Sequence[str], what: str = "--segment", example: str = "channel=ios"
) -> dict[str, str]:
    """Segment filters as KEY=VALUE pairs of member attributes."""
    return parse_pairs(pairs, what, example)


def at_risk_date(path: Path | None = None) -> date | None:
    """The date the at-risk table holds; None when there is none or it cannot be read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = path or at_risk_path()
    try:
        column = pq.ParquetFile(path).read_row_group(0, columns=["as_of"]).column(0)
    except (OSError, pa.ArrowException, IndexError, KeyError):
        return None  # absent or damaged: whatever is scored next may replace it
    return _day(column[0].as_py()) if len(column) else None


def read_at_risk(path: Path | None = None) -> pd.DataFrame:
    """The whole table, highest probability first; a clear error when nothing was scored."""
    import duckdb

    path = path or at_risk_path()
    if not path.is_file():
        raise ValueError(f"no at-risk table at {path}: run `steward score members` first")
    with duckdb.connect() as con:
        sql = "SELECT * FROM read_parquet(?) ORDER BY probability DESC, member_id"
        found = con.execute(sql, [str(path)]).df()
    for column in LIST_COLUMNS:
        found[column] = found[column].map(list)
    return found


def at_risk(
    top: int | None = None,
    tier: str | None = None,
    segment: dict[str, str] | None = None,
    min_probability: float | None = None,
    path: Path | None = None,
) -> pd.DataFrame:
    """The scored members, highest probability first, filtered by tier, segment and probability."""
    table = AtRiskTable.read(path or at_risk_path())
    keep = table.select(tier, min_probability, segment)
    if top is not None:
        keep = keep[: max(int(top), 0)]
    return table.frame.iloc[keep].reset_index(drop=True)


def check_filters(tier: str | None, segment: dict[str, str] | None) -> None:
    """Refuse a tier or a segment key the table cannot have, saying what to use."""
    if tier is not None and tier not in TIERS:
        raise ValueError(f"tier {tier!r}: use {', '.join(TIERS[:-1])} or {TIERS[-1]}")
    for key in segment or {}:
        if not SEGMENT_KEY.match(key):
            raise ValueError(f"segment key {key!r}: use letters, digits and _ (e.g. channel=ios)")


@dataclass
class AtRiskTable:
    """Rows of `steward score members`, highest probability first, indexed by member_id."""

    frame: pd.DataFrame
    path: Path
    attributes: list[dict[str, Any]]
    index: dict[str, int]

    @classmethod
    def read(cls, path: Path) -> AtRiskTable:
        """Read the table the batch pipeline wrote."""
        frame = read_at_risk(path)
        attributes = [_parse(a) for a in frame["attributes"]]
        index = {str(m): i for i, m in enumerate(frame["member_id"])}
        return cls(frame, path, attributes, index)

    @functools.cached_property
    def synthetic_note(self) -> str | None:
        """Says the members are the simulator's (all or some), or None when none is."""
        from features.synthetic.provenance import synthetic_note

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
        check_filters(tier, segment)
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
