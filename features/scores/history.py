"""The scored history: every scoring's rows per observation date, for backtests.

Hive layout under STEWARD_HOME/scored_history (as_of=YYYY-MM-DD/part-0.parquet); rescoring a
date replaces that date's file atomically and leaves the others.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from features.storage.catalog import Catalog
from features.storage.publish import replace_file

PART = "part-0.parquet"
HISTORY_COMPRESSION = "zstd"


def history_dir() -> Path:
    """The scored history: STEWARD_HOME/scored_history/as_of=YYYY-MM-DD/part-0.parquet."""
    return Catalog.default().scored_history


def history_path(day: date) -> Path:
    """One date's file of the scored history."""
    return history_dir() / f"as_of={day.isoformat()}" / PART


def write_history(table: Any, day: date) -> Path:
    """Swap one date's scores into the scored history (a rescore replaces that date only)."""
    path = history_path(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = table.drop_columns(["as_of"])  # the partition folder names the date (Hive layout)
    return replace_file(
        path, lambda aside: pq.write_table(kept, aside, compression=HISTORY_COMPRESSION)
    )


def history_dates(history: Path) -> list[date]:
    """The dates the scored history holds."""
    found = []
    for folder in Path(history).glob("as_of=*"):
        try:
            found.append(date.fromisoformat(folder.name.removeprefix("as_of=")))
        except ValueError:
            continue  # not a partition of ours
    return sorted(found)


def read_scored(history: Path, day: date) -> pd.DataFrame:
    """One date's scores: member_id, probability, label, model_name, model_version."""
    path = Path(history) / f"as_of={day.isoformat()}" / PART
    columns = ["member_id", "probability", "label", "model_name", "model_version"]
    return pq.read_table(path, columns=columns).to_pandas()
