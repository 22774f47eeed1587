"""Experiment files and --set overrides: strict validation with errors that name the key."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from features.members.definition import FEATURE_COLUMNS
from models.churn.config import load_config as load_churn
from models.churn.dataset import select_columns
from models.toxicity.config import load_config as load_toxicity
from pipelines.cli.main import main
from pipelines.experiments.config import apply_overrides, load_experiment, parse_sets

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {
    "churn_lgbm": "churn",
    "churn_logreg": "churn",
    "churn_no_toxic_replies": "churn",
    "toxicity_linear": "toxicity",
    "toxicity_minilm": "toxicity",
    "toxicity_community": "toxicity",
}


def write(tmp_path: Path, text: str, stem: str = "exp") -> Path:
    path = tmp_path / f"{stem}.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("stem", "task"), SHIPPED.items())
def test_every_shipped_experiment_loads_for_the_runner_and_for_train(stem: str, task: str) -> None:
    path = ROOT / "experiments" / f"{stem}.yaml"
    spec = load_experiment(path)
    assert (spec.task, spec.name) == (task, stem)
    # `steward train churn|toxicity --config` reads the same files, sweep section included.
    assert (load_churn if task == "churn" else load_toxicity)(path).task == task


def test_the_question_experiment_differs_from_churn_lgbm_only_by_the_excluded_features() -> None:
    base = load_experiment(ROOT / "experiments" / "churn_lgbm.yaml").config
    question = load_experiment(ROOT / "experiments" / "churn_no_toxic_replies.yaml").config
    assert question.model == base.model and question.seed == base.seed
    assert question.features_exclude == ["*toxic_reply_received*"] and not question.register_model
    dropped = set(FEATURE_COLUMNS) - set(select_columns(FEATURE_COLUMNS, question.features_exclude))
    assert dropped == {c for c in FEATURE_COLUMNS if "toxic_reply_received" in c}
    assert len(dropped) == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("task: churn\nmodle: {kind: lgbm}\n", "modle: unknown key"),
        ("task: churn\nmodel: {kind: lgbm, num_leavs: 3}\n", "model.num_leavs: unknown key"),
        ("task: churn\nvalidation: {calibration_folds: 1}\n", "validation.calibration_folds"),
        ("task: toxicity\nlinear: {Cee: 2}\n", "linear.Cee: unknown key"),
        ("name: x\n", "task: missing"),
        ("task: sales\n", "task: 'sales' is not one of churn, toxicity"),
        (
            "task: churn\nsweep: {trails: 3, params: {model.num_leaves: {type: int, low: 2, high: 9}}}\n",
            "sweep.trails: unknown key",
        ),
        (
            "task: churn\nsweep: {params: {model.num_leaves: {type: int, low: 9, high: 2}}}\n",
            "low (9) must not exceed high (2)",
        ),
        (
            "task: churn\nsweep: {direction: up, params: {seed: {type: int, low: 1, high: 2}}}\n",
            "sweep.direction",
        ),
        (
            "task: churn\nsweep: {params: {model.learning_rate: {type: float, low: 0, high: 1, log: true}}}\n",
            "log range needs low > 0",
        ),
        (
            "task: churn\nmodel: {kind: lgbm}\nsweep: {params: {model.num_leafs: {type: int, low: 2, high: 9}}}\n",
            "(sweep.params.model.num_leafs=2): model.num_leafs: unknown key",
        ),
        (
            "task: churn\nmodel: {kind: lgbm}\nsweep: {params: {model.num_leaves: {type: int, low: 1, high: 9}}}\n",
            "model.num_leaves: Input should be greater than or equal to 2",
        ),
    ],
)
def test_a_bad_file_is_one_error_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_experiment(write(tmp_path, text))
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert str(tmp_path / "exp.yaml") in str(caught.value)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["model.num_leavs=3"], "model.num_leavs: unknown key"),
        (["model.num_leaves=many"], "model.num_leaves: Input should be a valid integer"),
        (["model.num_leaves"], "is not key=value"),
        (["model..num_leaves=3"], "is not key=value"),
        (["model.kind.name=3"], "model.kind is a value, not a section"),
    ],
)
def test_a_bad_override_is_one_error_naming_the_key(
    tmp_path: Path, sets: list[str], message: str
) -> None:
    path = write(tmp_path, "task: churn\nmodel: {kind: lgbm}\n")
    with pytest.raises(ValueError, match=message):
        load_experiment(path, sets)


def test_overrides_are_typed_validated_and_recorded(tmp_path: Path) -> None:
    path = write(tmp_path, "task: churn\nmodel: {kind: lgbm, num_leaves: 7}\n")
    spec = load_experiment(
        path, ["model.num_leaves=15", "model.learning_rate=0.05", "features_exclude=[n_login_*]"]
    )
    assert spec.config.model.num_leaves == 15 and spec.config.model.learning_rate == 0.05
    assert spec.config.features_exclude == ["n_login_*"]
    assert spec.overrides == {
        "model.num_leaves": 15,
        "model.learning_rate": 0.05,
        "features_exclude": ["n_login_*"],
    }
    assert spec.raw["model"]["num_leaves"] == 15  # the file's own mapping is not changed
    assert load_experiment(path).config.model.num_leaves == 7


def test_overrides_create_missing_sections_without_touching_the_input() -> None:
    raw = {"task": "churn", "model": {"kind": "lgbm"}}
    out = apply_overrides(raw, {"tiers.high": 0.6, "model.num_leaves": 4})
    assert out["tiers"] == {"high": 0.6} and out["model"] == {"kind": "lgbm", "num_leaves": 4}
    assert raw == {"task": "churn", "model": {"kind": "lgbm"}}
    assert parse_sets(["a=null", "b=true", "c=[1, 2]", "d=text"]) == {
        "a": None,
        "b": True,
        "c": [1, 2],
        "d": "text",
    }


def test_an_exclude_pattern_that_matches_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="'n_toxic_replys_\\*' matches no feature column"):
        select_columns(FEATURE_COLUMNS, ["n_toxic_replys_*"])
    with pytest.raises(ValueError, match="leaves no feature column"):
        select_columns(FEATURE_COLUMNS, ["*"])


def test_the_command_line_prints_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "task: churn\nmodel: {kind: lgbm}\n")
    argv = ["steward", "experiment", "run", str(path), "--set", "model.num_leavs=3"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("steward: error: ") and "model.num_leavs: unknown key" in err
