"""The `steward` command line: thin wrappers over the pipelines."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.churn import at_risk_cmd, score_app, train_app
from pipelines.cli.experiment import experiment_app, ui_cmd
from pipelines.cli.serve import serve_cmd
from pipelines.cli.toxicity import score_posts_cmd, train_toxicity_cmd
from pipelines.output import format_option

FormatOption = Annotated[str, format_option()]

app = typer.Typer(
    help="steward: churn and content risk for online communities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
ingest_app = typer.Typer(help="Read a community's exports into the lake.", no_args_is_help=True)
features_app = typer.Typer(
    help="Point-in-time member features and churn labels.", no_args_is_help=True
)
lake_app = typer.Typer(help="What the lake holds.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(train_app, name="train")
app.add_typer(score_app, name="score")
app.command("at-risk")(at_risk_cmd)
train_app.command("toxicity")(train_toxicity_cmd)
score_app.command("posts")(score_posts_cmd)
app.add_typer(features_app, name="features")
app.add_typer(lake_app, name="lake")
app.command("serve")(serve_cmd)
app.add_typer(experiment_app, name="experiment")
app.command("ui")(ui_cmd)


class UserError(Exception):
    """A problem the user can fix: printed as one line, no traceback."""


def _parse_pairs(pairs: list[str], what: str, example: str) -> dict[str, str]:
    """KEY=VALUE options into a dict, with a clear error for anything else."""
    from features.scores.at_risk import parse_pairs

    try:
        return parse_pairs(pairs, what, example)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _parse_every(every: str) -> int:
    """'14d' or '14' into 14 days."""
    text = every.strip().lower().removesuffix("d")
    if not text.isdigit() or int(text) <= 0:
        raise UserError(f"--every {every!r}: give a number of days such as 14d")
    return int(text)


@ingest_app.command("generic")
def ingest_generic(
    path: Annotated[Path, typer.Argument(help="A .csv[.gz], .parquet or .jsonl file.")],
    table: Annotated[
        str,
        typer.Option(help="Canonical table: events, members, posts, subscriptions, moderation."),
    ],
    map_: Annotated[
        list[str], typer.Option("--map", help="canonical=source column, repeatable.")
    ] = [],  # noqa: B006
    event_type: Annotated[
        list[str], typer.Option(help="source=canonical event type, repeatable.")
    ] = [],  # noqa: B006
    custom_events: Annotated[
        bool,
        typer.Option(
            "--custom-events",
            help="Keep event types steward has no type for as custom ones (quest_done -> "
            "x_quest_done, each with features of its own) instead of quarantining them.",
        ),
    ] = False,
    fmt: FormatOption = "table",
) -> None:
    """Ingest one file with a column mapping."""
    from features.adapters.generic import GenericSource
    from pipelines.cli.paths import input_file

    source = GenericSource(
        input_file(path, "file"),
        table,
        _parse_pairs(map_, "--map", "member_id=user"),
        _parse_pairs(event_type, "--event-type", "visit=login"),
        custom_events,
    )
    _ingest(source, fmt)


@ingest_app.command("stackexchange")
def ingest_stackexchange(
    folder: Annotated[Path, typer.Argument(help="Folder with Users.xml, Posts.xml, ...")],
    system_accounts: Annotated[
        str,
        typer.Option(
            help="Comma-separated user ids of system accounts (bots such as Community, -1): "
            "their votes, badges and activity are left out as excluded rows, and they are "
            "not members. Give '' to keep them."
        ),
    ] = "-1",
    fmt: FormatOption = "table",
) -> None:
    """Ingest a Stack Exchange data dump (README: "Stack Exchange dumps" says what becomes what)."""
    from features.adapters.stackexchange import StackExchangeSource, parse_system_accounts
    from pipelines.cli.paths import input_folder

    source = StackExchangeSource(
        input_folder(folder, "folder"), system_accounts=parse_system_accounts(system_accounts)
    )
    _ingest(source, fmt)


@ingest_app.command("fightchurn")
def ingest_fightchurn(
    folder: Annotated[
        Path,
        typer.Argument(
            help="Folder with account.csv, subscription.csv, event.csv[.gz] and event_type.csv "
            "(event_type_id,event_type_name: it names the event types)."
        ),
    ],
    fmt: FormatOption = "table",
) -> None:
    """Ingest the account/subscription/event layout of the Fighting Churn With Data simulator.

    Four files are required: account.csv, subscription.csv, event.csv (or event.csv.gz) and
    event_type.csv, which maps each event_type_id to its name.
    """
    from features.adapters.fightchurn import FightChurnSource
    from pipelines.cli.paths import input_folder

    _ingest(FightChurnSource(input_folder(folder, "folder")), fmt)


def _ingest(source: object, fmt: str = "table") -> None:
    from features.lake.store import Lake
    from pipelines.ingest import ingest_source
    from pipelines.output import check_format, print_ingest

    check_format(fmt)
    report = ingest_source(Lake.default(), source)  # type: ignore[arg-type]
    print_ingest(report, fmt)


@app.command()
def simulate(
    members: Annotated[int, typer.Option(help="Members to simulate.")] = 5_000,
    days: Annotated[int, typer.Option(help="Days to simulate.")] = 180,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same community.")] = 7,
    ingest: Annotated[bool, typer.Option(help="Ingest the result into the lake.")] = True,
    fmt: FormatOption = "table",
) -> None:
    """Simulate a synthetic community and (by default) ingest it."""
    from pipelines.output import check_format, console, print_ingest
    from pipelines.steps import simulate_and_ingest

    check_format(fmt)
    folder, report = simulate_and_ingest(members, days, seed, ingest=ingest)
    if fmt == "table":
        console().print(f"synthetic community written to {folder}")
    if report is not None:
        print_ingest(report, fmt)


@features_app.command("build")
def features_build(
    as_of: Annotated[list[str], typer.Option(help="Observation date YYYY-MM-DD, repeatable.")] = [],  # noqa: B006
    every: Annotated[
        str | None, typer.Option(help="Observation dates every N days, e.g. 14d.")
    ] = None,
    horizon: Annotated[int, typer.Option(help="Churn horizon in days.")] = 30,
    lookback: Annotated[int, typer.Option(help="Days of activity that make a member active.")] = 30,
    data_end: Annotated[
        str | None,
        typer.Option(
            help="Last day the data is complete for (default: the earliest of the tables' "
            "last days, printed)."
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--from", help="With --every: the first observation date (YYYY-MM-DD)."),
    ] = None,
    stop: Annotated[
        str | None,
        typer.Option(
            "--to", help="With --every: the last observation date (default: the data end)."
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="arrays (NumPy, the fast default), sql (DuckDB running the portable SQL "
            "that defines the features) or spark (the same SQL on Apache Spark): the same "
            "table every way."
        ),
    ] = "arrays",
    master: Annotated[
        str | None,
        typer.Option(
            help="Spark master for --engine spark (default: SPARK_MASTER, else local[cores])."
        ),
    ] = None,
    lake: Annotated[
        str | None,
        typer.Option(
            help="For --engine spark: the lake to read, a folder or a URI "
            "(s3://bucket/lake, gs://, abfs://; see `steward lake push`). "
            "Default: STEWARD_HOME/lake."
        ),
    ] = None,
    fmt: FormatOption = "table",
) -> None:
    """Build point-in-time member features and churn labels."""
    from features.members.definition import ENGINES, Engine

    if (start or stop) and not every:
        raise UserError("--from and --to bound --every: give --every 7d too")
    if stop and not start:
        raise UserError("--to ends a range of dates: give --from DATE too")
    if bool(as_of) == bool(every):
        raise UserError("give either --as-of DATE (repeatable) or --every 14d")
    if engine not in (*ENGINES, "spark"):
        raise UserError(f"--engine {engine!r}: give one of {', '.join((*ENGINES, 'spark'))}")
    if master is not None and engine != "spark":
        raise UserError("--master chooses where --engine spark runs: give --engine spark too")
    if lake is not None and engine != "spark":
        raise UserError(
            "--lake is read by --engine spark; the other engines read STEWARD_HOME/lake"
        )
    dates = [_parse_date(d) for d in as_of] or None
    every_days = _parse_every(every) if every else None

    from pipelines.output import check_format, console, features_table, show
    from pipelines.steps import build_features_step

    check_format(fmt)

    end = _parse_date(data_end, "--data-end") if data_end else None
    end = _announce_data_end(end, lake, engine)
    if every_days is not None and (start or stop):
        from pipelines.steps import dates_between

        first = _parse_date(start, "--from") if start else date.min
        last = _parse_date(stop, "--to") if stop else end
        if last is None:
            raise UserError("give --to DATE: the lake's data end is not known here")
        try:
            dates = dates_between(first, last, every_days)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        every_days = None
    if engine == "spark":
        from features.lake.uri import open_lake_at
        from features.members.definition import FeatureConfig
        from features.members.spark import build_member_features_spark
        from pipelines.steps import features_dir

        config = FeatureConfig(horizon_days=horizon, lookback_days=lookback, data_end=end)
        with console().status("building member features on Spark"):
            spark_report = build_member_features_spark(
                open_lake_at(lake), features_dir(), dates, every_days, config, master
            )
        show(features_table(spark_report), fmt)
        return
    chosen: Engine = "sql" if engine == "sql" else "arrays"
    report = build_features_step(dates, every_days, horizon, lookback, end, chosen)
    show(features_table(report), fmt)


def _announce_data_end(end: date | None, lake: str | None, engine: str) -> date | None:
    """The given data end, else the lake's default one, printed with a warning if uneven."""
    from features.lake.store import Lake
    from pipelines.output import console
    from pipelines.steps import default_data_end

    if end is not None:
        console().print(f"data end {end} (--data-end)")
        return end
    if engine == "spark" and lake is not None:
        from features.lake.uri import is_uri

        if is_uri(lake):
            return None  # the Spark build finds its own (the last event day)
    found = default_data_end(Lake(Path(lake)) if lake else Lake.default())
    if found.day is None:
        return None
    console().print(found.explain())
    warning = found.warning()
    if warning:
        console().print(f"[yellow]warning:[/yellow] {warning}")
    return found.day


