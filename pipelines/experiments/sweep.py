"""`steward experiment sweep`: Optuna over the file's `sweep:` ranges, one nested run per trial."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pipelines.experiments.config import (
    ExperimentSpec,
    Progress,
    git_state,
    no_progress,
    record_provenance,
)
from pipelines.experiments.run import train_tracked
from pipelines.experiments.tasks import Outcome, task_for


@dataclass(frozen=True)
class Trial:
    """One trial: its nested run, the values it tried and the metric it reached."""

    number: int
    run_id: str
    params: dict[str, Any]
    value: float


@dataclass(frozen=True)
class SweepResult:
    """What a sweep did: its parent run, every trial, the best, and the promotion if asked."""

    spec: ExperimentSpec
    run_id: str
    metric: str
    direction: str
    trials: list[Trial]
    best: Trial
    promoted: Outcome | None
    report: str


def suggest(trial: Any, key: str, space: Any) -> Any:
    """A value for one dotted key from its declared range."""
    if space.type == "int":
        return trial.suggest_int(key, space.low, space.high, step=space.step, log=space.log)
    if space.type == "float":
        return trial.suggest_float(key, space.low, space.high, log=space.log)
    return trial.suggest_categorical(key, space.values)


def sweep_experiment(
    spec: ExperimentSpec,
    trials: int | None = None,
    promote: bool = False,
    force: bool = False,
    progress: Progress = no_progress,
) -> SweepResult:
    """Run the trials under one parent run; with promote, retrain the best and apply the rule."""
    import mlflow
    import optuna

    from models.tracking import configure_tracking, owned_run, use_experiment
    from pipelines.experiments.report import log_report

    settings = spec.config.sweep
    if settings is None:
        raise ValueError(f"{spec.path} has no sweep: section (ranges to search)")
    task = task_for(spec.task)
    metric = settings.metric or task.primary_metric
    count = trials or settings.trials
    if count < 1:
        raise ValueError(f"--trials {count}: give at least one trial")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    configure_tracking()
    experiment_id = use_experiment(spec.name)
    data = task.prepare(spec.config, progress)
    # A seeded sampler: the same file proposes the same trials.
    study = optuna.create_study(
        direction=settings.direction, sampler=optuna.samplers.TPESampler(seed=settings.seed)
    )
    done: list[Trial] = []
    with owned_run(experiment_id, f"{spec.config.name}-sweep") as parent:
        record_provenance(spec, "sweep", metric, settings.direction)
        mlflow.log_params({"sweep.trials": count, "sweep.metric": metric})
        for number in range(count):
            progress("sweep trials", number, count)
            done.append(_trial(spec, study, number, data, metric, progress, experiment_id))
        progress("sweep trials", count, count)
        best = _best(done, settings.direction)
        mlflow.log_params({f"best.{k}": v for k, v in best.params.items()})
        mlflow.log_metric(f"best_{metric.replace('/', '_')}", best.value)
        mlflow.set_tags({"steward.best_run_id": best.run_id, "steward.best_trial": best.number})
        promoted = None
        if promote:
            progress("retraining the best trial")
            best_spec = spec.with_overrides(best.params, f"best trial {best.number}")
            promoted, _ = train_tracked(best_spec, data, "best", True, force, progress, nested=True)
            mlflow.set_tag("steward.promoted_run_id", promoted.run_id)
        report = log_report(parent.info.run_id)
    return SweepResult(
        spec, parent.info.run_id, metric, settings.direction, done, best, promoted, report
    )


def _trial(
    spec: ExperimentSpec,
    study: Any,
    number: int,
    data: Any,
    metric: str,
    progress: Progress,
    experiment_id: str,
) -> Trial:
    """Ask Optuna for values, train them in a nested run, tell Optuna the metric."""
    import mlflow

    from models.tracking import owned_run

    assert spec.config.sweep is not None
    asked = study.ask()
    params = {key: suggest(asked, key, space) for key, space in spec.config.sweep.params.items()}
    trial_spec = spec.with_overrides(params, f"trial {number}")
    with owned_run(experiment_id, f"trial-{number}", nested=True) as run:
        mlflow.set_tags(
            {
                "steward.run_kind": "trial",
                "steward.trial": number,
                "steward.primary_metric": metric,
                "steward.task": spec.task,
                "steward.git_commit": git_state()["git_commit"],
            }
        )
        metrics = task_for(spec.task).trial(trial_spec.config, data, progress)
        if metric not in metrics:
            known = ", ".join(sorted(metrics)[:12])
            raise ValueError(
                f"{spec.path}: sweep.metric {metric!r} is not a metric; known: {known}"
            )
    value = float(metrics[metric])
    if not math.isfinite(value):
        study.tell(asked, state=_failed())
    else:
        study.tell(asked, value)
    return Trial(number, run.info.run_id, params, value)


def _failed() -> Any:
    """Optuna's FAIL state (a trial whose metric is NaN teaches the sampler nothing)."""
    import optuna

    return optuna.trial.TrialState.FAIL


def _best(trials: list[Trial], direction: str) -> Trial:
    """The trial with the best finite metric (earliest on ties)."""
    finite = [t for t in trials if math.isfinite(t.value)]
    if not finite:
        raise ValueError("no trial produced a finite metric")
    sign = -1.0 if direction == "maximize" else 1.0
    return min(finite, key=lambda t: (sign * t.value, t.number))
