"""Churn steps: train and register a model, score every member, read the at-risk table."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.failpoints import failpoint
from features.lake import Lake, folder_lock, replace_file, steward_home
from models.churn.config import EXPERIMENT, MODEL_NAME, ChurnConfig, LgbmParams, LogregParams
from models.churn.scorer import ChurnScorer
from pipelines.steps import features_dir

if TYPE_CHECKING:
    from features.uri_lake import UriLake
    from models.churn.dataset import ChurnData
    from models.churn.train import FittedChurn

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
SEGMENT_KEY = re.compile(r"^[A-Za-z0-9_]+$")


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


def train_churn(config: ChurnConfig, force: bool = False) -> ChurnTrainReport:
    """Train, log to MLflow, register as steward-churn and promote it if it beats the champion."""
    from models.churn.train import fit_churn_model
    from models.tracking import configure_tracking, owned_run, use_experiment

    data = load_training_data(config)
    configure_tracking()
    with owned_run(use_experiment(EXPERIMENT), config.name):
        fitted = fit_churn_model(config, data)
        return log_and_register(config, data, fitted, force, register=config.register_model)


def load_training_data(config: ChurnConfig) -> ChurnData:
    """The out-of-time split a config asks for, without the columns it excludes."""
    from models.churn.dataset import load_churn_data

    return load_churn_data(
        config.features or features_dir(),
        config.label_column,
        config.validation.embargo_days,
        exclude=config.features_exclude,
    )


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


def _auc_on(valid: pd.DataFrame, y: np.ndarray) -> Callable[[str], float]:
    """Scores a registered version by its ROC-AUC on these validation rows."""

    def score(model_uri: str) -> float:
        from mlflow.exceptions import MlflowException

        from models.churn.metrics import roc_auc

        try:
            return roc_auc(y, load_scorer(model_uri).probability(valid))
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


def load_scorer(model_uri: str) -> ChurnScorer:
    """The ChurnScorer inside a logged or registered churn pyfunc."""
    import mlflow

    model = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    scorer = getattr(model, "scorer", None)
    if not isinstance(scorer, ChurnScorer):
        raise ValueError(f"{model_uri} is not a steward churn model")
    return scorer


def load_champion(name: str = MODEL_NAME) -> tuple[ChurnScorer, str]:
    """The champion scorer and its version; a clear error when there is none."""
    from models.registry import champion_version
    from models.tracking import configure_tracking

    configure_tracking()
    version = champion_version(name)
    if version is None:
        raise ValueError(f"no champion for {name}: run `steward train churn --config FILE` first")
    return load_scorer(f"models:/{name}/{version}"), version


def at_risk_path() -> Path:
    """Where the at-risk table lives: STEWARD_HOME/scores/at_risk.parquet."""
    return steward_home() / "scores" / "at_risk.parquet"


def score_members(
    as_of: date | None = None,
    features: Path | None = None,
    model_name: str = MODEL_NAME,
    lake: Lake | None = None,
) -> ScoreReport:
    """Score every member row at as_of with the champion and swap in a new at-risk table."""
    from models.churn.dataset import load_scoring_rows

    started = time.perf_counter()
    scorer, version = load_champion(model_name)
    frame, day = load_scoring_rows(features or features_dir(), as_of)
    scored = scorer.score_arrow(frame)
    table = at_risk_rows(frame, scored, day, model_name, version, scorer.label, lake)
    return publish_scores(table, scored, day, version, started)


def publish_scores(table: Any, scored: Any, day: date, version: str, started: float) -> ScoreReport:
    """Swap in the at-risk table and report it (every scoring engine ends here)."""
    path = write_at_risk(table)
    counts = pd.Series(scored["tier"].to_numpy(zero_copy_only=False)).value_counts()
    return ScoreReport(
        path=path,
        as_of=day,
        rows=table.num_rows,
        model_version=version,
        tiers={t: int(counts.get(t, 0)) for t in ("high", "medium", "low")},
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


def write_at_risk(table: Any, path: Path | None = None) -> Path:
    """Write the table beside its final place, then os.replace it in: readers never see half."""
    import pyarrow.parquet as pq

    return publish_at_risk(lambda aside: pq.write_table(table, aside, compression="zstd"), path)


def publish_at_risk(write: Callable[[Path], object], path: Path | None = None) -> Path:
    """Let `write` fill a file (or use a folder of that name) aside, then swap the file in."""
    path = path or at_risk_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(path.parent):
        # One writer at a time, so that what is aside under the lock is a killed writer's.
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            else:
                stale.unlink(missing_ok=True)
        replace_file(path, write, "score.written_aside")
    return path


def at_risk(
    top: int | None = None,
    tier: str | None = None,
    segment: dict[str, str] | None = None,
    min_probability: float | None = None,
    path: Path | None = None,
) -> pd.DataFrame:
    """The scored members, highest probability first, filtered by tier, segment and probability."""
    import duckdb

    path = path or at_risk_path()
    if not path.is_file():
        raise ValueError(f"no at-risk table at {path}: run `steward score members` first")
    where, params = _filters(tier, segment, min_probability)
    limit = f"LIMIT {int(top)}" if top is not None else ""
    sql = (
        f"SELECT * FROM read_parquet(?) WHERE {where} ORDER BY probability DESC, member_id {limit}"
    )
    with duckdb.connect() as con:
        found = con.execute(sql, [str(path), *params]).df()
    for column in ("reasons", "interventions", "drivers"):
        found[column] = found[column].map(list)
    return found


def _filters(
    tier: str | None, segment: dict[str, str] | None, min_probability: float | None
) -> tuple[str, list[Any]]:
    """A WHERE clause with parameters; keys and tiers are checked, values are bound."""
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    if tier is not None:
        if tier not in ("high", "medium", "low"):
            raise ValueError(f"tier {tier!r}: use high, medium or low")
        clauses.append("tier = ?")
        params.append(tier)
    for key, value in (segment or {}).items():
        if not SEGMENT_KEY.match(key):
            raise ValueError(f"segment key {key!r}: use letters, digits and _ (e.g. channel=ios)")
        clauses.append(f"json_extract_string(attributes, '$.{key}') = ?")
        params.append(value)
    if min_probability is not None:
        clauses.append("probability >= ?")
        params.append(float(min_probability))
    return " AND ".join(clauses), params


def demo_configs(features: Path) -> list[ChurnConfig]:
    """The two demo models: the logistic baseline, then LightGBM (activity churn)."""
    # One LightGBM thread: the demo's data is small, and two OpenMP threads slow down many
    # times over when the other core is busy.
    return [
        ChurnConfig(name="demo-logreg", features=features, model=LogregParams()),
        ChurnConfig(name="demo-lgbm", features=features, model=LgbmParams(num_threads=1)),
    ]


def quiet_mlflow() -> None:
    """MLflow's INFO and WARNING lines (database setup, pickling notes) are noise on a terminal."""
    import logging

    import mlflow  # noqa: F401 (mlflow sets its loggers up on import: quiet them after)

    logging.getLogger("mlflow").setLevel(logging.ERROR)


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
    from features.provenance import synthetic_note

    top = at_risk(top=10)
    note = synthetic_note(top["attributes"])
    title = "10 members most at risk" + (" (synthetic members)" if note else "")
    console.print(at_risk_table(top, title))
    if note:
        console.print(note)


def training_table(reports: list[ChurnTrainReport]) -> Any:
    """One row per trained model: validation metrics and what the registry did."""
    from pipelines.reporting import rows_table

    columns = [
        "model",
        "label",
        "ROC-AUC",
        "PR-AUC",
        "lift@10%",
        "Brier",
        "ECE",
        "version",
        "registry",
    ]
    rows = [
        [
            f"{r.name} ({r.kind})",
            r.label,
            *(r.metrics[m] for m in ("roc_auc", "pr_auc", "lift_top_decile", "brier", "ece")),
            r.version,
            r.reason,
        ]
        for r in reports
    ]
    return rows_table("churn models (validation date; Brier/ECE cross-fitted)", columns, rows)


def at_risk_table(frame: pd.DataFrame, title: str) -> Any:
    """Members with probability, tier, reasons (one per line) and the first intervention."""
    from pipelines.reporting import rows_table

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