def _parse_date(text: str, option: str = "--as-of") -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{option} {text!r} is not a date like 2026-03-01") from None


@lake_app.command("push")
def lake_push(
    uri: Annotated[
        str,
        typer.Argument(help="Where: s3://bucket/lake, gs://..., abfs://... or file:///folder."),
    ],
) -> None:
    """Copy the lake's published files to an object store, the manifest last, for a cluster to
    read with `steward features build --engine spark --lake URI`."""
    from features.lake.store import Lake
    from features.lake.uri import is_uri, push_lake
    from pipelines.output import console

    if not is_uri(uri):
        raise UserError(f"{uri!r} is not a URI: give s3://bucket/lake, gs://..., or file:///...")
    report = push_lake(Lake.default(), uri)
    console().print(
        f"pushed {report.files:,} files ({report.skipped:,} already there) to {report.uri}; "
        f"it now shows snapshot {report.snapshot}"
    )


@lake_app.command("status")
def lake_status(fmt: FormatOption = "table") -> None:
    """Rows per table and quarantined rows by reason."""
    from pipelines.output import show
    from pipelines.steps import lake_summary

    show(lake_summary(), fmt)


@app.command()
def demo(
    members: Annotated[int, typer.Option(help="Members in the synthetic community.")] = 5_000,
    days: Annotated[int, typer.Option(help="Days simulated.")] = 180,
    serve: Annotated[
        bool, typer.Option("--serve", help="Then start the scoring server on 127.0.0.1:8000.")
    ] = False,
    toxicity_model: Annotated[
        str,
        typer.Option(
            "--toxicity-model",
            help="minilm: the served recipe (about 6 minutes on 2 cores); linear: under a minute.",
        ),
    ] = "minilm",
) -> None:
    """Simulate, ingest, build features, train, score and print a summary: the whole job on
    built-in data."""
    from pipelines.cli.demo import run_demo

    run_demo(members, days, serve, toxicity_model)


def main() -> None:
    """Entry point: run the app, turning expected failures into one line on stderr."""
    from pydantic import ValidationError

    from features.lake.store import LakeError
    from features.members.spark_session import SparkUnavailable

    try:
        app()
    except ValidationError as exc:
        # A config built in code (not read from a file) fails with pydantic's multi-line text.
        from pipelines.experiments.config import validation_message

        _fail(validation_message(exc))
    except (UserError, LakeError, SparkUnavailable, ValueError, OSError) as exc:
        _fail(exc)
    except Exception as exc:
        # MLflow's errors (a store it cannot open, a missing run) are the user's to fix too;
        # matched by module so that `steward --help` does not have to import mlflow.
        if not type(exc).__module__.startswith("mlflow."):
            raise
        _fail(exc)


def _fail(problem: object) -> None:
    """Print one line on stderr and exit 1; a multi-line message keeps only its first line."""
    text = str(problem).strip()
    first = text.splitlines()[0] if text else type(problem).__name__
    print(f"steward: error: {first}", file=sys.stderr)
    sys.exit(1)
