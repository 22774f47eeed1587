"""Churn steps: train and register a model, score every member, read the at-risk table."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.lake.store import Lake
from features.scores.at_risk import AT_RISK_COLUMNS, TIERS, at_risk, write_at_risk
from features.storage.catalog import Catalog
from features.storage.failpoints import failpoint
from features.storage.publish import replace_file
from models.champions import load_churn_model, load_churn_scorer
from models.churn.config import EXPERIMENT, MODEL_NAME, ChurnConfig, LgbmParams, LogregParams
from models.tracking import quiet_mlflow
from pipelines.steps import features_dir

if TYPE_CHECKING:
    from features.lake.uri import UriLake
    from models.churn.dataset import ChurnData
    from models.churn.scorer import ChurnScorer
    from models.churn.train import FittedChurn


@dataclass(frozen=True)
class ChurnTrainReport:
    """What one `steward train churn` did."""

    name: str
    label: str
    kind: str
    run_id: str
    version: str
    promoted: bool
    reason: str
    metrics: dict[str, float]
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreReport:
    """What one `steward score members` wrote."""

    path: Path
    as_of: date
    rows: int
    model_version: str
    tiers: dict[str, int]
    seconds: float
    # Members left out because they cannot churn any more, by reason (features/eligibility.py).
    left_out: dict[str, int] = field(default_factory=dict)


def train_churn(config: ChurnConfig, force: bool = False) -> ChurnTrainReport:
    """Train, log to MLflow, register as steward-churn and promote it if it beats the champion."""
    from models.churn.labels import with_data_label
    from models.churn.train import fit_churn_model
    from models.tracking import configure_tracking, owned_run, use_experiment

    data = load_training_data(config)
    config = with_data_label(config, data.label)
    configure_tracking()
    with owned_run(use_experiment(EXPERIMENT), config.name):
        fitted = fit_churn_model(config, data)
        return log_and_register(config, data, fitted, force, register=config.register_model)


def load_training_data(config: ChurnConfig) -> ChurnData:
    """The out-of-time split a config asks for, without the columns it excludes (label: auto
    becomes subscription or activity; data.label_reason says which and why)."""
    from dataclasses import replace

    from models.churn.dataset import load_churn_data, read_metadata
    from models.churn.labels import choose_label

    folder = config.features or features_dir()
    config, why = choose_label(config, read_metadata(folder))
    data = load_churn_data(
        folder,
        config.label_column,
        config.validation.embargo_days,
        exclude=config.features_exclude,
        minimums=config.validation,
    )
    return replace(data, label_reason=why)


def log_and_register(
    config: ChurnConfig,
    data: ChurnData,
    fitted: FittedChurn,
    force: bool = False,
    register: bool = True,
) -> ChurnTrainReport:
    """Log a fitted model into the active run; register it and apply the champion rule."""
    import mlflow

    from models.churn.pyfunc import log_churn_model
    from models.churn.runs import log_training
    from models.registry import register_and_promote

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_and_register needs an active MLflow run")
    found = log_training(config, data, fitted)
    info = log_churn_model(fitted.scorer, data.valid.head(5))
    failpoint("train.model_logged")
    candidate = fitted.metrics["valid_roc_auc"]
    version, promoted, reason = "", False, "not registered: the champion is unchanged"
    if register:
        # The champion is judged on this run's validation rows: a like-for-like comparison.
        promotion = register_and_promote(
            info.model_uri,
            config.registered_model,
            candidate,
            _auc_on(data.valid, data.y_valid),
            force=force,
            blocked=champion_blocker(fitted.metrics),
        )
        _tag_version(config, promotion.version, data.valid_date, candidate)
        version, promoted, reason = promotion.version, promotion.promoted, promotion.reason
        mlflow.set_tags({"registered_version": version, "promoted": promoted})
    mlflow.set_tag("promotion", reason)
    return ChurnTrainReport(
        name=config.name,
        label=config.label,
        kind=config.model.kind,
        run_id=run.info.run_id,
        version=version,
        promoted=promoted,
        reason=reason,
        metrics=fitted.metrics,
        data=found,
    )


def champion_blocker(metrics: dict[str, float]) -> str | None:
    """Why a model may not be champion: its validation AUC interval includes 0.5 (chance)."""
    low, high = metrics.get("roc_auc_ci_low"), metrics.get("roc_auc_ci_high")
    if low is None or high is None:
        return "too few validation rows of both classes for a bootstrap interval of its ROC-AUC"
    if low <= 0.5 <= high:
        return (
            f"its validation ROC-AUC interval {low:.3f}-{high:.3f} (95% bootstrap) includes "
            "0.5: no better than chance on these rows"
        )
    return None


def _auc_on(valid: pd.DataFrame, y: np.ndarray) -> Callable[[str], float]:
    """Scores a registered version by its ROC-AUC on these validation rows."""

    def score(model_uri: str) -> float:
        from mlflow.exceptions import MlflowException

        from models.churn.metrics import roc_auc

        try:
            return roc_auc(y, load_churn_scorer(model_uri).probability(valid))
        except (MlflowException, ValueError, KeyError, AttributeError):
            # A champion that cannot score today's feature rows cannot defend its title.
            return float("-inf")

    return score


def _tag_version(config: ChurnConfig, version: str, valid_date: date, auc: float) -> None:
    """Record on the registered version what it predicts and how it did."""
    from mlflow import MlflowClient

    client = MlflowClient()
    tags = {
        "label": config.label,
        "model_kind": config.model.kind,
        "valid_date": valid_date.isoformat(),
        "valid_roc_auc": f"{auc:.6f}",
    }
    for key, value in tags.items():
        client.set_model_version_tag(config.registered_model, version, key, value)


def score_members(
    as_of: date | None = None,
    features: Path | None = None,
    model_name: str = MODEL_NAME,
    lake: Lake | None = None,
    version: str | None = None,
    alias: str | None = None,
) -> ScoreReport:
    """Score the members at as_of who can still churn with the champion (or a version or
    alias), swap in a new at-risk table and write the date into the scored history."""
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
    """Score one date's members who can still churn into the scored history (and, if publish,
    the at-risk table)."""
    from models.churn.dataset import load_scoring_rows

    started = time.perf_counter()
    folder = features or features_dir()
    frame, day = load_scoring_rows(folder, as_of)
    frame, left_out = still_can_leave(frame, day, scorer.label, folder, lake or Lake.default())
    scored = scorer.score_arrow(frame)
    table = at_risk_rows(frame, scored, day, model_name, version, scorer.label, lake)
    if publish:
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
    becomes the latest of them."""
    from models.churn.dataset import read_metadata

    folder = features or features_dir()
    built = sorted(map(date.fromisoformat, read_metadata(folder)["as_of"]))
    days = [d for d in built if start <= d <= end]
    if not days:
        shown = f"{built[0]} .. {built[-1]}" if built else "none"
        raise ValueError(
            f"no feature dates from {start} to {end} (built: {shown}): build them with "
            f"`steward features build --from {start} --to {end} --every 7d`"
        )
    scorer, found = load_churn_model(model_name, version, alias)
    lake = Lake.default()
    return [
        score_date(scorer, found, d, folder, model_name, lake, publish=d == days[-1]) for d in days
    ]


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


