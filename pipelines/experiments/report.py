"""A run's HTML report, built from what the run logged and saved with it as report.html."""

from __future__ import annotations

import base64
import io
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPORT = "report.html"
MAX_PLOTS = 6


@dataclass(frozen=True)
class Champion:
    """The registered champion before the run: its version and its own run's metrics."""

    name: str
    version: str | None
    metrics: dict[str, float]


def local_path(uri: str) -> str:
    """A file:// artifact URI as a plain path; other URIs unchanged."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    return str(Path(unquote(parsed.path))) if parsed.scheme == "file" else uri


def render_report(context: dict[str, Any]) -> str:
    """The page for a context (see report_context); user text is HTML-escaped."""
    from jinja2 import Environment, FileSystemLoader

    templates = Path(__file__).parent / "templates"
    environment = Environment(loader=FileSystemLoader(templates), autoescape=True)
    return environment.get_template("report.html.j2").render(**context)


def log_report(run_id: str, champion: Champion | None = None) -> str:
    """Render the run's report, log it as report.html and return where it lies."""
    from mlflow import MlflowClient

    client = MlflowClient()
    html = render_report(report_context(run_id, champion))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / REPORT
        path.write_text(html, encoding="utf-8")
        client.log_artifact(run_id, str(path))
    return local_path(f"{client.get_run(run_id).info.artifact_uri}/{REPORT}")


def report_context(run_id: str, champion: Champion | None = None) -> dict[str, Any]:
    """Everything the template shows, read back from the run."""
    from mlflow import MlflowClient

    run = MlflowClient().get_run(run_id)
    tags, metrics = run.data.tags, run.data.metrics
    primary = tags.get("steward.primary_metric", "")
    headline = [m for m in tags.get("steward.headline", primary).split(",") if m]
    with tempfile.TemporaryDirectory() as tmp:
        read = _Artifacts(run_id, Path(tmp))
        context = {
            "title": f"{tags.get('steward.experiment_file', run.info.run_name)}: {run.info.run_name}",
            "run_id": run_id,
            "kind": tags.get("steward.run_kind", "run"),
            "started": _time(run.info.start_time),
            "duration": _duration(run.info.start_time, run.info.end_time),
            "status": run.info.status,
            "commit": tags.get("steward.git_commit", "unknown"),
            "dirty": tags.get("steward.git_dirty", ""),
            "promotion": tags.get("promotion"),
            "headline": _headline(headline, primary, metrics, champion),
            "champion": champion,
            "other_metrics": [(k, fmt(v)) for k, v in sorted(metrics.items())],
            "plots": _plots(read, tags.get("steward.task", "")),
            "data_summary": _data_summary(read, run.data.params, metrics),
            "reasons": read.json("top_reasons.json"),
            "importance": _importance(read),
            "errors": _errors(read),
            "config": read.text("config.yaml"),
            "environment": read.text("environment.json"),
            **_trials(run_id, primary),
        }
    return context


class _Artifacts:
    """Reads a run's artifacts into a scratch folder; a missing one reads as None."""

    def __init__(self, run_id: str, folder: Path) -> None:
        from mlflow import MlflowClient

        self.run_id, self.folder = run_id, folder
        self.artifact_uri = str(MlflowClient().get_run(run_id).info.artifact_uri)

    def path(self, name: str) -> Path | None:
        """The artifact's file (the local store's own, else a downloaded copy), or None."""
        import mlflow
        from mlflow.exceptions import MlflowException

        where = Path(local_path(f"{self.artifact_uri}/{name}"))
        if where.is_absolute():
            return where if where.exists() else None
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        try:
            found = mlflow.artifacts.download_artifacts(
                run_id=self.run_id, artifact_path=name, dst_path=str(self.folder)
            )
        except (MlflowException, OSError):
            return None
        return Path(found)

    def text(self, name: str) -> str | None:
        """An artifact's text; a logged dict is shown as YAML."""
        path = self.path(name)
        if path is None or not path.is_file():
            return None
        return path.read_text(encoding="utf-8")

    def json(self, name: str) -> Any:
        """A JSON artifact's content."""
        text = self.text(name)
        return json.loads(text) if text else None

    def listing(self, folder: str) -> list[str]:
        """Artifact paths under a folder."""
        from mlflow import MlflowClient

        return [a.path for a in MlflowClient().list_artifacts(self.run_id, folder)]


def fmt(value: Any) -> str:
    """A metric as people read it: 4 decimals, integers whole, NaN as a dash."""
    if value is None:
        return "-"
    number = float(value)
    if number != number:
        return "-"
    return f"{number:,.0f}" if number.is_integer() and abs(number) >= 10 else f"{number:.4f}"


