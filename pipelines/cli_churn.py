"""Churn commands: `steward train churn`, `steward score members`, `steward at-risk`.

The lead mounts them: app.add_typer(train_app, name="train"), app.add_typer(score_app,
name="score") and app.command("at-risk")(at_risk_cmd). Errors raise ValueError, which
pipelines.cli.main prints as one line.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

train_app = typer.Typer(help="Train models and register them in MLflow.", no_args_is_help=True)
score_app = typer.Typer(help="Batch scoring with the champion models.", no_args_is_help=True)


@train_app.command("churn")
def train_churn_cmd(
    config: Annotated[
        Path, typer.Option("--config", help="Experiment file, e.g. experiments/churn_lgbm.yaml.")
    ],
    force: Annotated[
        bool, typer.Option(help="Make this version champion even if it does not win.")
    ] = False,
) -> None:
    """Train a churn model, log it to MLflow and register it as steward-churn."""
    from models.churn.config import load_config
    from pipelines.churn import quiet_mlflow, train_churn, training_table
    from pipelines.reporting import console

    quiet_mlflow()
    settings = load_config(config)
    out = console()
    with out.status(f"training {settings.name} ({settings.model.kind}, {settings.label} churn)"):
        report = train_churn(settings, force=force)
    out.print(training_table([report]))
    verdict = "is now champion" if report.promoted else "registered; champion unchanged"
    out.print(
        f"steward-churn v{report.version} {verdict} ({report.reason}); MLflow run {report.run_id}"
    )


@score_app.command("members")
def score_members_cmd(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Observation date YYYY-MM-DD (default: the latest built)."),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(help="local (in this process, the default) or spark (mlflow spark_udf)."),
    ] = "local",
    master: Annotated[
        str | None,
        typer.Option(
            help="Spark master for --engine spark (default: SPARK_MASTER, else local[cores])."
        ),
    ] = None,
    lake: Annotated[
        str | None,
        typer.Option(
            help="For --engine spark: the lake whose member attributes the table carries, "
            "a folder or a URI (default: STEWARD_HOME/lake)."
        ),
    ] = None,
) -> None:
    """Score every active member with the churn champion and write the at-risk table."""
    from pipelines.churn import quiet_mlflow, score_members
    from pipelines.reporting import console

    if engine not in ("local", "spark"):
        raise ValueError(f"--engine {engine!r}: give local or spark")
    if master is not None and engine != "spark":
        raise ValueError("--master chooses where --engine spark runs: give --engine spark too")
    if lake is not None and engine != "spark":
        raise ValueError("--lake is read by --engine spark; local scoring reads STEWARD_HOME/lake")
    quiet_mlflow()
    day = _parse_date(as_of) if as_of else None
    out = console()
    with out.status(f"scoring members with reasons ({engine})"):
        if engine == "spark":
            from features.uri_lake import open_lake_at
            from pipelines.spark_scoring import score_members_spark

            report = score_members_spark(as_of=day, lake=open_lake_at(lake), master=master)
        else:
            report = score_members(as_of=day)
    tiers = ", ".join(f"{n:,} {t}" for t, n in report.tiers.items())
    out.print(
        f"scored {report.rows:,} members as of {report.as_of} with steward-churn "
        f"v{report.model_version} in {report.seconds:.1f} s ({tiers}); wrote {report.path}"
    )


def at_risk_cmd(
    top: Annotated[int, typer.Option(help="How many members, highest risk first.")] = 20,
    tier: Annotated[str | None, typer.Option(help="Only this tier: high, medium or low.")] = None,
    segment: Annotated[
        list[str],
        typer.Option(help="KEY=VALUE on member attributes (e.g. channel=ios), repeatable."),
    ] = [],  # noqa: B006
    csv: Annotated[
        Path | None, typer.Option(help="Write the rows to this .csv file instead of printing them.")
    ] = None,
    fields: Annotated[
        list[str],
        typer.Option(
            help="CSV columns, comma-separated or repeated (default: member_id, as_of, "
            "probability, tier, reasons, intervention, model_version; attributes only if named)."
        ),
    ] = [],  # noqa: B006
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="table (for people), csv or json on standard output (for programs; every "
            "column of --fields, nothing cut).",
        ),
    ] = "table",
) -> None:
    """The members most likely to churn, with reasons and interventions."""
    from pipelines.churn import at_risk, at_risk_table
    from pipelines.export import parse_fields, to_csv_text
    from pipelines.paths import output_file, write_text
    from pipelines.reporting import check_format, console

    if top < 1:
        raise ValueError(f"--top {top}: give a positive number of members")
    check_format(fmt)
    if fields and csv is None and fmt == "table":
        raise ValueError(
            "--fields chooses the columns of --csv FILE or --format csv|json: give one of them"
        )
    if csv is not None and fmt != "table":
        raise ValueError("--csv FILE writes a file; --format prints: give one of them")
    columns = parse_fields(fields)
    if csv is not None:
        output_file(csv, "--csv", ".csv")  # checked before the table is read
    found = at_risk(top=top, tier=tier, segment=parse_segment(segment))
    if csv is not None:
        write_text(csv, to_csv_text(found, columns))
        console().print(f"wrote {len(found):,} members ({', '.join(columns)}) to {csv}")
        return
    if fmt == "csv":
        sys.stdout.write(to_csv_text(found, columns))
        return
    if fmt == "json":
        sys.stdout.write(to_json_text(found, columns))
        return
    from features.provenance import synthetic_note

    out = console()
    out.print(at_risk_table(found, f"{len(found):,} members most at risk"))
    note = synthetic_note(found["attributes"])
    if note:
        out.print(note)


def to_json_text(frame: Any, columns: list[str]) -> str:
    """At-risk rows as a JSON array of objects with these columns (attributes as an object)."""
    import json

    rows = []
    for record in frame.loc[:, columns].to_dict("records"):
        for key, value in record.items():
            if key == "attributes" and isinstance(value, str):
                record[key] = json.loads(value)
            elif hasattr(value, "tolist"):  # numpy arrays of reasons, interventions, drivers
                record[key] = value.tolist()
            elif isinstance(value, float) and value != value:  # NaN is not JSON
                record[key] = None
        rows.append(record)
    return json.dumps(rows, ensure_ascii=False, default=str, indent=1) + "\n"


def parse_segment(
    pairs: list[str], what: str = "--segment", example: str = "channel=ios"
) -> dict[str, str]:
    """KEY=VALUE pairs (the CLI's --segment, the API's segment=); anything else a ValueError."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{what} {pair!r} is not KEY=VALUE (e.g. {example})")
        out[key.strip()] = value.strip()
    return out


def _parse_date(text: str) -> date:
    """A YYYY-MM-DD date, or a one-line error."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--as-of {text!r} is not a date like 2026-03-01") from None
