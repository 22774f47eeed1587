"""At-risk exports: only the fields asked for, in cells no spreadsheet runs as a formula.

`steward at-risk --csv` and `GET /v1/members/at-risk?format=csv` both go through here, so
the two files have the same columns and the same protections.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from features.scores.at_risk import AT_RISK_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

# Every column of the at-risk table may be exported, by name.
FIELDS = AT_RISK_COLUMNS
# What a retention team acts on. Member attributes (which may hold personal data) and the
# model's internal drivers leave only when asked for by name.
DEFAULT_FIELDS = (
    "member_id",
    "as_of",
    "probability",
    "tier",
    "reasons",
    "intervention",
    "model_version",
)
LIST_FIELDS = ("reasons", "interventions", "drivers")
# Excel, LibreOffice and Google Sheets run a cell starting with these as a formula
# (OWASP, "CSV Injection"); tab and carriage return are read as one when the cell is pasted.
FORMULA_START = ("=", "+", "-", "@")
CONTROL_START = ("\t", "\r")


def parse_fields(raw: Sequence[str] | None, default: Sequence[str] = DEFAULT_FIELDS) -> list[str]:
    """Field names from `--fields a,b` / `fields=a&fields=b` (member_id always first)."""
    names = [n.strip() for part in raw or [] for n in part.split(",") if n.strip()]
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        raise ValueError(f"unknown fields {unknown}; choose from {', '.join(FIELDS)}")
    chosen = list(dict.fromkeys(names)) if names else list(default)
    return ["member_id", *(n for n in chosen if n != "member_id")]


def neutralise(cell: str) -> str:
    """A text cell that a spreadsheet shows as text: a leading quote before formula starts."""
    if cell.startswith(CONTROL_START) or cell.lstrip().startswith(FORMULA_START):
        return "'" + cell
    return cell


def export_frame(found: pd.DataFrame, fields: Sequence[str]) -> pd.DataFrame:
    """The rows with only `fields`: lists joined by '; ', every text cell neutralised."""
    from pandas.api.types import is_numeric_dtype

    frame = found.loc[:, list(fields)].copy()
    for column in frame.columns:
        if column in LIST_FIELDS:
            frame[column] = frame[column].map(lambda items: "; ".join(map(str, items)))
        if not is_numeric_dtype(frame[column]):
            frame[column] = frame[column].map(lambda v: neutralise(v) if isinstance(v, str) else v)
    return frame


def to_csv_text(found: pd.DataFrame, fields: Sequence[str]) -> str:
    """The export as CSV text."""
    return str(export_frame(found, fields).to_csv(index=False))


def to_json_text(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """At-risk rows as a JSON array of objects with these columns (attributes as an object)."""
    import json

    rows = []
    for record in frame.loc[:, columns].to_dict("records"):
        for key, value in record.items():
            if key == "attributes" and isinstance(value, str):
                record[key] = json.loads(value)
            elif hasattr(value, "tolist"):  # numpy arrays of reasons, interventions, drivers
                record[key] = value.tolist()
            elif isinstance(value, float) and value != value:  # NaN is not JSON
                record[key] = None
        rows.append(record)
    return json.dumps(rows, ensure_ascii=False, default=str, indent=1) + "\n"
