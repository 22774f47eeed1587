"""A toxicity experiment through the runner: metrics beside the champion, errors in the report."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from pipelines.experiments.config import load_experiment
from pipelines.experiments.report import fmt
from pipelines.experiments.run import run_experiment


def test_a_toxicity_run_reports_its_metrics_and_its_worst_errors(
    home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "toxicity_tiny.yaml"
    path.write_text(
        """task: toxicity
name: toxicity-tiny
data: {sources: [simulator, seed], eval_only: [], max_rows_per_source: 1000, min_positives: 10}
linear: {max_word_features: 5000, max_char_features: 5000}
"""
    )
    first = run_experiment(load_experiment(path))
    assert mlflow.get_run(first.outcome.run_id).data.tags["steward.task"] == "toxicity"
    assert first.outcome.promoted and first.primary_metric == "promotion_score"
    score = first.outcome.metrics["promotion_score"]
    assert 0.6 < score <= 1
    html = Path(first.report).read_text()
    assert f'data-metric="promotion_score">{fmt(score)}<' in html
    assert "Top errors (test split)" in html and ("missed" in html or "false alarm" in html)
    again = run_experiment(load_experiment(path, ["linear.C=4.0"]), register=False)
    assert again.outcome.metrics["promotion_score"] == pytest.approx(score, abs=1e-12)
    assert again.champion.version == first.outcome.version and not again.outcome.version
