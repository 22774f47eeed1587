"""Review/block thresholds: recall and precision targets met on validation data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.toxicity.thresholds import (
    POOLED,
    Thresholds,
    choose_thresholds,
    fit_threshold_table,
    lookup,
    source_weights,
    table_from_dict,
    table_to_dict,
)


def _scores(n: int = 4_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(float)
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * (2 * y - 1))))
    return y, p


def test_review_is_the_highest_cut_with_target_recall_and_block_the_lowest_with_precision() -> None:
    y, p = _scores()
    t = choose_thresholds(y, p, block_precision=0.95, review_recall=0.90)
    assert t.block is not None and t.review < t.block
    recall = (p[y == 1] >= t.review).mean()
    assert recall >= 0.90
    # Any higher cut loses the recall target: the threshold is the highest that meets it.
    assert (p[y == 1] > t.review).mean() < 0.90
    flagged = p >= t.block
    assert y[flagged].mean() >= 0.95
    below = p[(p < t.block)].max()
    assert y[p >= below].mean() < 0.95  # one step lower misses the precision target


def test_block_is_none_when_precision_is_never_reached() -> None:
    y = np.array([0, 1, 0, 1, 0, 1.0])
    p = np.array([0.9, 0.9, 0.8, 0.8, 0.1, 0.1])
    t = choose_thresholds(y, p, block_precision=0.95, review_recall=0.9)
    assert t.block is None and t.action(1.0) == "review"


def test_ties_are_all_or_nothing() -> None:
    y = np.array([1, 0, 1, 1.0])
    p = np.array([0.5, 0.5, 0.9, 0.2])
    t = choose_thresholds(y, p, review_recall=0.6)
    assert t.review == 0.5


def test_one_class_validation_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="both toxic and non-toxic"):
        choose_thresholds(np.ones(5), np.linspace(0, 1, 5))


def test_actions() -> None:
    t = Thresholds(review=0.3, block=0.8)
    assert [t.action(p) for p in (0.1, 0.3, 0.79, 0.8)] == ["allow", "review", "review", "block"]


def test_sources_weigh_equally_and_prevalence_reweights_classes() -> None:
    w = source_weights(["a", "a", "a", "b"])
    assert w[:3].sum() == pytest.approx(w[3])
    y = np.array([1, 1, 1, 0])
    wp = source_weights(["a", "a", "a", "b"], y, prevalence=0.1)
    assert wp[y == 1].sum() == pytest.approx(0.1) and wp[y == 0].sum() == pytest.approx(0.9)


def test_a_stated_prevalence_raises_the_block_threshold() -> None:
    y, p = _scores()
    frame = pd.DataFrame({"toxicity": y})
    probs = pd.DataFrame({"toxicity": p})
    langs, sources = ["en"] * len(y), ["s"] * len(y)
    as_is = fit_threshold_table(frame, probs, langs, sources, 0.95, 0.9, 20)
    rare = fit_threshold_table(frame, probs, langs, sources, 0.95, 0.9, 20, prevalence=0.05)
    assert rare["toxicity"]["en"].block > as_is["toxicity"]["en"].block  # type: ignore[operator]
    assert rare["toxicity"]["en"].review == pytest.approx(as_is["toxicity"]["en"].review)


def test_table_per_language_with_pooled_fallback_round_trips() -> None:
    y, p = _scores()
    langs = np.where(np.arange(len(y)) < 3_990, "en", "zh")  # too few Chinese rows for their own
    table = fit_threshold_table(
        pd.DataFrame({"toxicity": y}),
        pd.DataFrame({"toxicity": p}),
        list(langs),
        ["s"] * len(y),
        0.95,
        0.9,
        20,
    )
    assert set(table["toxicity"]) == {POOLED, "en"}
    assert lookup(table, "toxicity", "zh") == table["toxicity"][POOLED]
    assert lookup(table, "insult", "en") is None
    assert table_from_dict(table_to_dict(table)) == table
