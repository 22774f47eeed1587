"""Who can still churn on a scoring date: members who have not already left by the label.

A subscription label asks whether a running subscription ends without renewal, so a member
whose subscriptions have all ended (or who never had one) has nothing left to end. An activity
label asks whether an active member goes quiet for the horizon, so a member with no qualifying
activity over the last horizon days has already gone. Scoring either is noise at the top of the
at-risk list: such members are left out, and counted with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

NOT_SUBSCRIBED = "no running subscription on the scoring date (already ended, or never had one)"
INACTIVE = "no qualifying activity in the last {horizon} days (already left by the activity label)"


def subscribed_on(subscriptions: pa.Table, day: date) -> set[str]:
    """Members with a subscription that started on or before day and had not ended by its end."""
    if subscriptions.num_rows == 0:
        return set()
    start = pc.cast(subscriptions["start_at"], pa.date32())
    end = pc.cast(subscriptions["end_at"], pa.date32())
    scalar = pa.scalar(day, pa.date32())
    running = pc.and_(pc.less_equal(start, scalar), pc.fill_null(pc.greater(end, scalar), True))
    return set(subscriptions.filter(running)["member_id"].to_pylist())


def can_still_leave(
    frame: pd.DataFrame, label: str, horizon: int, subscribed: Iterable[str] | None = None
) -> tuple[np.ndarray, dict[str, int]]:
    """A mask of the rows that can still churn by label, and how many are left out, by reason.

    subscribed: members subscribed on the scoring date (needed for the subscription label).
    """
    if label == "subscription":
        running = set(subscribed or ())
        keep = frame["member_id"].astype(str).isin(running).to_numpy()
        reason = NOT_SUBSCRIBED
    else:
        since = frame["days_since_last_activity"].to_numpy(dtype=np.float64, na_value=np.nan)
        keep = ~np.isnan(since) & (since < horizon)
        reason = INACTIVE.format(horizon=horizon)
    left_out = int((~keep).sum())
    return keep, ({reason: left_out} if left_out else {})
