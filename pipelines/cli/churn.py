"""Churn commands: `steward train churn`, `steward score members`, `steward at-risk`.

The lead mounts them: app.add_typer(train_app, name="train"), app.add_typer(score_app,
name="score") and app.command("at-risk")(at_risk_cmd). Errors raise ValueError, which
pipelines.cli.main.main prints as one line.
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
        Path | None,
        typer.Option(
            "--config",
            help="Experiment file, e.g. experiments/churn_lgbm.yaml (default: its settings, "
            "label auto).",
        ),
    ] = None,
    sets: Annotated[
        list[str],
        typer.Option("--set", help="Override a config key, e.g. --set label=activity; repeatable."),
    ] = [],  # noqa: B006
    force: Annotated[
        bool, typer.Option(help="Make this version champion even if it does not win.")
    ] = False,
    backtest: Annotated[
        int,
        typer.Option(
            help="Instead of training: repeat the training with each of the last N labelled "
            "dates as the validation date and print each date's metrics (nothing registered).",
            min=0,
        ),
    ] = 0,
) -> None:
    """Train a churn model, log it to MLflow and register it as steward-churn."""
    from models.tracking import quiet_mlflow
    from pipelines.churn.train import train_churn, training_table
    from pipelines.output import console

    quiet_mlflow()
    settings = churn_settings(config, sets)
    out = console()
    if backtest:
        if force:
            raise ValueError("--force promotes a trained version; --backtest registers none")
        _print_backtest(settings, backtest)
        return
    with out.status(f"training {settings.name} ({settings.model.kind})"):
        report = train_churn(settings, force=force)
    for line in [*training_lines(report.data), *tier_lines(report.metrics)]:
        out.print(line)
    out.print(training_table([report]))
    verdict = "is now champion" if report.promoted else "registered; champion unchanged"
    out.print(
        f"steward-churn v{report.version} {verdict} ({report.reason}); MLflow run {report.run_id}"
    )


def _print_backtest(settings: Any, folds: int) -> None:
    """Run the rolling-origin backtest and print a row per validation date and the means."""
    from pipelines.churn.train import backtest_churn
    from pipelines.output import console, rows_table

    out = console()
    with out.status(f"backtesting {settings.name} on the last {folds} labelled dates"):
        found, run_id = backtest_churn(settings, folds)
    rows = [
        [
            day.isoformat(),
            f"{m['train_dates']:.0f}",
            f"{m['valid_rows']:,.0f}",
            f"{m['valid_churners']:,.0f}",
            _with_interval(m, "roc_auc", "roc_auc_ci", 3),
            f"{m['pr_auc']:.3f}",
            _with_interval(m, "lift_top_decile", "lift_ci", 2),
            f"{m['brier']:.4f}",
            f"{m['ece']:.4f}",
        ]
        for day, m in zip(found.dates, found.per_date, strict=True)
    ]
    mean = found.mean()
    means = [f"{mean['roc_auc']:.3f}", f"{mean['pr_auc']:.3f}", f"{mean['lift_top_decile']:.2f}"]
    rows.append(["mean", "", "", "", *means, f"{mean['brier']:.4f}", f"{mean['ece']:.4f}"])
    columns = ["validation date", "training dates", "rows", "churners", "ROC-AUC (95% CI)"]
    columns += ["PR-AUC", "lift@10% (95% CI)", "Brier", "ECE"]
    out.print(rows_table(f"{settings.name}: rolling-origin backtest", columns, rows))
    out.print(
        f"each date validated a model trained only on labels closed before it (no refit); "
        f"nothing registered; MLflow run {run_id}"
    )


def _with_interval(metrics: dict[str, float], name: str, interval: str, digits: int) -> str:
    """'0.812 (0.774-0.851)', or the value alone when no interval was computed."""
    value = f"{metrics[name]:.{digits}f}"
    low, high = metrics.get(f"{interval}_low"), metrics.get(f"{interval}_high")
    return value if low is None or high is None else f"{value} ({low:.{digits}f}-{high:.{digits}f})"


def churn_settings(config: Path | None, sets: list[str]) -> Any:
    """The churn config of a file (or the built-in defaults) with --set overrides applied."""
    from models.churn.config import parse_config, resolve_paths
    from models.config import read_yaml_mapping
    from pipelines.experiments.config import apply_overrides, parse_sets

    overrides = parse_sets(sets)
    if config is None:
        # The model section names its kind, so that --set model.num_leaves=15 has a model to set.
        base = {"model": {"kind": "lgbm"}}
        return parse_config(apply_overrides(base, overrides), source="--set")
    raw = apply_overrides(read_yaml_mapping(config), overrides)
    source = f"{config} (--set)" if overrides else str(config)
    return resolve_paths(parse_config(raw, source=source), config.parent)


def training_lines(found: dict[str, Any]) -> list[str]:
    """What the model learned from: label and why, data end, dates, rows and churners."""
    if not found:
        return []
    dates = found.get("train_dates", [])
    shown = ", ".join(dates) if len(dates) <= 8 else f"{dates[0]} .. {dates[-1]}"
    feature_config = found.get("feature_config") or {}
    return [
        f"label: {found.get('label_reason') or found.get('label')}",
        f"labels known up to {feature_config.get('data_end')} (the features' data end)",
        f"training: {len(dates)} dates ({shown}), {found['train_rows']:,} rows, "
        f"{found['train_positives']:,} churners",
        f"validation: {found['valid_date']}, {found['valid_rows']:,} rows, "
        f"{found['valid_positives']:,} churners",
        *_refit_line(found),
        *_view_lines(found),
        *_cohort_lines(found),
    ]


def _view_lines(found: dict[str, Any]) -> list[str]:
    """Which feature columns the model uses, and why (feature_view)."""
    view = found.get("feature_view") or {}
    if not view:
        return []
    if view["name"] == "all":
        what = f"every feature column ({view['of']})"
        other = "--set feature_view=long_term to try the long-term view"
    else:
        what = (
            f"the long-term view ({view['columns']} of {view['of']} columns: each count at its "
            "longest window, tenure and standing; no recent windows, days since or trends)"
        )
        other = "--set feature_view=all to keep every column"
    return [f"features: {what}; {view['reason']}; {other}"]


def tier_lines(metrics: dict[str, float]) -> list[str]:
    """The probabilities the served tiers start at, and the churn rate behind them."""
    if "tier_high" not in metrics:
        return []
    return [
        f"tiers: high from probability {metrics['tier_high']:.3g}, medium from "
        f"{metrics['tier_medium']:.3g}: tiers.high and .medium, or tiers.high_lift and "
        f".medium_lift times the labelled rows' churn rate ({metrics['tier_churn_rate']:.1%}) "
        "where lower"
    ]


def _cohort_lines(found: dict[str, Any]) -> list[str]:
    """Behavioural cohorts of the top features (all of them in the run's cohorts.json)."""
    from models.churn.cohorts import cohort_lines

    report = found.get("cohorts")
    return cohort_lines(report) if report else []


def _refit_line(found: dict[str, Any]) -> list[str]:
    """The served model's own training rows, when it was refitted after validation."""
    dates = found.get("refit_dates")
    if not found.get("refitted") or not dates:
        return ["served: the validated model as it is (validation.refit: false)"]
    return [
        f"served: refitted on {len(dates)} dates ({dates[0]} .. {dates[-1]}), "
        f"{found['refit_rows']:,} rows, {found['refit_positives']:,} churners: the freshest "
        "closed labels (metrics above are the validated model's)"
    ]


@score_app.command("members")
def score_members_cmd(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Observation date YYYY-MM-DD (default: the latest built)."),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from", help="Score every built date from this one (into the scored history)."
        ),
    ] = None,
    stop: Annotated[
        str | None,
        typer.Option("--to", help="With --from: the last date (default: the latest built)."),
    ] = None,
    model_version: Annotated[
        str | None,
        typer.Option("--model-version", help="Score with this registered version."),
    ] = None,
    alias: Annotated[
        str | None, typer.Option("--alias", help="Score with the version this alias names.")
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
    """Score the members who can still churn and write the at-risk table and scored history."""
    from models.tracking import quiet_mlflow
    from pipelines.churn.score import score_members, score_range
    from pipelines.output import console

    if engine not in ("local", "spark"):
        raise ValueError(f"--engine {engine!r}: give local or spark")
    if master is not None and engine != "spark":
        raise ValueError("--master chooses where --engine spark runs: give --engine spark too")
    if lake is not None and engine != "spark":
        raise ValueError("--lake is read by --engine spark; local scoring reads STEWARD_HOME/lake")
    if (start or stop) and as_of:
        raise ValueError("--from/--to score a range of dates: leave out --as-of")
    if stop and not start:
        raise ValueError("--to ends a range: give --from DATE too")
    quiet_mlflow()
    out = console()
    if start:
        first = _parse_date(start, "--from")
        last = _parse_date(stop, "--to") if stop else date.max
        with out.status(f"scoring members date by date ({engine})"):
            if engine == "spark":
                from features.lake.uri import open_lake_at
                from pipelines.churn.spark_scoring import score_range_spark

                reports = score_range_spark(
                    first, last, lake=open_lake_at(lake), master=master,
                    version=model_version, alias=alias,
                )  # fmt: skip
            else:
                reports = score_range(first, last, version=model_version, alias=alias)
        for report in reports:
            out.print(_score_line(report, "scored history"))
        out.print(_at_risk_line(reports[-1].as_of, "this range"))
        return
    day = _parse_date(as_of) if as_of else None
    with out.status(f"scoring members with reasons ({engine})"):
        if engine == "spark":
            from features.lake.uri import open_lake_at
            from pipelines.churn.spark_scoring import score_members_spark

            report = score_members_spark(
                as_of=day, lake=open_lake_at(lake), master=master, version=model_version,
                alias=alias,
            )  # fmt: skip
        else:
            report = score_members(as_of=day, version=model_version, alias=alias)
    out.print(_score_line(report, str(report.path)))
    out.print(_at_risk_line(report.as_of, "this date"))


def _at_risk_line(last: date, what: str) -> str:
    """Which date the at-risk table holds after scoring a date or a range that ended on last."""
    from features.scores.at_risk import at_risk_date, at_risk_path

    held = at_risk_date()
    line = f"the at-risk table holds {held} ({at_risk_path().parent})"
    if held is not None and held > last:
        line += f": later than {last}, so {what} went into the scored history only"
    return line


def _score_line(report: Any, where: str) -> str:
    """What one scored date wrote, and who was left out and why."""
    tiers = ", ".join(f"{n:,} {t}" for t, n in report.tiers.items())
    line = (
        f"scored {report.rows:,} members as of {report.as_of} with steward-churn "
        f"v{report.model_version} in {report.seconds:.1f} s ({tiers}); wrote {where}"
    )
    for reason, n in report.left_out.items():
        line += f"\n  left out {n:,} members: {reason}"
    return line


@score_app.command("backtest")
def score_backtest_cmd(
    features: Annotated[
        Path | None,
        typer.Option(
            help="The feature build whose labels judge the scores (default: "
            "STEWARD_HOME/features/member_features; rebuild it later for closed labels)."
        ),
    ] = None,
) -> None:
    """ROC-AUC, PR-AUC and lift per scored date (with 95% intervals) against closed labels."""
    from features.scores.history import history_dir
    from models.champions import churn_labels_through
    from models.churn.scored_backtest import backtest_history
    from models.tracking import quiet_mlflow
    from pipelines.output import console, rows_table
    from pipelines.steps import features_dir

    if not history_dir().is_dir():
        raise ValueError("no scored history: run `steward score members --from DATE` first")
    quiet_mlflow()
    found = backtest_history(history_dir(), features or features_dir(), churn_labels_through)
    rows = []
    for d in found:
        m = d.metrics
        rows.append(
            [
                d.as_of.isoformat(),
                d.label,
                d.model_versions,
                d.rows,
                d.churners,
                _with_interval(m, "roc_auc", "roc_auc_ci", 3) if m else d.note,
                f"{m['pr_auc']:.3f}" if m else "",
                _with_interval(m, "lift_top_decile", "lift_ci", 2) if m else "",
            ]
        )
    columns = ["as_of", "label", "version", "rows", "churners", "ROC-AUC (95% CI)", "PR-AUC"]
    console().print(
        rows_table(
            "backtest: scored history against closed labels", [*columns, "lift@10% (95% CI)"], rows
        )
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
    from features.scores.at_risk import at_risk, parse_segment
    from features.scores.export import parse_fields, to_csv_text, to_json_text
    from pipelines.churn.score import at_risk_table
    from pipelines.cli.paths import output_file, write_text
    from pipelines.output import check_format, console

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
    from features.synthetic.provenance import synthetic_note

    out = console()
    out.print(at_risk_table(found, f"{len(found):,} members most at risk"))
    note = synthetic_note(found["attributes"])
    if note:
        out.print(note)


def _parse_date(text: str, option: str = "--as-of") -> date:
    """A YYYY-MM-DD date, or a one-line error."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} {text!r} is not a date like 2026-03-01") from None
