"""What the experiment runner needs from each task: data, a full run, a light trial, headlines."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipelines.experiments.config import Progress

STEP = re.compile(r"step (\d+)/(\d+)")
SCORE_CHUNK = 20_000  # validation rows scored per progress tick


@dataclass(frozen=True)
class Outcome:
    """What a full run produced and what the registry did with it."""

    run_id: str
    metrics: dict[str, float]
    version: str
    promoted: bool
    reason: str


class ChurnTask:
    """Churn: LightGBM or logistic on member features, judged on the validation date."""

    name = "churn"
    primary_metric = "roc_auc"
    headline = ("roc_auc", "pr_auc", "lift_top_decile", "brier", "ece", "valid_roc_auc")

    def registered_model(self, config: Any) -> str:
        """Where a run's model is registered."""
        return str(config.registered_model)

    def prepare(self, config: Any, progress: Progress) -> Any:
        """The out-of-time split (loaded once per sweep)."""
        from pipelines.churn.train import load_training_data

        progress("loading member features")
        return load_training_data(config)

    def train(
        self, config: Any, data: Any, register: bool, force: bool, progress: Progress
    ) -> Outcome:
        """Fit, log everything and the model, apply the champion rule, log the top reasons."""
        import mlflow

        from models.churn.labels import with_data_label
        from models.churn.train import fit_churn_model
        from pipelines.churn.train import log_and_register

        config = with_data_label(config, data.label)
        progress(f"fitting {config.model.kind} on {len(data.train):,} rows")
        fitted = fit_churn_model(config, data)
        progress("logging plots and the model")
        # The file can opt out of registering (a question, not a candidate); --no-register too.
        report = log_and_register(
            config, data, fitted, force, register=register and config.register_model
        )
        mlflow.log_dict(top_reasons(fitted.scorer, data.valid, progress), "top_reasons.json")
        return Outcome(
            report.run_id, dict(report.metrics), report.version, report.promoted, report.reason
        )

    def trial(self, config: Any, data: Any, progress: Progress) -> dict[str, float]:
        """Fit and log params and metrics only: trials skip plots and the model."""
        import mlflow

        from models.churn.labels import with_data_label
        from models.churn.runs import flat_params
        from models.churn.train import fit_churn_model

        config = with_data_label(config, data.label)
        fitted = fit_churn_model(config, data, serve=False)  # metrics only: no served refit
        mlflow.log_params(flat_params(config))
        mlflow.log_metrics(fitted.metrics)
        return dict(fitted.metrics)


def top_reasons(scorer: Any, valid: pd.DataFrame, progress: Progress, share: float = 0.1) -> Any:
    """The first reason of the validation members most at risk (top decile), by driver."""
    parts = []
    for start in range(0, len(valid), SCORE_CHUNK):
        progress("scoring validation members", start, len(valid))
        parts.append(scorer.score(valid.iloc[start : start + SCORE_CHUNK]))
    progress("scoring validation members", len(valid), len(valid))
    scored = pd.concat(parts) if parts else pd.DataFrame()
    top = scored.nlargest(max(1, int(len(scored) * share)), "probability")
    rows: dict[str, dict[str, Any]] = {}
    for reasons, drivers, intervention in zip(
        top["reasons"], top["drivers"], top["intervention"], strict=True
    ):
        if not reasons:
            continue
        row = rows.setdefault(
            drivers[0],
            {
                "driver": drivers[0],
                "members": 0,
                "example": reasons[0],
                "intervention": intervention,
            },
        )
        row["members"] += 1
    found = sorted(rows.values(), key=lambda r: (-r["members"], r["driver"]))
    for row in found:
        row["share"] = row["members"] / len(top)
    return {"members_considered": len(top), "reasons": found}


class ToxicityTask:
    """Toxicity: linear or MiniLM on the configured corpora, judged on validation sources."""

    name = "toxicity"
    primary_metric = "promotion_score"
    headline = (
        "promotion_score",
        "valid/all/toxicity/roc_auc",
        "test/all/toxicity/roc_auc",
        "test/all/toxicity/pr_auc",
        "test/all/toxicity/f1_review",
    )

    def registered_model(self, config: Any) -> str:
        """Where a run's model is registered."""
        return str(config.tracking.registered_model)

    def prepare(self, config: Any, progress: Progress) -> Any:
        """The corpora with their splits (loaded once per sweep)."""
        from pipelines.toxicity.train import load_training_frame

        progress("loading corpora")
        return load_training_frame(config.data)

    def train(
        self, config: Any, data: Any, register: bool, force: bool, progress: Progress
    ) -> Outcome:
        """Train in the active run; the champion rule applies when it registers."""
        import mlflow

        from pipelines.toxicity.train import train_in_run

        tracking = config.tracking.model_copy(
            update={"register_model": register and config.tracking.register_model}
        )
        config = config.model_copy(update={"tracking": tracking})
        result = train_in_run(config, data, force, log=_logger(progress))
        metrics = dict(mlflow.get_run(result.run_id).data.metrics)
        promotion = result.promotion
        if promotion is None:
            return Outcome(
                result.run_id, metrics, "", False, "not registered: the champion is unchanged"
            )
        return Outcome(
            result.run_id, metrics, promotion.version, promotion.promoted, promotion.reason
        )

    def trial(self, config: Any, data: Any, progress: Progress) -> dict[str, float]:
        """A full training run without registration (the model is logged, never promoted)."""
        return self.train(config, data, False, False, progress).metrics


def _logger(progress: Progress) -> Any:
    """Training's log lines as progress: `step 40/300` moves a bar, anything else is a stage."""

    def log(message: str) -> None:
        found = STEP.search(message)
        if found:
            progress("training the transformer", int(found[1]), int(found[2]))
        else:
            progress(message)

    return log


def task_for(name: str) -> ChurnTask | ToxicityTask:
    """The adapter of a task name."""
    return ChurnTask() if name == "churn" else ToxicityTask()
