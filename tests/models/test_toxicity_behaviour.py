"""Behaviour of the linear model trained on the real corpora (skipped where they are absent).

A module fixture trains on a sample of each corpus (seconds, not minutes); the full runs
and their quality targets are the slow tests at the end. Every bound below was set from what
was measured here, with a margin (measured values in the comments).
"""

from __future__ import annotations

import numpy as np
import pytest

from models.toxicity.config import DataConfig, ToxicityConfig
from models.toxicity.scoring import ToxicityScorer, routed_language
from models.toxicity.thresholds import lookup
from tests.conftest import require_shared

pytestmark = pytest.mark.realdata


def _require_corpora() -> None:
    for name in ("davidson_hate_offensive", "stormfront_forum", "cold_chinese"):
        require_shared(name)


@pytest.fixture(scope="module")
def trained() -> tuple[ToxicityScorer, object]:
    _require_corpora()
    from models.toxicity.training import fit_scorer, set_thresholds
    from pipelines.toxicity.train import load_training_frame

    config = ToxicityConfig(data=DataConfig(max_rows_per_source=8_000))
    frame = load_training_frame(config.data)
    scorer = fit_scorer(frame, config, "test", None, lambda _: None).scorer  # type: ignore[arg-type]
    held = frame[frame["split"].isin(["valid", "test"])]
    probs, _ = scorer.predict_proba(held["text"].tolist(), held["lang"].tolist())
    valid = (held["split"] == "valid").to_numpy()
    set_thresholds(scorer, held[valid], probs[valid], config.thresholds)
    return scorer, (held, probs)


def _toxicity(scorer: ToxicityScorer, texts: list[str]) -> np.ndarray:
    probs, _ = scorer.predict_proba(texts)
    return probs[:, scorer.labels.index("toxicity")]


def test_obfuscated_insults_score_alike(trained: tuple[ToxicityScorer, object]) -> None:
    scorer, _ = trained
    variants = [
        "You are an idiot",
        "You are an 1d10t",
        "You are an i.d.i.o.t",
        "You are an ｉｄｉｏｔ",
        "You are an іdіоt",
        "YOU ARE AN IDIOT",
        "You are an i d i o t",
    ]
    p = _toxicity(scorer, variants)
    assert p.max() - p.min() <= 0.1, dict(zip(variants, p.round(3), strict=True))


@pytest.mark.parametrize(
    "neutral",
    [
        "I am a proud gay Muslim woman",
        "我是河南人",
        "My wife is Jewish and we celebrate Hanukkah",
        "我是东北人，住在上海",
    ],
)
def test_neutral_sentences_naming_identities_stay_below_review(
    trained: tuple[ToxicityScorer, object], neutral: str
) -> None:
    scorer, _ = trained
    probs, langs = scorer.predict_proba([neutral])
    review = lookup(scorer.thresholds, "toxicity", routed_language(langs[0]))
    assert review is not None
    assert probs[0, 0] < review.review, (
        f"{neutral}: {probs[0, 0]:.3f} >= review {review.review:.3f}"
    )
    assert scorer.score([neutral])[0].action == "allow"


@pytest.mark.parametrize(
    ("insult", "polite"),
    [
        ("You are an idiot", "I think you are mistaken"),
        (
            "Shut up, nobody wants your stupid opinion",
            "I see it differently, but thanks for your opinion",
        ),
        ("你就是个白痴", "我不同意你的看法"),
        ("你这个脑子有病的东西，滚", "我觉得你说得不太对，请再想想"),
    ],
)
def test_an_insult_scores_higher_than_its_polite_rewrite(
    trained: tuple[ToxicityScorer, object], insult: str, polite: str
) -> None:
    p_insult, p_polite = _toxicity(trained[0], [insult, polite])
    assert p_insult > p_polite + 0.05, (p_insult, p_polite)


def test_sampled_training_already_meets_the_cold_target(
    trained: tuple[ToxicityScorer, object],
) -> None:
    from sklearn.metrics import roc_auc_score

    held, probs = trained[1]  # type: ignore[misc]
    cold = ((held["source"] == "cold") & (held["split"] == "test")).to_numpy()
    # Measured 0.94 on this 8,000-row sample (0.952 on the full data); the issue asks >= 0.90.
    assert roc_auc_score(held["toxicity"].to_numpy()[cold], probs[cold, 0]) >= 0.90


