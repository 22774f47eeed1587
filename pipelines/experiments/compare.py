"""`steward experiment compare`: runs ranked by the primary metric, with the params that differ."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_PARAMS = 6  # differing params shown as columns; the rest are counted in the caption
MAX_METRICS = 4  # the primary metric and the first headline metrics after it


@dataclass(frozen=True)
class Comparison:
    """A ranked table of runs, ready to print."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    caption: str


def compare_experiments(names: list[str], top: int = 20) -> Comparison:
    """Finished runs (and sweep trials) of the named experiments, best first."""
    import mlflow

    from models.tracking import configure_tracking

    configure_tracking()
    ids = [_experiment_id(name) for name in names]
    runs = mlflow.search_runs(experiment_ids=ids, output_format="list", max_results=5000)
    runs = [r for r in runs if r.info.status == "FINISHED" and _kind(r) != "sweep"]
    if not runs:
        raise ValueError(
            f"no finished runs in {', '.join(names)}: run `steward experiment run FILE`"
        )
    latest = max(runs, key=lambda r: r.info.start_time)
    metric = latest.data.tags.get("steward.primary_metric") or "roc_auc"
    maximize = latest.data.tags.get("steward.direction", "maximize") == "maximize"
    headline = [m for m in latest.data.tags.get("steward.headline", metric).split(",") if m]
    shown_metrics = [metric, *[h for h in headline if h != metric]][:MAX_METRICS]
    ranked = _rank(runs, metric, maximize)[:top]
    differing = differing_params(ranked)
    shown = differing[:MAX_PARAMS]
    by_id = {e: n for e, n in zip(ids, names, strict=True)}
    columns = [
        "#",
        "run",
        *(["experiment"] if len(names) > 1 else []),
        "kind",
        *[m if m != metric else f"{m} *" for m in shown_metrics],
        "duration s",
        "commit",
        *shown,
    ]
    rows = []
    for rank, run in enumerate(ranked, start=1):
        metrics = run.data.metrics
        rows.append(
            [
                rank,
                f"{run.info.run_name} {run.info.run_id[:8]}",
                *([by_id[run.info.experiment_id]] if len(names) > 1 else []),
                _kind(run),
                *[metrics.get(m) for m in shown_metrics],
                _duration(run),
                run.data.tags.get("steward.git_commit", "")[:8] or None,
                *[run.data.params.get(p) for p in shown],
            ]
        )
    hidden = len(differing) - len(shown)
    caption = f"ranked by {metric} ({'higher' if maximize else 'lower'} is better)" + (
        f"; {hidden} more differing params not shown" if hidden > 0 else ""
    )
    return Comparison(f"runs of {', '.join(names)}", columns, rows, caption)


def differing_params(runs: list[Any]) -> list[str]:
    """Params with more than one value among the runs that log them.

    A param only some runs log (trials skip the package versions) is not a difference."""
    keys = sorted({k for r in runs for k in r.data.params})
    values = {k: {r.data.params[k] for r in runs if k in r.data.params} for k in keys}
    return [k for k in keys if len(values[k]) > 1]


def _rank(runs: list[Any], metric: str, maximize: bool) -> list[Any]:
    """Best first; runs without the metric last, newest first among equals."""

    def key(run: Any) -> tuple[int, float, int]:
        value = run.data.metrics.get(metric)
        if value is None or value != value:
            return (1, 0.0, -run.info.start_time)
        return (0, -value if maximize else value, -run.info.start_time)

    return sorted(runs, key=key)


def _experiment_id(name: str) -> str:
    """The id of an experiment by name (a file path is taken by its stem)."""
    from pathlib import Path

    import mlflow

    stem = Path(name).stem if name.endswith((".yaml", ".yml")) else name
    found = mlflow.get_experiment_by_name(stem)
    if found is None:
        known = sorted(e.name for e in mlflow.search_experiments())
        raise ValueError(f"no experiment named {stem!r}; known: {', '.join(known) or 'none'}")
    return str(found.experiment_id)


def _kind(run: Any) -> str:
    """run, trial, best or sweep (runs not made by the runner: train)."""
    return str(run.data.tags.get("steward.run_kind", "train"))


def _duration(run: Any) -> float | None:
    """Seconds from start to end."""
    if not run.info.end_time:
        return None
    return (run.info.end_time - run.info.start_time) / 1000.0
