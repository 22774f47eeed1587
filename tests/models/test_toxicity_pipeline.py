"""Training end to end on the simulator's posts: MLflow run, registry, pyfunc parity, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from models.toxicity.config import DataConfig, LinearConfig, ToxicityConfig
from pipelines.cli.toxicity import score_posts_cmd, train_toxicity_cmd
from pipelines.toxicity.train import TrainResult, train_from_config
from tests.conftest import require_shared

ROOT = Path(__file__).resolve().parents[2]
POSTS = [
    "You are a pathetic idiot.",
    "The weekend meetup looks great so far!",
    "你就是个白痴。",
    "这道菜真的很有用，谢谢大家！",
]


def _config(**linear: float) -> ToxicityConfig:
    data = DataConfig(
        sources=["simulator", "seed"], eval_only=[], max_rows_per_source=4_000, min_positives=10
    )
    return ToxicityConfig(name="test", data=data, linear=LinearConfig(**linear))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, Path]:
    home = tmp_path_factory.mktemp("steward")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STEWARD_HOME", str(home))
        return train_from_config(_config(), log=lambda _: None), home


def test_run_logs_config_fingerprint_metrics_and_plots(trained: tuple[TrainResult, Path]) -> None:
    result, _ = trained
    run = mlflow.get_run(result.run_id)
    assert len(run.data.params["data_fingerprint"]) == 64
    assert run.data.params["linear.C"] == "4.0"
    for key in (
        "test/source-simulator/toxicity/roc_auc",
        "test/lang-zh/insult/pr_auc",
        "valid/all/toxicity/f1_block",
        "test/all/toxicity/n",
    ):
        assert key in run.data.metrics
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id)}
    assert {"config.yaml", "thresholds.json", "metrics.csv", "plots"} <= artifacts
    plots = {a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id, "plots")}
    assert "plots/pr_test_toxicity.png" in plots and "plots/confusion_valid_insult.png" in plots
    assert result.promotion is not None and result.promotion.promoted


def test_every_label_is_learned_in_both_languages_from_the_community_data(
    trained: tuple[TrainResult, Path],
) -> None:
    scorer = trained[0].scorer
    assert scorer.labels == ["toxicity", "identity_attack", "insult", "obscene", "threat"]
    scores = scorer.score(POSTS, spans="all")
    assert [s.lang for s in scores] == ["en", "en", "zh", "zh"]
    assert [s.action for s in scores] == ["block", "allow", "block", "allow"]
    assert scores[0].label == "insult" or scores[0].probabilities["insult"] > 0.5  # type: ignore[operator]
    assert "idiot" in " ".join(sp.text for sp in scores[0].spans)
    assert all(s.model_version == trained[0].version for s in scores)


def test_serving_in_a_fresh_process_gives_the_training_scores(
    trained: tuple[TrainResult, Path],
) -> None:
    result, home = trained
    expected, _ = result.scorer.predict_proba(POSTS)
    code = (
        "import json, sys, mlflow, pandas as pd\n"
        "from models.tracking import configure_tracking\n"
        "configure_tracking()\n"
        "m = mlflow.pyfunc.load_model('models:/steward-toxicity@champion')\n"
        "out = m.predict(pd.DataFrame({'text': json.loads(sys.argv[1])}), params={'spans': 'all'})\n"
        "print(json.dumps({c: out[c].tolist() for c in out.columns}))\n"
    )
    env = {"STEWARD_HOME": str(home), "PATH": "/usr/bin:/bin", "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(POSTS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    served = pd.DataFrame(json.loads(done.stdout.strip().splitlines()[-1]))
    assert served[result.scorer.labels].to_numpy() == pytest.approx(expected, abs=1e-12)
    assert served["model_version"].eq(result.version).all()


def test_a_worse_model_is_registered_but_not_champion_unless_forced(
    trained: tuple[TrainResult, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEWARD_HOME", str(trained[1]))
    worse = train_from_config(_config(C=0.0001, max_iter=10), log=lambda _: None)
    assert worse.promotion is not None and not worse.promotion.promoted
    forced = train_from_config(_config(C=0.0001, max_iter=10), force=True, log=lambda _: None)
    assert forced.promotion is not None and forced.promotion.promoted


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("train")(train_toxicity_cmd)
    app.command("score")(score_posts_cmd)
    return app


def test_cli_scores_text_and_files(
    trained: tuple[TrainResult, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STEWARD_HOME", str(trained[1]))
    runner = CliRunner()
    # This run's model, not the champion: another test forces a worse one to champion.
    model = ["--model", trained[0].model_uri]
    shown = runner.invoke(
        _app(), ["score", "--text", POSTS[0], "--text", POSTS[2], "--spans", "all", *model]
    )
    assert shown.exit_code == 0, shown.output
    assert "block" in shown.output and "idiot" in shown.output
    posts = tmp_path / "posts.csv"
    pd.DataFrame({"text": POSTS, "lang": ["en", "en", "zh", "zh"]}).to_csv(posts, index=False)
    out = tmp_path / "scores.csv"
    written = runner.invoke(_app(), ["score", "--file", str(posts), "--out", str(out), *model])
    assert written.exit_code == 0, written.output
    assert pd.read_csv(out)["action"].tolist() == ["block", "allow", "block", "allow"]
    both = runner.invoke(_app(), ["score"])
    assert isinstance(both.exception, ValueError) and "--text" in str(both.exception)


def test_cli_train_rejects_a_bad_config_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: linear\ndata:\n  sourcess: [davidson]\n")
    result = CliRunner().invoke(_app(), ["train", "--config", str(bad)])
    assert isinstance(result.exception, ValueError)
    assert "data.sourcess" in str(result.exception)


def test_demo_without_real_data_trains_on_the_simulators_posts_and_says_so(
    steward_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from rich.console import Console

    from pipelines.toxicity.train import DEMO_POSTS, demo_toxicity

    monkeypatch.setenv("STEWARD_SHARED_DATA", str(tmp_path / "absent"))
    console = Console(record=True, width=250)
    demo_toxicity(console)
    shown = console.export_text()
    assert "simulator's labelled posts" in shown and "absent" in shown
    for post in DEMO_POSTS:
        assert post[:20] in shown
    assert "block" in shown and "allow" in shown


@pytest.mark.realdata
def test_demo_trains_the_served_recipe_by_default(steward_home: Path) -> None:
    """What a newcomer sees first is toxicity_minilm.yaml's model (the one whose English
    identity and insult behaviour the slow MiniLM test checks), not the weaker linear one."""
    from models.toxicity.config import load_config
    from pipelines.toxicity.train import check_demo_model, demo_config

    require_shared("toxic_spans_civil")
    config, what = demo_config()
    shipped = load_config(Path(__file__).resolve().parents[2] / "experiments/toxicity_minilm.yaml")
    assert "public corpora" in what
    assert config.model == "minilm" and config.name == "toxicity-demo"
    assert config.data == shipped.data and config.transformer == shipped.transformer
    assert config.thresholds == shipped.thresholds and config.linear == shipped.linear
    linear, _ = demo_config("linear")
    assert linear.model == "linear" and linear.data.transformer_only == []
    with pytest.raises(ValueError, match="minilm, linear"):
        check_demo_model("bert")


def test_scoring_without_a_trained_model_says_what_to_do(steward_home: Path) -> None:
    from models.champions import load_toxicity_scorer

    with pytest.raises(ValueError, match="steward train toxicity"):
        load_toxicity_scorer()


def test_cli_scores_keep_each_posts_id_and_text(
    trained: tuple[TrainResult, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STEWARD_HOME", str(trained[1]))
    runner = CliRunner()
    model = ["--model", trained[0].model_uri]
    ids = ["007", "b-2", "42", "x y"]  # kept as written: 007 is no number
    posts = tmp_path / "posts.csv"
    pd.DataFrame({"id": ids, "text": POSTS}).to_csv(posts, index=False)
    out = tmp_path / "scores.csv"
    written = runner.invoke(_app(), ["score", "--file", str(posts), "--out", str(out), *model])
    assert written.exit_code == 0, written.output
    scores = pd.read_csv(out, dtype={"id": str})
    assert list(scores.columns[:2]) == ["id", "text"]
    assert scores["id"].tolist() == ids and scores["text"].tolist() == POSTS
    assert scores.set_index("id").loc["007", "action"] == "block"
    # Another id column by name; without one, a post's id is its row number.
    renamed = tmp_path / "renamed.jsonl"
    pd.DataFrame({"post": ids, "text": POSTS}).to_json(renamed, orient="records", lines=True)
    args = ["score", "--file", str(renamed), "--id-column", "post", "--out", str(out), *model]
    assert runner.invoke(_app(), args).exit_code == 0
    assert pd.read_csv(out, dtype={"id": str})["id"].tolist() == ids
    plain = tmp_path / "plain.csv"
    pd.DataFrame({"text": POSTS}).to_csv(plain, index=False)
    assert (
        runner.invoke(_app(), ["score", "--file", str(plain), "--out", str(out), *model]).exit_code
        == 0
    )
    assert pd.read_csv(out, dtype={"id": str})["id"].tolist() == ["1", "2", "3", "4"]
    # --format json prints the same rows for a program, every field whole.
    shown = runner.invoke(_app(), ["score", "--file", str(posts), "--format", "json", *model])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.stdout)
    assert [(r["id"], r["post"]) for r in rows] == list(zip(ids, POSTS, strict=True))
    assert {r["action"] for r in rows} == {"block", "allow"}
