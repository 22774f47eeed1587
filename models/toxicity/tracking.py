"""What a toxicity training run records in MLflow, and its registration as `steward-toxicity`."""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd

from features.text.corpora import fingerprint
from models.registry import Promotion, register_and_promote
from models.toxicity.config import ToxicityConfig
from models.toxicity.metrics import confusion_figure, metric_key, pr_curve_figure
from models.toxicity.scoring import ToxicityScorer, routed_language
from models.toxicity.thresholds import table_to_dict
from models.toxicity.training import FitReport, mean_source_auc

LOGGED_METRICS = (
    "roc_auc",
    "pr_auc",
    "f1_review",
    "f1_block",
    "precision_block",
    "recall_review",
    "n",
    "positives",
)


def row_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Rows per source and split, e.g. {"davidson/test": 4957}."""
    grouped = frame.groupby(["source", "split"]).size()
    keys = ["/".join(map(str, key)) for key in grouped.index.tolist()]
    return dict(zip(keys, map(int, grouped.tolist()), strict=True))


def log_inputs(config: ToxicityConfig, frame: pd.DataFrame) -> None:
    """The resolved config, flattened params, the data fingerprint and row counts."""
    mlflow.log_dict(config.model_dump(mode="json"), "config.yaml")
    mlflow.log_params(flatten(config.model_dump(mode="json")))
    mlflow.log_param("data_fingerprint", fingerprint(frame))
    mlflow.log_metrics({f"rows/{k}": float(n) for k, n in row_counts(frame).items()})


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config as dotted keys (MLflow params are flat strings)."""
    out: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out |= flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = str(value)[:500]
    return out


def log_metrics_table(table: pd.DataFrame) -> None:
    """Every (split, group, label) metric, e.g. test/source-cold/toxicity/roc_auc."""
    metrics: dict[str, float] = {}
    for row in table.to_dict("records"):
        metrics |= {
            metric_key(row, m): float(row[m]) for m in LOGGED_METRICS if pd.notna(row.get(m))
        }
    mlflow.log_metrics(metrics)


def log_details(
    scorer: ToxicityScorer,
    report: FitReport,
    table: pd.DataFrame,
    held: pd.DataFrame,
    probs: np.ndarray,
) -> None:
    """Thresholds, the metrics table, training decisions, PR curves and confusion matrices."""
    mlflow.log_dict(table_to_dict(scorer.thresholds), "thresholds.json")
    mlflow.log_text(table.to_csv(index=False), "metrics.csv")
    decisions = {
        "seconds": report.seconds,
        "backends": report.backends,
        "english_route": scorer.english_route,
        "transformer_weight": scorer.transformer_weight,
        "route_scores": report.route_scores,
        "transformer": report.transformer_history,
        "span_tagger": report.span_tagger,
    }
    mlflow.log_dict(decisions, "training.json")
    for backend in report.backends:
        keys = ("roc_auc", "texts_per_s", "p50_ms", "p99_ms", "batch_drift")
        mlflow.log_metrics({f"backend/{backend['backend']}/{k}": float(backend[k]) for k in keys})
    if scorer.transformer is not None:
        mlflow.log_params(
            {"serving_backend": scorer.transformer.kind, "english_route": scorer.english_route}
        )
    frame_probs = pd.DataFrame(probs, columns=scorer.labels, index=held.index)
    routed = [routed_language(lg) for lg in held["lang"]]
    for split in ("valid", "test"):
        for label in scorer.labels:
            pr = pr_curve_figure(held, frame_probs, split, label)
            mlflow.log_figure(pr, f"plots/pr_{split}_{label}.png")
            cm = confusion_figure(held, frame_probs, routed, scorer.thresholds, split, label)
            mlflow.log_figure(cm, f"plots/confusion_{split}_{label}.png")


def register_scorer(
    config: ToxicityConfig,
    model_uri: str,
    score: float,
    valid: pd.DataFrame,
    force: bool,
    incomplete: str | None = None,
) -> Promotion:
    """Register the model; it takes `champion` only if it beats the champion on this validation
    data, and never when its training was cut short (`incomplete` says why)."""

    def score_version(uri: str) -> float:
        scored = mlflow.pyfunc.load_model(uri).predict(
            valid[["text", "lang"]], params={"spans": "none"}
        )
        return mean_source_auc(valid, scored["toxicity"].to_numpy(dtype=float))

    return register_and_promote(
        model_uri,
        config.tracking.registered_model,
        score,
        score_version,
        force,
        incomplete=incomplete,
    )
