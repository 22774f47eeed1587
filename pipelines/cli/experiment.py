"""`steward experiment run|sweep|compare` and `steward ui`: thin wrappers over the runner.

Errors are ValueErrors, which `pipelines.cli.main.main` prints as one line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipelines.output import format_option

if TYPE_CHECKING:
    from rich.console import Console

    from pipelines.experiments.config import ExperimentSpec, Progress

experiment_app = typer.Typer(
    help="Rerun, tune and compare the experiments in experiments/*.yaml.", no_args_is_help=True
)
NO_PROGRESS_ENV = "STEWARD_NO_PROGRESS"

SetOption = Annotated[
    list[str],
    typer.Option(
        "--set", help="Override a config key, e.g. --set model.num_leaves=15; repeatable."
    ),
]
ProgressOption = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Progress bars (shown on a terminal).")
]


def _start(file: Path, overrides: list[str]) -> tuple[ExperimentSpec, Console]:
    """The validated experiment file and the console, MLflow's chatter turned down."""
    from models.tracking import quiet_mlflow
    from pipelines.experiments.config import load_experiment
    from pipelines.output import console

    quiet_mlflow()
    return load_experiment(file, overrides), console()


@experiment_app.command("run")
def run_cmd(
    file: Annotated[
        Path, typer.Argument(help="An experiment file, e.g. experiments/churn_lgbm.yaml.")
    ],
    set_: SetOption = [],  # noqa: B006
    register: Annotated[
        bool,
        typer.Option(
            "--register/--no-register",
            help="Register the model (it becomes champion only if it beats the champion).",
        ),
    ] = True,
    force: Annotated[bool, typer.Option(help="Make it champion even if it does not win.")] = False,
    progress: ProgressOption = True,
) -> None:
    """Run an experiment file, log it to MLflow and show its metrics beside the champion's."""
    from pipelines.experiments.run import champion_rows, run_experiment
    from pipelines.output import rows_table

    spec, out = _start(file, set_)
    with progress_bars(out, progress) as report:
        result = run_experiment(spec, register=register, force=force, progress=report)
    champion = result.champion
    theirs = f"champion v{champion.version}" if champion.version else "champion (none yet)"
    out.print(
        rows_table(
            f"{spec.name}: {spec.config.name} (MLflow experiment {spec.name!r})",
            ["metric", "this run", theirs, "difference"],
            champion_rows(result),
        )
    )
    if champion.version:
        out.print(
            f"[dim]{champion.name} v{champion.version}'s numbers are from its own run; "
            "the registry rescored it on this run's validation rows.[/dim]"
        )
    out.print(f"registry: {_registry_line(result.outcome, champion.name, register)}")
    out.print(f"MLflow run {result.outcome.run_id}; report {result.report}", soft_wrap=True)


def _registry_line(outcome: Any, name: str, register: bool) -> str:
    """What the champion rule did, in one line."""
    if not outcome.version:
        why = "--no-register" if not register else "the file says not to register"
        return f"not registered ({why}); the champion is unchanged"
    verdict = "is now champion" if outcome.promoted else "registered; champion unchanged"
    return f"{name} v{outcome.version} {verdict} ({outcome.reason})"


@experiment_app.command("sweep")
def sweep_cmd(
    file: Annotated[Path, typer.Argument(help="An experiment file with a sweep: section.")],
    trials: Annotated[
        int | None, typer.Option(help="Number of trials (default: the file's sweep.trials).")
    ] = None,
    set_: SetOption = [],  # noqa: B006
    promote: Annotated[
        bool,
        typer.Option(help="Retrain the best trial, register it and apply the champion rule."),
    ] = False,
    force: Annotated[bool, typer.Option(help="With --promote: champion even if it loses.")] = False,
    progress: ProgressOption = True,
) -> None:
    """Search the file's sweep ranges with Optuna; each trial is a nested MLflow run."""
    from pipelines.experiments.sweep import sweep_experiment
    from pipelines.output import rows_table

    spec, out = _start(file, set_)
    with progress_bars(out, progress) as report:
        result = sweep_experiment(spec, trials, promote=promote, force=force, progress=report)
    keys = list(result.best.params)
    rows = [
        [t.number, *[t.params[k] for k in keys], t.value, "best" if t is result.best else ""]
        for t in result.trials
    ]
    out.print(
        rows_table(
            f"{spec.name} sweep ({result.direction} {result.metric})",
            ["trial", *keys, result.metric, ""],
            rows,
        )
    )
    settings = " ".join(f"--set {k}={v}" for k, v in result.best.params.items())
    if result.promoted is not None:
        from pipelines.experiments.tasks import task_for

        name = task_for(spec.task).registered_model(spec.config)
        out.print(f"best retrained: {_registry_line(result.promoted, name, True)}")
    else:
        out.print(
            f"best: trial {result.best.number}; register it with --promote, or run `steward experiment run {file} {settings}`"
        )
    out.print(f"MLflow sweep run {result.run_id}; report {result.report}", soft_wrap=True)


@experiment_app.command("compare")
def compare_cmd(
    names: Annotated[
        list[str], typer.Argument(help="Experiment names (file stems, e.g. churn_lgbm) or files.")
    ],
    top: Annotated[int, typer.Option(help="How many runs to show, best first.")] = 20,
    fmt: Annotated[str, format_option()] = "table",
) -> None:
    """Runs ranked by the primary metric, with the params that differ and their durations."""
    from models.tracking import quiet_mlflow
    from pipelines.experiments.compare import compare_experiments
    from pipelines.output import check_format, rows_table, show

    check_format(fmt)
    quiet_mlflow()
    found = compare_experiments(names, top)
    table = rows_table(found.title, found.columns, found.rows)
    table.caption = found.caption
    show(table, fmt)  # piped, the console prints the table at its whole width


def ui_command(host: str, port: int) -> list[str]:
    """The `mlflow ui` command line for steward's local store."""
    from models.tracking import artifact_root, configure_tracking

    uri = configure_tracking()
    return [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--default-artifact-root",
        artifact_root().as_uri(),
        "--host",
        host,
        "--port",
        str(port),
    ]


def ui_cmd(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Start the MLflow UI on steward's local store (Ctrl-C stops it)."""
    from pipelines.output import console

    command = ui_command(host, port)
    console().print(f"MLflow UI on http://{host}:{port} (store {command[5]}); Ctrl-C stops it")
    try:
        code = subprocess.run(command, check=False).returncode
    except KeyboardInterrupt:
        return
    if code != 0:
        raise ValueError(f"mlflow ui exited with status {code} (is port {port} free?)")


@contextmanager
def progress_bars(out: Console, enabled: bool = True) -> Iterator[Progress]:
    """A Progress that draws rich bars on a terminal, and stays silent elsewhere."""
    from pipelines.experiments.config import no_progress

    if not enabled or os.environ.get(NO_PROGRESS_ENV) or not out.is_terminal:
        yield no_progress
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as Bars

    bars = Bars(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    )
    stage = bars.add_task("starting", total=None)
    counted: dict[str, Any] = {}

    def report(step: str, done: float | None = None, total: float | None = None) -> None:
        if total is None:
            bars.update(stage, description=step)
            return
        if step not in counted:
            counted[step] = bars.add_task(step, total=total)
        bars.update(counted[step], completed=done, total=total)

    with bars:
        yield report