def _headline(
    names: list[str], primary: str, metrics: dict[str, float], champion: Champion | None
) -> list[dict[str, Any]]:
    """Headline rows: value, champion's value, difference and whether it is an improvement."""
    rows = []
    lower_better = {"brier", "ece"}
    for name in names:
        mine, theirs = metrics.get(name), champion.metrics.get(name) if champion else None
        delta = mine - theirs if mine is not None and theirs is not None else None
        good = delta is not None and (delta < 0 if name in lower_better else delta > 0)
        css = "" if not delta else ("better" if good else "worse")
        rows.append(
            {
                "name": name,
                "primary": name == primary,
                "value": fmt(mine),
                "champion": fmt(theirs),
                "delta": "-" if delta is None else f"{delta:+.4f}",
                "css": css,
            }
        )
    return rows


def _plots(read: _Artifacts, task: str) -> list[tuple[str, str]]:
    """PNG plots as base64; for toxicity only the main label's (there is one per label)."""
    names = sorted(p for p in read.listing("plots") if p.endswith(".png"))
    if task == "toxicity":
        names = [p for p in names if p.endswith("_toxicity.png")]
    out = []
    for name in names[:MAX_PLOTS]:
        path = read.path(name)
        if path is not None:
            out.append((Path(name).stem, base64.b64encode(path.read_bytes()).decode()))
    return out


def _data_summary(
    read: _Artifacts, params: dict[str, str], metrics: dict[str, float]
) -> list[tuple[str, str]]:
    """What data the run saw: the churn fingerprint, or rows per toxicity source and split."""
    found = read.json("data_fingerprint.json")
    if found:
        return [
            (k, json.dumps(v) if isinstance(v, dict | list) else str(v)) for k, v in found.items()
        ]
    rows = [
        (k.removeprefix("rows/"), fmt(v))
        for k, v in sorted(metrics.items())
        if k.startswith("rows/")
    ]
    if "data_fingerprint" in params:
        rows.append(("content sha256", params["data_fingerprint"]))
    return rows


def _importance(read: _Artifacts, top: int = 10) -> list[tuple[str, str]]:
    """The features with the largest mean absolute contribution."""
    import pandas as pd

    path = read.path("feature_importance.csv")
    if path is None:
        return []
    frame = pd.read_csv(path).head(top)
    return [
        (str(f), fmt(v))
        for f, v in zip(frame["feature"], frame["mean_abs_contribution"], strict=True)
    ]


def _errors(read: _Artifacts) -> list[dict[str, Any]]:
    """The toxicity model's most confident mistakes on the test split."""
    import pandas as pd

    path = read.path("top_errors.csv")
    if path is None:
        return []
    frame = pd.read_csv(path, keep_default_na=False)
    frame["probability"] = frame["probability"].map(fmt)
    frame["text"] = frame["text"].astype(str).str.slice(0, 300)
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _trials(run_id: str, metric: str) -> dict[str, Any]:
    """A sweep's trials (its nested runs), the best, and the metric by trial as a plot."""
    import mlflow

    runs = mlflow.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{run_id}' and tags.`steward.run_kind` = 'trial'",
        search_all_experiments=True,
        output_format="list",
    )
    if not runs:
        return {}
    runs = sorted(runs, key=lambda r: int(r.data.tags.get("steward.trial", 0)))
    parent = mlflow.get_run(run_id).data
    keys = sorted(k.removeprefix("best.") for k in parent.params if k.startswith("best."))
    values = [r.data.metrics.get(metric, float("nan")) for r in runs]
    trials = [
        {
            "number": r.data.tags.get("steward.trial"),
            "cells": [r.data.params.get(k, "-") for k in keys],
            "value": fmt(v),
            "run_id": r.info.run_id[:8],
        }
        for r, v in zip(runs, values, strict=True)
    ]
    maximize = parent.tags.get("steward.direction", "maximize") == "maximize"
    plot = ("trials", _trials_plot(values, metric, maximize))
    return {
        "trials": trials,
        "trial_keys": keys,
        "metric": metric,
        "best_trial": parent.tags.get("steward.best_trial"),
        "best_value": fmt(
            next(iter(v for k, v in parent.metrics.items() if k.startswith("best_")), None)
        ),
        "plots": [plot],
    }


def _trials_plot(values: list[float], metric: str, maximize: bool) -> str:
    """The metric of each trial and the best so far, as base64 PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    ax.plot(range(len(values)), values, "o", label="trial")
    pick = max if maximize else min
    best = [pick(values[: i + 1]) for i in range(len(values))]
    ax.plot(range(len(values)), best, "-", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _time(millis: int | None) -> str:
    """A run timestamp in UTC."""
    if not millis:
        return "-"
    return datetime.fromtimestamp(millis / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(start: int | None, end: int | None) -> str:
    """Seconds the run took (so far, while it is still running)."""
    if not start:
        return "-"
    stop = end or int(datetime.now(UTC).timestamp() * 1000)
    return f"{(stop - start) / 1000:.1f} s"
