"""Leakage guard: the model's inputs at T must be what was knowable at T.

Replay: rebuild the feature rows of date T from a lake cut at the end of T (events after T
removed) and compare them with the rows the model trained or scored on. A feature that peeks
past T (counts events after T, or reads a label) differs between the two and is named.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from features.lake.store import Lake


def peeking_features(
    seen: pd.DataFrame, knowable: pd.DataFrame, columns: list[str], tolerance: float = 1e-9
) -> list[str]:
    """Feature columns whose values for the same members differ from the replay at T."""
    joined = seen.merge(knowable, on="member_id", suffixes=("", "__replay"), validate="one_to_one")
    if len(joined) != len(seen) or len(joined) != len(knowable):
        raise ValueError(
            f"the replay has {len(knowable)} members at T, the model saw {len(seen)}: "
            "membership at T itself depends on later data"
        )
    found = []
    for column in columns:
        a = joined[column].to_numpy(dtype=np.float64, na_value=np.nan)
        b = joined[f"{column}__replay"].to_numpy(dtype=np.float64, na_value=np.nan)
        same = (np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= tolerance)
        if not same.all():
            found.append(column)
    return found


def cut_lake(lake: Lake, as_of: date, root: Path) -> Lake:
    """A copy of the lake as it stood at the end of day as_of: later events are dropped."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cut = Lake(root)
    end = pa.scalar(pd.Timestamp(as_of) + pd.Timedelta(days=1), pa.timestamp("us", tz="UTC"))
    with cut.transaction("replay", f"replay-{as_of.isoformat()}-{lake.snapshot_id()}") as txn:
        for name, ts in (("members", None), ("subscriptions", "start_at"), ("events", "ts")):
            table = lake.read(name)
            if ts is not None:
                table = table.filter(pc.less(table[ts], end))
            txn.write(name, table)
    return cut
