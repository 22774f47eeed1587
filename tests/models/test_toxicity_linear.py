"""The TF-IDF + logistic regression model: labels per language, attribution, config checks."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.text.corpora import load_simulated
from models.toxicity.config import load_config
from models.toxicity.linear import LinearToxicity, supported_languages, tfidf_rows

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return load_simulated(members=400, days=30, seed=3)


@pytest.fixture(scope="module")
def model(corpus: pd.DataFrame) -> LinearToxicity:
    labels = ("toxicity", "identity_attack", "insult", "obscene", "threat")
    return LinearToxicity(labels=labels, min_positives=5, min_df=1).fit(
        corpus["text"].tolist(), corpus[list(labels)], corpus["lang"].tolist()
    )


def test_learns_every_label_the_data_supports_in_both_languages(
    model: LinearToxicity, corpus: pd.DataFrame
) -> None:
    assert model.labels_ == ["toxicity", "identity_attack", "insult", "obscene", "threat"]
    assert model.label_languages_["toxicity"] == ["en", "zh"]
    p = model.predict_proba(corpus["text"].tolist())
    assert p.shape == (len(corpus), 5)
    toxic = corpus["toxicity"].to_numpy() == 1
    assert p[toxic, 0].mean() > 0.5 > p[~toxic, 0].mean()


def test_label_without_enough_examples_in_a_language_is_not_supported() -> None:
    y = pd.DataFrame({"toxicity": [1, 0] * 30, "threat": [1, 0] * 5 + [np.nan] * 50})
    langs = ["en"] * 10 + ["zh"] * 50
    assert supported_languages(y, langs, min_positives=5) == {
        "toxicity": ["en", "zh"],
        "threat": ["en"],
    }


def test_character_contributions_add_up_to_the_log_odds(model: LinearToxicity) -> None:
    # Every n-gram sklearn counted is located in the text, so the attribution is exact.
    for text in ("You are a pathetic idiot. What the f*ck", "你就是个白痴，滚", "Nice photo!"):
        norm, scores = model.char_contributions(text, "toxicity")
        logit = model.decision_function([text])[0, 0]
        assert scores.sum() == pytest.approx(logit - model.intercept_[0], abs=1e-5)
        assert len(scores) == len(norm)


def test_fast_rows_equal_sklearns_transform(model: LinearToxicity, corpus: pd.DataFrame) -> None:
    # Serving's own TF-IDF rows must be sklearn's numbers: every post of both languages,
    # plus the edge cases (empty, nothing in the vocabulary, one repeated word).
    from features.text.normalize import normalize_texts

    texts = [*corpus["text"].tolist(), "", "qqqqqqqqqqqqqqqqqqqq", "idiot idiot idiot"]
    norm = normalize_texts(texts)
    for vectorizer in (model.word_, model.char_):
        ours = tfidf_rows(vectorizer, vectorizer.build_analyzer(), norm)
        theirs = vectorizer.transform(norm)
        assert ours.dtype == theirs.dtype
        assert ours.shape == theirs.shape and ours.nnz == theirs.nnz
        assert abs(ours - theirs).max() < 1e-6


def test_a_pickled_model_scores_the_same_with_contiguous_weights(
    model: LinearToxicity, corpus: pd.DataFrame
) -> None:
    # The product with coef_.T must not copy the weights on each call (serving's hot path),
    # including for models pickled before coef_ was stored column-major.
    texts = corpus["text"].tolist()[:50]
    old = pickle.loads(pickle.dumps(model))
    old.__dict__["coef_"] = np.ascontiguousarray(model.coef_)  # the row-major layout of before
    loaded = pickle.loads(pickle.dumps(old))
    assert loaded.coef_.T.flags["C_CONTIGUOUS"]
    assert "_analyzers" not in loaded.__dict__
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-12)


def test_too_few_examples_is_a_clear_error() -> None:
    y = pd.DataFrame({"toxicity": [1, 0, 0]})
    with pytest.raises(ValueError, match="too few toxic"):
        LinearToxicity().fit(["a", "b", "c"], y, ["en"] * 3)


def test_shipped_configs_are_valid() -> None:
    assert load_config(ROOT / "experiments" / "toxicity_linear.yaml").model == "linear"
    assert load_config(ROOT / "experiments" / "toxicity_minilm.yaml").model == "minilm"


def test_config_typo_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("model: linear\nlinear:\n  min_dff: 3\n")
    with pytest.raises(ValueError, match=r"linear\.min_dff: Extra inputs"):
        load_config(path)
    path.write_text("labels: [toxicity, rudeness]\n")
    with pytest.raises(ValueError, match="labels must"):
        load_config(path)
    with pytest.raises(ValueError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_neutral_terms_cannot_raise_a_score() -> None:
    import numpy as np
    import pandas as pd

    # "zorbians" appears only in hateful posts: unclipped, naming them is toxic by itself.
    texts = [f"zorbians are filthy vermin number {i}" for i in range(40)]
    texts += [f"the days are lovely number {i}" for i in range(40)]
    y = pd.DataFrame({"toxicity": [1.0] * 40 + [0.0] * 40})
    langs = ["en"] * 80
    plain = LinearToxicity(min_df=1, min_positives=5).fit(texts, y, langs)
    careful = LinearToxicity(min_df=1, min_positives=5, neutral_terms=("zorbians",)).fit(
        texts, y, langs
    )
    features = careful._term_features(("zorbians",))
    assert len(features) and (plain.coef_[0, features] > 0).any()
    assert (careful.coef_[0, features] <= 0).all()
    neutral = ["my neighbours are zorbians"]
    assert careful.predict_proba(neutral)[0, 0] < plain.predict_proba(neutral)[0, 0] - 0.1
    hostile = ["they are filthy vermin"]
    assert np.isclose(careful.predict_proba(hostile), plain.predict_proba(hostile), atol=0.05).all()


def test_transformer_only_corpora_never_reach_the_linear_model(corpus: pd.DataFrame) -> None:
    from models.toxicity.config import DataConfig, ToxicityConfig
    from models.toxicity.training import fit_linear

    written = corpus.head(60).assign(source="civil_spans", text="zqxv " + corpus["text"].head(60))
    train = pd.concat([corpus, written], ignore_index=True)
    data = DataConfig(sources=["simulator"], transformer_only=["civil_spans"], min_positives=5)
    config = ToxicityConfig(model="minilm", data=data)
    assert "zqxv" not in fit_linear(train, config).word_.vocabulary_
    # Without the setting the same rows train it: the assertion above can fail.
    config = ToxicityConfig(data=data.model_copy(update={"transformer_only": []}))
    assert "zqxv" in fit_linear(train, config).word_.vocabulary_


def test_transformer_only_corpora_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("model: linear\ndata:\n  transformer_only: [civil_spans]\n")
    with pytest.raises(ValueError, match="needs model: minilm"):
        load_config(path)
    path.write_text(
        "model: minilm\ndata:\n  sources: [davidson, civil_spans]\n  transformer_only: [civil_spans]\n"
    )
    with pytest.raises(ValueError, match=r"\['civil_spans'\] are also in data.sources"):
        load_config(path)
