"""`steward experiment run`: one tracked run of an experiment file, beside the champion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.experiments.config import ExperimentSpec, Progress, no_progress, record_provenance
from pipelines.experiments.report import Champion
from pipelines.experiments.tasks import Outcome, task_for


@dataclass(frozen=True)
class RunResult:
    """What `steward experiment run` did."""

    spec: ExperimentSpec
    outcome: Outcome
    champion: Champion
    headline: tuple[str, ...]
    primary_metric: str
    report: str  # where report.html was logged (a local path for the local store)


def primary_metric(spec: ExperimentSpec) -> tuple[str, str]:
    """The metric runs of this file are ranked by, and its direction."""
    sweep = spec.config.sweep
    metric = (sweep.metric if sweep else None) or task_for(spec.task).primary_metric
    return metric, sweep.direction if sweep else "maximize"


def current_champion(name: str) -> Champion:
    """The champion of a registered model and the metrics its run logged (none: no champion)."""
    import mlflow
    from mlflow import MlflowClient

    from models.registry import champion_version

    version = champion_version(name)
    if version is None:
        return Champion(name, None, {})
    run_id = MlflowClient().get_model_version(name, version).run_id
    metrics = dict(mlflow.get_run(run_id).data.metrics) if run_id else {}
    return Champion(name, version, metrics)


def run_experiment(
    spec: ExperimentSpec,
    register: bool = True,
    force: bool = False,
    progress: Progress = no_progress,
) -> RunResult:
    """Train from the file in the MLflow experiment named after it, with provenance and a report."""
    from models.tracking import configure_tracking, use_experiment

    task = task_for(spec.task)
    configure_tracking()
    use_experiment(spec.name)
    champion = current_champion(task.registered_model(spec.config))
    data = task.prepare(spec.config, progress)
    outcome, report = train_tracked(spec, data, "run", register, force, progress, champion)
    metric, _ = primary_metric(spec)
    return RunResult(spec, outcome, champion, task.headline, metric, report)


def train_tracked(
    spec: ExperimentSpec,
    data: Any,
    kind: str,
    register: bool,
    force: bool,
    progress: Progress,
    champion: Champion | None = None,
    nested: bool = False,
) -> tuple[Outcome, str]:
    """One MLflow run (nested under the active one if asked): provenance, training, report."""
    import mlflow

    from models.tracking import owned_run, use_experiment
    from pipelines.experiments.report import log_report

    task = task_for(spec.task)
    metric, direction = primary_metric(spec)
    # An owned run: if this process is killed, the next run marks it KILLED, not RUNNING forever.
    with owned_run(use_experiment(spec.name), spec.config.name, nested=nested) as run:
        record_provenance(spec, kind, metric, direction)
        mlflow.set_tag("steward.headline", ",".join(task.headline))
        outcome = task.train(spec.config, data, register, force, progress)
        progress("writing the report")
        shown = champion if champion and champion.version else None
        report = log_report(run.info.run_id, champion=shown)
    return outcome, report


def champion_rows(result: RunResult) -> list[list[Any]]:
    """metric | this run | champion (its own run's number) | difference, one row per headline."""
    rows = []
    for name in result.headline:
        mine = result.outcome.metrics.get(name)
        theirs = result.champion.metrics.get(name)
        delta = mine - theirs if mine is not None and theirs is not None else None
        label = f"{name} (primary)" if name == result.primary_metric else name
        rows.append([label, mine, theirs, delta])
    return rows
