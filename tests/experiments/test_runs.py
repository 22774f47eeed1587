"""Runs, reruns, sweeps, comparisons and reports through a real MLflow store on tiny data."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from pipelines.cli.experiment import experiment_app
from pipelines.experiments.compare import compare_experiments
from pipelines.experiments.config import load_experiment
from pipelines.experiments.report import fmt
from pipelines.experiments.run import RunResult, run_experiment
from pipelines.experiments.sweep import SweepResult, sweep_experiment
from tests.experiments.conftest import churn_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def folder(home: Path) -> Path:
    out = home / "experiments"
    out.mkdir()
    return out


@pytest.fixture(scope="module")
def first(folder: Path, features: Path) -> RunResult:
    return run_experiment(load_experiment(churn_file(folder, "churn_tiny", features)))


@pytest.fixture(scope="module")
def rerun(first: RunResult) -> RunResult:
    return run_experiment(load_experiment(first.spec.path))


@pytest.fixture(scope="module")
def sweep(first: RunResult) -> SweepResult:
    return sweep_experiment(load_experiment(first.spec.path), trials=3, promote=True)


def test_a_rerun_of_the_same_file_on_the_same_data_gives_identical_metrics(
    first: RunResult, rerun: RunResult
) -> None:
    assert rerun.outcome.metrics == first.outcome.metrics
    assert 0.85 < first.outcome.metrics["roc_auc"] < 1
    # The first run became champion; the identical rerun does not beat it, so it stays.
    assert first.outcome.promoted and first.champion.version is None
    assert not rerun.outcome.promoted and rerun.champion.version == first.outcome.version
    assert rerun.champion.metrics["roc_auc"] == first.outcome.metrics["roc_auc"]


def test_each_run_records_commit_config_fingerprint_and_versions(
    first: RunResult, rerun: RunResult
) -> None:
    runs = [mlflow.get_run(r.outcome.run_id) for r in (first, rerun)]
    experiment = mlflow.get_experiment(runs[0].info.experiment_id)
    assert experiment.name == "churn_tiny"  # named after the file
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for run in runs:
        assert run.data.tags["steward.git_commit"] == head
        assert run.data.tags["steward.primary_metric"] == "roc_auc"
        assert run.data.params["env.lightgbm"] == __import__("lightgbm").__version__
        assert run.data.params["model.num_threads"] == "1"
    client = MlflowClient()
    files = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    expected = {"config.yaml", "experiment.yaml", "environment.json", "data_fingerprint.json"}
    assert expected | {"report.html", "top_reasons.json"} <= files
    shas = [r.data.params["data.content_sha256"] for r in runs]
    assert shas[0] == shas[1] and len(shas[0]) == 64


def test_run_on_the_command_line_prints_metrics_beside_the_champion(
    first: RunResult, rerun: RunResult
) -> None:
    args = ["run", str(first.spec.path), "--set", "model.num_leaves=4", "--no-register"]
    result = CliRunner().invoke(experiment_app, args)
    assert result.exit_code == 0, result.output
    assert f"champion v{first.outcome.version}" in result.output
    assert "roc_auc (primary)" in result.output
    assert "not registered (--no-register); the champion is unchanged" in result.output
    run = mlflow.search_runs(
        experiment_names=["churn_tiny"], output_format="list", order_by=["start_time DESC"]
    )[0]
    assert run.data.params["model.num_leaves"] == "4"
    assert json.loads(run.data.tags["steward.overrides"]) == {"model.num_leaves": 4}
    assert f"{run.data.metrics['roc_auc']:.3f}" in result.output


def test_a_sweep_of_three_trials_records_three_nested_runs_and_picks_the_best(
    sweep: SweepResult,
) -> None:
    children = mlflow.search_runs(
        experiment_names=["churn_tiny"],
        filter_string=f"tags.mlflow.parentRunId = '{sweep.run_id}'",
        output_format="list",
    )
    trials = [r for r in children if r.data.tags["steward.run_kind"] == "trial"]
    assert len(trials) == 3 and len(sweep.trials) == 3
    assert {r.info.run_id for r in trials} == {t.run_id for t in sweep.trials}
    best = max(trials, key=lambda r: r.data.metrics["roc_auc"])
    assert sweep.best.run_id == best.info.run_id
    assert sweep.best.value == best.data.metrics["roc_auc"]
    parent = mlflow.get_run(sweep.run_id)
    assert parent.data.tags["steward.best_run_id"] == best.info.run_id
    assert parent.data.metrics["best_roc_auc"] == sweep.best.value
    # Trials explore the declared ranges.
    for trial in sweep.trials:
        assert 3 <= trial.params["model.num_leaves"] <= 15
        assert 0.02 <= trial.params["model.learning_rate"] <= 0.3


def test_the_promoted_best_reproduces_its_trial_and_meets_the_champion_rule(
    sweep: SweepResult,
) -> None:
    assert sweep.promoted is not None
    trial = mlflow.get_run(sweep.best.run_id).data.metrics
    assert sweep.promoted.metrics["roc_auc"] == trial["roc_auc"]
    assert sweep.promoted.version  # registered; champion only if it beat the champion
    verdict = "beats champion" if sweep.promoted.promoted else "does not beat champion"
    assert verdict in sweep.promoted.reason


def test_the_same_sweep_proposes_the_same_trials(sweep: SweepResult) -> None:
    again = sweep_experiment(load_experiment(sweep.spec.path), trials=3)
    assert [t.params for t in again.trials] == [t.params for t in sweep.trials]
    assert [t.value for t in again.trials] == [t.value for t in sweep.trials]
    assert again.promoted is None


def test_compare_ranks_runs_by_the_primary_metric_with_the_params_that_differ(
    first: RunResult, rerun: RunResult, sweep: SweepResult
) -> None:
    table = compare_experiments(["churn_tiny"])
    column = table.columns.index("roc_auc *")
    values = [row[column] for row in table.rows]
    assert values == sorted(values, reverse=True) and len(values) >= 6
    assert "model.num_leaves" in table.columns and "duration s" in table.columns
    kinds = {row[table.columns.index("kind")] for row in table.rows}
    assert {"run", "trial", "best"} <= kinds and "sweep" not in kinds
    with pytest.raises(ValueError, match="no experiment named 'churn_tyni'"):
        compare_experiments(["churn_tyni"])


def test_the_report_holds_the_runs_metrics_and_opens_without_mlflow(first: RunResult) -> None:
    html = Path(first.report).read_text()
    metrics = first.outcome.metrics
    assert f'data-metric="roc_auc">{fmt(metrics["roc_auc"])}<' in html
    assert f'data-metric="brier">{fmt(metrics["brier"])}<' in html
    # ROC, calibration, lift, contributions, behavioural cohorts
    assert html.count("data:image/png;base64,") == 5
    assert "Top reasons" in html and "valid_rows" in html and first.outcome.run_id in html
    assert "<script" not in html and "http" not in html  # self-contained: no network


def test_the_sweep_report_lists_every_trial(sweep: SweepResult) -> None:
    html = Path(sweep.report).read_text()
    assert html.count("<td><code>") == 3
    for trial in sweep.trials:
        assert trial.run_id[:8] in html


def test_the_report_renders_in_a_real_headless_browser(first: RunResult, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path}",
            "--dump-dom",
            Path(first.report).as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    dom = done.stdout
    assert "<h1>" in dom and "Metrics" in dom
    assert f'data-metric="roc_auc">{fmt(first.outcome.metrics["roc_auc"])}</td>' in dom


def test_excluded_features_never_reach_the_model(first: RunResult) -> None:
    sets = ["features_exclude=['*toxic_reply_received*']", "register_model=false"]
    result = run_experiment(load_experiment(first.spec.path, sets))  # the file says: no registry
    assert not result.outcome.version and not result.outcome.promoted
    run = MlflowClient().get_run(result.outcome.run_id)
    importance = Path(result.report).parent / "feature_importance.csv"
    features = importance.read_text()
    assert "n_toxic_reply_received_30d" not in features and "n_login_30d" in features
    original = mlflow.get_run(first.outcome.run_id).data.params["data.content_sha256"]
    assert run.data.params["data.content_sha256"] != original
