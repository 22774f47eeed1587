"""Experiment files: the shipped ones load, and a typo is one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.churn.config import (
    ChurnConfig,
    LgbmParams,
    LogregParams,
    Tiers,
    load_config,
    parse_config,
)

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def test_shipped_configs_load_with_paths_beside_them() -> None:
    lgbm = load_config(EXPERIMENTS / "churn_lgbm.yaml")
    logreg = load_config(EXPERIMENTS / "churn_logreg.yaml")
    assert isinstance(lgbm.model, LgbmParams) and isinstance(logreg.model, LogregParams)
    assert lgbm.model == LgbmParams()  # the file spells out the defaults the demo trains with
    assert logreg.model == LogregParams()
    assert lgbm.reasons.interventions == EXPERIMENTS / "interventions.yaml"
    assert lgbm.features is None and lgbm.registered_model == "steward-churn"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"modle": {"kind": "lgbm"}}, "config: modle: unknown key"),
        ({"model": {"kind": "lgbm", "num_leafs": 7}}, "config: model.num_leafs: unknown key"),
        ({"model": {"kind": "xgboost"}}, "config: model: "),
        (
            {"label": "revenue"},
            "config: label: Input should be 'auto', 'activity' or 'subscription'",
        ),
        ({"tiers": {"high": 0.2, "medium": 0.4}}, "config: tiers: Value error, tiers.medium"),
        ({"tiers": {"medium_lift": 5}}, "config: tiers: Value error, tiers.medium_lift (5.0)"),
        ({"tiers": {"high_lift": 1}}, "config: tiers.high_lift: Input should be greater than 1"),
        ({"model": {"kind": "logreg", "penalty": "l3"}}, "config: model.penalty: "),
    ],
)
def test_bad_settings_are_one_line_errors(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_config(raw)
    text = str(caught.value)
    assert text.startswith(message) and "\n" not in text


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="mapping"):
        load_config(bad)
    relative = tmp_path / "rel.yaml"
    relative.write_text("features: data/features\n")
    assert load_config(relative).features == (tmp_path / "data" / "features").resolve()


def test_label_column() -> None:
    assert ChurnConfig(label="subscription").label_column == "churned_subscription"


def test_tiers_start_at_the_lower_of_the_probability_and_the_lift() -> None:
    # A 3% community: four and two times its churn rate; a 30% one: 0.5 and 0.25.
    assert Tiers().resolved(0.03) == Tiers(high=0.12, medium=0.06, high_lift=None, medium_lift=None)
    assert (Tiers().resolved(0.3).high, Tiers().resolved(0.3).medium) == (0.5, 0.25)
    # Without lifts, the probabilities alone; one lift alone could invert the tiers: refused.
    assert (Tiers(high_lift=None, medium_lift=None).resolved(0.03).high) == 0.5
    with pytest.raises(ValueError, match="set together"):
        Tiers(medium_lift=None)
    # The order holds whatever the rate (medium is below high by both of its bounds).
    for rate in (1e-9, 0.001, 0.05, 0.1, 0.2, 0.9):
        resolved = Tiers().resolved(rate)
        assert 0 < resolved.medium < resolved.high <= 0.5
