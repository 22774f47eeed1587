"""The demo's churn part: train both models on the demo's features, show who is most at risk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from features.scores.at_risk import at_risk
from models.churn.config import ChurnConfig, LgbmParams, LogregParams
from models.tracking import quiet_mlflow
from pipelines.churn.score import at_risk_table, score_members
from pipelines.churn.train import train_churn, training_table


def demo_configs(features: Path) -> list[ChurnConfig]:
    """The two demo models: the logistic baseline, then LightGBM (activity churn)."""
    # One LightGBM thread: the demo's data is small, and two OpenMP threads slow down many
    # times over when the other core is busy.
    return [
        ChurnConfig(name="demo-logreg", features=features, model=LogregParams()),
        ChurnConfig(name="demo-lgbm", features=features, model=LgbmParams(num_threads=1)),
    ]


def demo_churn(console: Any, features_out: Path) -> None:
    """Train both churn models on the demo's features and print the 10 members most at risk."""
    quiet_mlflow()
    reports = [train_churn(config) for config in demo_configs(features_out)]
    console.print(training_table(reports))
    scored = score_members(features=features_out)
    console.print(
        f"scored {scored.rows:,} members as of {scored.as_of} with steward-churn "
        f"v{scored.model_version}: {scored.tiers['high']:,} high, {scored.tiers['medium']:,} medium risk"
    )
    from features.synthetic.provenance import synthetic_note

    top = at_risk(top=10)
    note = synthetic_note(top["attributes"])
    title = "10 members most at risk" + (" (synthetic members)" if note else "")
    console.print(at_risk_table(top, title))
    if note:
        console.print(note)
