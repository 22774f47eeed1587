"""Churn scoring: score the members who can still leave into the at-risk table and the scored history."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.lake.store import Lake
from features.scores.at_risk import AT_RISK_COLUMNS, TIERS, at_risk_date, write_at_risk
from features.scores.history import history_path, write_history
from models.champions import load_churn_model
from models.churn.config import MODEL_NAME
from pipelines.steps import features_dir

if TYPE_CHECKING:
    from features.lake.uri import UriLake
    from models.churn.scorer import ChurnScorer


@dataclass(frozen=True)
class ScoreReport:
    """What one `steward score members` wrote."""

    path: Path
    as_of: date
    rows: int
    model_version: str
    tiers: dict[str, int]
    seconds: float
    # Members left out because they cannot churn any more, by reason (features/members/eligibility.py).
    left_out: dict[str, int] = field(default_factory=dict)


def score_members(
    as_of: date | None = None,
    features: Path | None = None,
    model_name: str = MODEL_NAME,
    lake: Lake | None = None,
    version: str | None = None,
    alias: str | None = None,
) -> ScoreReport:
    """Score the members at as_of who can still churn with the champion (or a version or
    alias) into the scored history, and swap in a new at-risk table unless it holds a later
    date (scoring a past date leaves today's list in place)."""
    started = time.perf_counter()
    scorer, found = load_churn_model(model_name, version, alias)
    report = score_date(scorer, found, as_of, features, model_name, lake, publish=True)
    return replace(report, seconds=time.perf_counter() - started)


def score_date(
    scorer: ChurnScorer,
    version: str,
    as_of: date | None,
    features: Path | None,
    model_name: str,
    lake: Lake | None,
    publish: bool,
) -> ScoreReport:
    """Score one date's members who can still churn into the scored history (and, if publish
    and the at-risk table holds no later date, into that table)."""
    from models.churn.dataset import load_scoring_rows

    started = time.perf_counter()
    folder = features or features_dir()
    frame, day = load_scoring_rows(folder, as_of)
    frame, left_out = still_can_leave(frame, day, scorer.label, folder, lake or Lake.default())
    scored = scorer.score_arrow(frame)
    table = at_risk_rows(frame, scored, day, model_name, version, scorer.label, lake)
    if publish and publishes(day):
        report = publish_scores(table, scored, day, version, started)
    else:
        report = score_report(history_path(day), table, scored, day, version, started)
    write_history(table, day)
    return replace(report, left_out=left_out)


def score_range(
    start: date,
    end: date,
    features: Path | None = None,
    model_name: str = MODEL_NAME,
    version: str | None = None,
    alias: str | None = None,
) -> list[ScoreReport]:
    """Score every built date from start to end into the scored history; the at-risk table
    becomes the latest of them unless it already holds a later date."""
    folder = features or features_dir()
    days = dates_between(folder, start, end)
    scorer, found = load_churn_model(model_name, version, alias)
    lake = Lake.default()
    last = days[-1] if publishes(days[-1]) else None
    return [score_date(scorer, found, d, folder, model_name, lake, publish=d == last) for d in days]


def publishes(day: date) -> bool:
    """Whether scores of day (or a range ending on it) become the at-risk table: not when the
    table already holds a later date (a backtest of the past leaves today's list in place)."""
    held = at_risk_date()
    return held is None or held <= day


def dates_between(features: Path, start: date, end: date) -> list[date]:
    """The built feature dates from start to end; a clear error when there are none."""
    from models.churn.dataset import read_metadata

    built = sorted(map(date.fromisoformat, read_metadata(features)["as_of"]))
    days = [d for d in built if start <= d <= end]
    if not days:
        shown = f"{built[0]} .. {built[-1]}" if built else "none"
        raise ValueError(
            f"no feature dates from {start} to {end} (built: {shown}): build them with "
            f"`steward features build --from {start} --to {end} --every 7d`"
        )
    return days


def still_can_leave(
    frame: pd.DataFrame, day: date, label: str, features: Path, lake: Lake
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows of members who can still churn by label, and who was left out and why."""
    from features.members.eligibility import can_still_leave, subscribed_on
    from models.churn.dataset import read_metadata

    horizon = int(read_metadata(features)["config"]["horizon_days"])
    subscribed = subscribed_on(lake.read("subscriptions"), day) if label == "subscription" else None
    keep, left_out = can_still_leave(frame, label, horizon, subscribed)
    return frame[keep].reset_index(drop=True), left_out


def publish_scores(table: Any, scored: Any, day: date, version: str, started: float) -> ScoreReport:
    """Swap in the at-risk table and report it (every scoring engine ends here)."""
    return score_report(write_at_risk(table), table, scored, day, version, started)


def score_report(
    path: Path, table: Any, scored: Any, day: date, version: str, started: float
) -> ScoreReport:
    """What a scoring wrote at path: rows and tiers."""
    counts = pd.Series(scored["tier"].to_numpy(zero_copy_only=False)).value_counts()
    return ScoreReport(
        path=path,
        as_of=day,
        rows=table.num_rows,
        model_version=version,
        tiers={t: int(counts.get(t, 0)) for t in TIERS},
        seconds=time.perf_counter() - started,
    )


def at_risk_rows(
    frame: pd.DataFrame,
    scored: Any,
    day: date,
    model_name: str,
    version: str,
    label: str,
    lake: Lake | None = None,
) -> Any:
    """The at-risk table as Arrow (scored: ChurnScorer.score_arrow), highest probability first."""
    import pyarrow as pa

    n = len(frame)
    members = frame["member_id"].astype(str).tolist()
    columns = {
        "member_id": pa.array(members, pa.string()),
        "as_of": pa.array([day] * n, pa.date32()),
        **{c: scored[c] for c in ("probability", "tier", "reasons", "interventions")},
        **{c: scored[c] for c in ("intervention", "drivers")},
        "model_name": pa.array([model_name] * n, pa.string()),
        "model_version": pa.array([version] * n, pa.string()),
        "label": pa.array([label] * n, pa.string()),
        "scored_at": pa.array([datetime.now(UTC)] * n, pa.timestamp("us", tz="UTC")),
        "attributes": pa.array(
            list(map(member_attributes(lake or Lake.default()).get, members)), pa.string()
        ),
    }
    table = pa.table({name: columns[name] for name in AT_RISK_COLUMNS})
    return table.sort_by([("probability", "descending"), ("member_id", "ascending")])


def member_attributes(lake: Lake | UriLake) -> dict[str, str]:
    """member_id -> attributes JSON, the latest ingest winning where a member repeats."""
    members = lake.read("members").select(["member_id", "attributes"]).to_pandas()
    members = members.dropna().drop_duplicates("member_id", keep="last")
    return dict(zip(members["member_id"], members["attributes"], strict=True))


def at_risk_table(frame: pd.DataFrame, title: str) -> Any:
    """Members with probability, tier, reasons (one per line) and the first intervention."""
    from pipelines.output import rows_table

    rows = [
        [member, f"{probability:.2f}", tier, "\n".join(reasons), intervention]
        for member, probability, tier, reasons, intervention in zip(
            frame["member_id"],
            frame["probability"],
            frame["tier"],
            frame["reasons"],
            frame["intervention"],
            strict=True,
        )
    ]
    return rows_table(title, ["member", "probability", "tier", "reasons", "intervention"], rows)