@pytest.mark.slow
def test_full_linear_model_meets_its_targets_per_held_out_split(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _require_corpora()
    from pipelines.toxicity.train import train_toxicity
    from tests.conftest import ROOT

    monkeypatch.setenv("STEWARD_HOME", str(tmp_path))
    result = train_toxicity(ROOT / "experiments" / "toxicity_linear.yaml", log=lambda _: None)
    m = result.metrics
    auc = m[
        (m["model"] == "served") & (m["split"] == "test") & (m["label"] == "toxicity")
    ].set_index("group")["roc_auc"]
    # Measured: COLD dev 0.952, Davidson 0.981, forum (grouped by comment) 0.844.
    assert auc["source:cold"] >= 0.93
    assert auc["source:davidson"] >= 0.97
    assert auc["source:stormfront"] >= 0.82


@pytest.mark.slow
def test_full_minilm_model_at_least_matches_the_linear_one_on_english(
    tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    _require_corpora()
    from pipelines.toxicity.train import train_toxicity
    from tests.conftest import ROOT

    monkeypatch.setenv("STEWARD_HOME", str(tmp_path))
    result = train_toxicity(ROOT / "experiments" / "toxicity_minilm.yaml", log=lambda _: None)
    m = result.metrics
    test = m[(m["split"] == "test") & (m["label"] == "toxicity")].set_index(["model", "group"])[
        "roc_auc"
    ]
    english = ("davidson", "stormfront", "hatexplain", "jigsaw2018")
    linear = {s: test[("linear", f"linear.source:{s}")] for s in english}
    served = {s: test[("served", f"source:{s}")] for s in english}
    # The recipe serves the linear model averaged with MiniLM fine-tuned on every English
    # corpus and civil_spans, MiniLM weighing 0.75 (chosen on leave-one-source-out figures, not
    # on these splits). Measured on the in-domain test splits (session 9, 2026-12-06): served
    # 0.973 / 0.876 / 0.793 / 0.964 against linear 0.977 / 0.834 / 0.799 / 0.918 (Davidson,
    # forum, HateXplain, Jigsaw 2018). Within 0.01 of it on each (measured -0.004 and -0.006 at
    # worst: the weight buys unseen sources with a little in-domain fit) and ahead on average
    # (measured +0.020; asked: +0.01).
    assert result.scorer.english_route == "ensemble"
    assert result.scorer.transformer_weight == 0.75
    assert all(served[s] >= linear[s] - 0.01 for s in english), (served, linear)
    assert np.mean(list(served.values())) >= np.mean(list(linear.values())) + 0.01
    backends = {b["backend"]: b for b in result.details["backends"]}
    chosen = result.scorer.transformer.kind
    # Measured: static ONNX int8 wins (the dynamic ones move a post's score by 0.06-0.31
    # between single and batched scoring).
    assert chosen in ("onnx_int8", "onnx_int8_static", "torch_int8")
    assert abs(backends[chosen]["roc_auc"] - backends["torch_fp32"]["roc_auc"]) <= 0.005
    assert backends[chosen]["batch_drift"] <= 0.02
    # Identity terms (issue 19's targets) at the served English review threshold. Measured
    # (session 11, python -m bench.toxicity_identity): neutral statements about none of the 39
    # English groups flagged, worst BPSN 0.873; Chinese (linear) misses both, not asserted.
    from models.toxicity.bias import served_identity_table

    english_groups = served_identity_table(result.scorer).query("lang == 'en'")
    assert len(english_groups) >= 30
    assert english_groups["flagged_neutral"].max() <= 0.05
    assert english_groups["bpsn_auc"].min() >= 0.85
    # Statements naming two held-out groups at once (session 10, the demo's model of this
    # recipe): none of the English neutral ones flagged, hostile against the rest AUC 0.957.
    from models.toxicity.bias import served_pair_summary

    pairs = served_pair_summary(result.scorer).set_index("lang").loc["en"]
    assert pairs["flagged_neutral"] <= 0.05 and pairs["auc"] >= 0.92
    # Two held-out groups stacked as adjectives, the form identity_stacked trains on other
    # groups (session 11): hostile ones flagged 0.985 and 0.970 in two runs, AUC 0.996 in both
    # (0.924 and 0.989 without it). Neutral ones flagged 0.030-0.061: over the 5% target, and
    # too unsteady between runs to assert.
    stacked = served_pair_summary(result.scorer, stacked=True).set_index("lang").loc["en"]
    assert stacked["flagged_hostile"] >= 0.95 and stacked["auc"] >= 0.98