def history_dir() -> Path:
    """The scored history: STEWARD_HOME/scored_history/as_of=YYYY-MM-DD/part-0.parquet."""
    return Catalog.default().scored_history


def history_path(day: date) -> Path:
    """One date's file of the scored history."""
    return history_dir() / f"as_of={day.isoformat()}" / "part-0.parquet"


def write_history(table: Any, day: date) -> Path:
    """Swap one date's scores into the scored history (a rescore replaces that date only)."""
    import pyarrow.parquet as pq

    path = history_path(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = table.drop_columns(["as_of"])  # the partition folder names the date (Hive layout)
    return replace_file(path, lambda aside: pq.write_table(kept, aside, compression="zstd"))


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


def demo_configs(features: Path) -> list[ChurnConfig]:
    """The two demo models: the logistic baseline, then LightGBM (activity churn)."""
    # One LightGBM thread: the demo's data is small, and two OpenMP threads slow down many
    # times over when the other core is busy.
    return [
        ChurnConfig(name="demo-logreg", features=features, model=LogregParams()),
        ChurnConfig(name="demo-lgbm", features=features, model=LgbmParams(num_threads=1)),
    ]


def demo_churn(console: Any, features_out: Path) -> None:
    """Train both churn models on the demo's features and print the 10 members most at risk."""
    quiet_mlflow()
    reports = [train_churn(config) for config in demo_configs(features_out)]
    console.print(training_table(reports))
    scored = score_members(features=features_out)
    console.print(
        f"scored {scored.rows:,} members as of {scored.as_of} with steward-churn "
        f"v{scored.model_version}: {scored.tiers['high']:,} high, {scored.tiers['medium']:,} medium risk"
    )
    console.print(at_risk_table(at_risk(top=10), "10 members most at risk"))


def training_table(reports: list[ChurnTrainReport]) -> Any:
    """One row per trained model: validation metrics and what the registry did."""
    from pipelines.output import rows_table

    columns = [
        "model",
        "label",
        "ROC-AUC",
        "95% CI",
        "PR-AUC",
        "lift@10%",
        "95% CI",
        "Brier",
        "ECE",
        "version",
        "registry",
    ]
    rows = [
        [
            f"{r.name} ({r.kind})",
            r.label,
            r.metrics["roc_auc"],
            _interval(r.metrics, "roc_auc", 3),
            r.metrics["pr_auc"],
            r.metrics["lift_top_decile"],
            _interval(r.metrics, "lift", 2),
            r.metrics["brier"],
            r.metrics["ece"],
            r.version,
            r.reason,
        ]
        for r in reports
    ]
    return rows_table("churn models (validation date; Brier/ECE cross-fitted)", columns, rows)


def _interval(metrics: dict[str, float], name: str, digits: int) -> str:
    """A bootstrap interval as low-high, or n/a."""
    low, high = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
    return "n/a" if low is None or high is None else f"{low:.{digits}f}-{high:.{digits}f}"


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
