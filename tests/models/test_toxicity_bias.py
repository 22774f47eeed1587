"""Identity-bias metrics and LOSO thresholds on hand-made scores (no model, no corpora)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.toxicity_loso import action_metrics, holding_thresholds
from models.toxicity.bias import bias_summary, identity_bias
from models.toxicity.thresholds import Thresholds


def _templates() -> pd.DataFrame:
    rows = []
    for group in ("a", "b", "c"):
        for kind in ("neutral", "positive", "counter", "hostile"):
            for i in range(4):
                rows.append((group, kind, float(kind == "hostile"), i))
    frame = pd.DataFrame(rows, columns=["group", "kind", "toxicity", "i"])
    return frame.assign(lang="en", seen=frame["group"] != "c")


def test_a_group_whose_name_raises_the_score_fails_bpsn_and_the_flag_rate() -> None:
    frame = _templates()
    y = frame["toxicity"].to_numpy()
    p = np.where(y == 1, 0.8, 0.1) + frame["i"].to_numpy() * 0.01
    # Group "b": its clean statements score as high as the hostile ones of the others.
    p[(frame["group"] == "b").to_numpy() & (y == 0)] = 0.85
    table = identity_bias(frame, p, np.full(len(frame), 0.5)).set_index("group")
    assert table.loc["a", "flagged_neutral"] == 0 and table.loc["b", "flagged_neutral"] == 1
    assert table.loc["a", "bpsn_auc"] == 1.0 and table.loc["b", "bpsn_auc"] < 0.5
    assert table.loc["b", "subgroup_auc"] < 0.5 and table.loc["b", "bnsp_auc"] == 1.0
    summary = bias_summary(table.reset_index())
    assert summary["en:seen"]["failing"] == ["b"] and summary["en:unseen"]["failing"] == []


def test_holding_thresholds_meet_the_targets_on_every_source() -> None:
    rng = np.random.default_rng(0)
    scored = {}
    for name, shift in (("easy", 2.0), ("hard", 1.0)):
        y = (rng.random(4_000) < 0.3).astype(int)
        scored[name] = (y, 1 / (1 + np.exp(-(rng.normal(size=4_000) + shift * (2 * y - 1)))))
    t = holding_thresholds(scored, prevalence=0.1, block_precision=0.9, review_recall=0.8)
    assert t.block is not None
    for y, p in scored.values():
        m = action_metrics(y, p, t, 0.1)
        assert m["review_recall"] >= 0.8 and m["block_precision"] >= 0.9
    # The hard source sets the block cut: one step lower would miss its precision.
    lower = Thresholds(t.review, t.block - 0.05)
    assert action_metrics(*scored["hard"], lower, 0.1)["block_precision"] < 0.9


def test_training_weights_balance_corpus_cells_and_count_community_decisions_more() -> None:
    from models.toxicity.training import training_weights

    train = pd.DataFrame(
        {
            "source": ["davidson"] * 8 + ["stormfront"] * 4 + ["lake"] * 2,
            "toxicity": [1.0] * 7 + [0.0] + [1.0] + [0.0] * 3 + [1.0, 0.0],
        }
    )
    assert training_weights(train) is None
    w = training_weights(train, community_weight=10.0, balance_sources=True)
    assert w is not None
    cells = train.assign(w=w).groupby(["source", "toxicity"])["w"].sum()
    corpus = cells.drop("lake")
    assert np.allclose(corpus, corpus.iloc[0])  # every corpus cell weighs the same
    assert np.allclose(w[-2:], 10.0)


def test_fixed_thresholds_from_the_config_replace_the_validation_ones() -> None:
    from models.toxicity.config import ThresholdConfig
    from models.toxicity.linear import LinearToxicity
    from models.toxicity.scoring import ToxicityScorer
    from models.toxicity.training import set_thresholds

    texts = [f"you idiot number {i}" for i in range(30)] + [f"nice day {i}" for i in range(30)]
    y = pd.DataFrame({"toxicity": [1.0] * 30 + [0.0] * 30})
    linear = LinearToxicity(min_df=1, min_positives=5).fit(texts, y, ["en"] * 60)
    scorer = ToxicityScorer(linear, {}, "v")
    valid = y.assign(text=texts, lang="en", source="s")
    probs = linear.predict_proba(texts)
    config = ThresholdConfig(min_positives=5, fixed={"en": {"review": 0.3, "block": None}})
    set_thresholds(scorer, valid, probs, config)
    en = scorer.thresholds["toxicity"]["en"]
    assert (en.review, en.block) == (0.3, None)
    assert scorer.thresholds["toxicity"]["*"].review != 0.3  # other languages: validation


def test_the_served_table_flags_at_each_languages_own_review_threshold() -> None:
    from features.text.identity_terms import identity_eval_frame
    from models.toxicity.bias import served_identity_table
    from models.toxicity.linear import LinearToxicity
    from models.toxicity.scoring import ToxicityScorer

    texts = [f"you idiot number {i}" for i in range(30)] + [f"nice day {i}" for i in range(30)]
    texts += [f"你是白痴{i}" for i in range(30)] + [f"今天天气很好{i}" for i in range(30)]
    y = pd.DataFrame({"toxicity": ([1.0] * 30 + [0.0] * 30) * 2})
    langs = ["en"] * 60 + ["zh"] * 60
    linear = LinearToxicity(min_df=1, min_positives=5).fit(texts, y, langs)
    # English reviews everything, Chinese nothing: the flag rates must follow each language.
    thresholds = {"toxicity": {"en": Thresholds(0.0, None), "zh": Thresholds(1.01, None)}}
    table = served_identity_table(ToxicityScorer(linear, thresholds, "v"))
    frame = identity_eval_frame()
    pairs = {tuple(row) for row in table[["lang", "group"]].to_numpy()}
    assert pairs == {tuple(row) for row in frame[["lang", "group"]].to_numpy()}
    kinds = ["flagged_neutral", "flagged_positive", "flagged_counter", "flagged_hostile"]
    assert (table.loc[table["lang"] == "en", kinds] == 1.0).all().all()
    assert (table.loc[table["lang"] == "zh", kinds] == 0.0).all().all()
    assert table["bpsn_auc"].between(0, 1).all()


def test_pair_summary_counts_statements_and_the_worst_pair() -> None:
    from models.toxicity.bias import pair_summary

    frame = pd.DataFrame(
        {
            "lang": ["en"] * 6,
            "group": ["a + b"] * 3 + ["c + d"] * 3,
            "kind": ["neutral", "neutral", "hostile", "neutral", "neutral", "hostile"],
            "toxicity": [0.0, 0.0, 1.0, 0.0, 0.0, 1.0],
        }
    )
    # One neutral statement of a + b reaches review (0.5), none of c + d.
    p = np.array([0.6, 0.1, 0.9, 0.2, 0.3, 0.4])
    row = pair_summary(frame, p, np.full(6, 0.5)).iloc[0]
    assert row["pairs"] == 2
    assert row["flagged_neutral"] == 0.25 and row["worst_pair_neutral"] == 0.5
    assert row["flagged_hostile"] == 0.5
    assert row["auc"] == 0.875  # hostile 0.9 and 0.4 against neutral 0.6, 0.1, 0.2, 0.3


def test_mixes_span_the_linear_model_to_minilm_and_scores_are_saved(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sklearn.metrics import roc_auc_score

    from bench.toxicity_loso import FoldResult, mix_quality, save_scores

    rng = np.random.default_rng(1)
    y = np.array([0, 1] * 50)
    linear, minilm = rng.random(100), y * 0.5 + rng.random(100) * 0.7
    fold = FoldResult(
        y,
        (linear + minilm) / 2,
        Thresholds(0.5, None),
        1.0,
        {"linear": linear, "transformer": minilm},
    )
    plain = FoldResult(y, linear, Thresholds(0.5, None), 1.0)
    mixes = mix_quality({"ens": {"a": fold, "zh": plain}, "lin": {"a": plain}})
    assert set(mixes) == {"ens"} and set(mixes["ens"][0.5]) == {"a"}  # only folds with both
    assert mixes["ens"][0.0]["a"] == roc_auc_score(y, linear)
    assert mixes["ens"][1.0]["a"] == roc_auc_score(y, minilm)
    assert mixes["ens"][0.5]["a"] == roc_auc_score(y, fold.p)
    save_scores({"ens": {"a": fold, "zh": plain}}, tmp_path / "s.parquet")
    saved = pd.read_parquet(tmp_path / "s.parquet")
    assert len(saved) == 200 and saved["p_transformer"].isna().sum() == 100
    assert np.allclose(saved.loc[saved["source"] == "a", "p_linear"], linear)


def test_rows_written_from_a_left_out_corpus_leave_with_it() -> None:
    from bench.toxicity_loso import recipes, transformer_extras

    data = pd.DataFrame(
        {
            "source": ["civil_spans", "hatexplain_rationales", "hatexplain", "davidson"],
            "lang": ["en"] * 4,
        }
    )
    recipe = recipes()["rationales"]
    kept = transformer_extras(data, recipe, "en", "hatexplain")["source"].tolist()
    assert kept == ["civil_spans"]
    kept = transformer_extras(data, recipe, "en", "davidson")["source"].tolist()
    assert kept == ["civil_spans", "hatexplain_rationales"]
    assert transformer_extras(data, recipe, "zh", "cold").empty


def test_the_served_recipe_is_the_minilm_yaml_and_adaptation_stays_linear() -> None:
    from bench.toxicity_loso import adaptation_recipe, recipes
    from models.toxicity.config import load_config
    from tests.conftest import ROOT

    every = recipes()
    shipped = load_config(ROOT / "experiments" / "toxicity_minilm.yaml")
    stacked = every["stacked"]
    # bench.toxicity's LOSO default measures what toxicity_minilm.yaml trains.
    assert set(stacked.transformer_only) == set(shipped.data.transformer_only)
    assert stacked.transformer is not None
    assert stacked.transformer.ensemble_weight == shipped.transformer.ensemble_weight
    chosen = [every["before"], every["new"], stacked]
    assert adaptation_recipe(chosen) is every["new"]
    assert adaptation_recipe([stacked]) is None
