"""Corpus loaders: one layout for public corpora and a community's own moderation decisions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.text.corpora import (
    CORPUS_COLUMNS,
    fingerprint,
    load_corpus,
    load_lake_moderation,
    load_moderation_file,
    load_seed,
    make_corpus,
    split_corpus,
)
from tests.conftest import require_shared


def test_make_corpus_fills_unlabelled_labels_with_nan_and_derives_toxicity() -> None:
    frame = make_corpus(["you idiot", "hello", "你好"], "x", {"insult": [1, 0, None]})
    assert list(frame.columns) == list(CORPUS_COLUMNS)
    assert frame["lang"].tolist() == ["en", "en", "zh"]
    # Toxicity is "any labelled abuse": derived where another label is known, unknown elsewhere.
    assert frame["toxicity"].tolist()[:2] == [1.0, 0.0] and np.isnan(frame["toxicity"].iloc[2])
    assert frame["threat"].isna().all()


def test_labels_read_from_words_numbers_and_booleans() -> None:
    frame = make_corpus(list("abcde"), "x", {"toxicity": ["yes", "no", 0.7, False, "removed"]})
    assert frame["toxicity"].tolist() == [1.0, 0.0, 1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="cannot read 'maybe'"):
        make_corpus(["a"], "x", {"toxicity": ["maybe"]})


def test_moderation_file_with_mapped_columns(tmp_path: Path) -> None:
    path = tmp_path / "decisions.parquet"
    pd.DataFrame(
        {
            "body": ["you moron", "nice post", "滚"],
            "removed": [True, False, True],
            "post_id": ["a", "b", "c"],
        }
    ).to_parquet(path)
    frame = load_moderation_file(path, text_column="body", labels={"toxicity": "removed"})
    assert frame["toxicity"].tolist() == [1.0, 0.0, 1.0]
    assert frame["group"].tolist() == ["a", "b", "c"] and set(frame["source"]) == {"community"}


def test_moderation_file_errors_name_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a"], "bad": [1]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="label column"):
        load_moderation_file(path)
    with pytest.raises(ValueError, match="unknown label"):
        load_moderation_file(path, labels={"rudeness": "bad"})
    with pytest.raises(ValueError, match="missing column"):
        load_moderation_file(path, text_column="body", labels={"toxicity": "bad"})


def test_split_keeps_groups_together_and_respects_fixed_splits() -> None:
    n = 2_000
    frame = make_corpus(
        [f"t{i}" for i in range(n)],
        "forum",
        {"toxicity": [i % 2 for i in range(n)]},
        group=[i // 5 for i in range(n)],
    )
    frame.loc[:9, "split"] = "test"
    frame.loc[10:19, "split"] = "train_only"
    out = split_corpus(frame, test_fraction=0.2, valid_fraction=0.1, seed=3)
    assert (out.groupby("group")["split"].nunique().loc[[str(g) for g in range(4, 400)]] == 1).all()
    assert (out["split"].iloc[:10] == "test").all() and (out["split"].iloc[10:20] == "train").all()
    shares = out["split"].iloc[20:].value_counts(normalize=True)
    assert abs(shares["test"] - 0.2) < 0.06 and abs(shares["valid"] - 0.1) < 0.05
    assert out["split"].tolist() == split_corpus(frame, 0.2, 0.1, 3)["split"].tolist()


def test_fingerprint_changes_with_any_label() -> None:
    frame = make_corpus(["a", "b"], "x", {"toxicity": [0, 1]})
    changed = frame.copy()
    changed.loc[0, "toxicity"] = 1.0
    assert fingerprint(frame) == fingerprint(frame.copy()) != fingerprint(changed)


def test_seed_examples_leave_the_behavioural_probes_unseen() -> None:
    seed = load_seed()
    assert set(seed["split"]) == {"train_only"} and set(seed["lang"]) == {"en", "zh"}
    texts = set(seed["text"].str.lower())
    for probe in (
        "i am a proud gay muslim woman",
        "我是河南人",
        "you are an idiot",
        "你就是个白痴",
    ):
        assert not any(probe in t for t in texts)


def test_unknown_or_absent_corpus_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="unknown corpus 'reddit'"):
        load_corpus("reddit")
    monkeypatch.setenv("STEWARD_SHARED_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="STEWARD_SHARED_DATA"):
        load_corpus("davidson")


def test_lake_moderation_joins_text_and_language_from_posts(steward_home: Path) -> None:
    from pipelines.steps import simulate_and_ingest

    simulate_and_ingest(members=300, days=20, seed=5)
    frame = load_lake_moderation()
    assert len(frame) > 100 and set(frame["lang"]) <= {"en", "zh"}
    assert frame["toxicity"].notna().all() and frame["text"].str.len().gt(0).all()


@pytest.mark.realdata
def test_davidson_hate_is_an_identity_attack() -> None:
    frame = load_corpus("davidson", require_shared("davidson_hate_offensive"))
    assert len(frame) == 24_783
    assert frame["toxicity"].sum() == 1_430 + 19_190 and frame["identity_attack"].sum() == 1_430
    assert not frame["text"].str.contains(r"\bRT\b").any()


@pytest.mark.realdata
def test_forum_drops_context_dependent_sentences_and_groups_by_comment() -> None:
    frame = load_corpus("stormfront", require_shared("stormfront_forum"))
    assert len(frame) == 1_196 + 9_507 and frame["toxicity"].sum() == 1_196
    assert frame["group"].nunique() < len(frame)
    assert (frame["toxicity"] == frame["identity_attack"]).all()


@pytest.mark.realdata
def test_cold_dev_is_held_out_and_chinese() -> None:
    frame = load_corpus("cold", require_shared("cold_chinese"))
    assert frame["split"].value_counts().to_dict() == {"train": 25_726, "test": 6_431}
    assert (frame["lang"] == "zh").mean() > 0.99
    assert frame["identity_attack"].isna().all()  # only COLD's test file says who is attacked


@pytest.mark.realdata
def test_jigsaw_sample_is_evaluation_only_with_all_labels() -> None:
    frame = load_corpus("jigsaw", require_shared("jigsaw_ibm_max_sample"))
    assert len(frame) == 101 and set(frame["split"]) == {"test"}
    assert frame[["toxicity", "insult", "obscene", "threat", "identity_attack"]].notna().all().all()


def test_identity_training_statements_leave_the_probes_and_held_out_groups_unseen() -> None:
    from features.text.corpora import load_identity
    from features.text.identity_terms import GROUPS, identity_eval_frame

    train = load_identity()
    assert set(train["split"]) == {"train_only"} and set(train["lang"]) == {"en", "zh"}
    texts = set(train["text"].str.lower())
    assert not any(p in t for t in texts for p in ("i am a proud gay muslim woman", "我是河南人"))
    held_out = [g for g in GROUPS if not g.train]
    for group in held_out:
        assert not any(group.plural.lower() in t for t in texts), group.key
    evaluation = identity_eval_frame()
    assert not set(evaluation["text"]) & set(train["text"])  # templates differ too
    for lang in ("en", "zh"):
        part = evaluation[evaluation["lang"] == lang]
        assert part["group"].nunique() >= 30
        assert set(part["kind"]) == {"neutral", "positive", "counter", "hostile"}
        assert (part["toxicity"] == (part["kind"] == "hostile")).all()


def test_pair_statements_name_two_held_out_groups_of_different_categories() -> None:
    from features.text.corpora import load_identity
    from features.text.identity_terms import GROUPS, identity_pair_eval_frame

    pairs = identity_pair_eval_frame()
    by_key = {(g.lang, g.key): g for g in GROUPS}
    for lang, name in set(zip(pairs["lang"], pairs["group"], strict=True)):
        first, second = (by_key[(lang, key)] for key in name.split(" + "))
        assert not first.train and not second.train
        assert first.category != second.category
    for lang, part in pairs.groupby("lang"):
        assert part["group"].nunique() >= 30, lang
        assert (part["toxicity"] == (part["kind"] == "hostile")).all()
    assert not set(pairs["text"]) & set(load_identity()["text"])


def test_stacked_self_descriptions_use_held_out_groups_only() -> None:
    from features.text.identity_terms import GROUPS, identity_stacked_eval_frame

    frame = identity_stacked_eval_frame()
    held_out = {g.key for g in GROUPS if not g.train}
    assert all(set(name.split(" + ")) <= held_out for name in frame["group"])
    assert frame["group"].nunique() >= 30 and set(frame["lang"]) == {"en"}
    assert "As an Arab Somali man, I love this forum." in set(frame["text"])
    assert (frame["toxicity"] == (frame["kind"] == "hostile")).all()


def test_stacked_training_statements_keep_groups_templates_and_the_probe_apart() -> None:
    from features.text.corpora import load_corpus
    from features.text.identity_terms import (
        GROUPS,
        identity_stacked_eval_frame,
        identity_stacked_training_frame,
    )

    frame = identity_stacked_training_frame()
    by_key = {g.key: g for g in GROUPS if g.lang == "en"}
    for name in set(frame["group"]):
        first, second = (by_key[key] for key in name.split(" + "))
        assert first.train and second.train and first.category != second.category, name
    # The demo's and the behaviour tests' probe stacks gay and Muslim: never trained on.
    texts = " ".join(frame["text"]).lower()
    assert "gay muslim" not in texts and "muslim gay" not in texts
    assert "i'm a gay jewish man and i run the chess club." in texts
    held_out = [g for g in GROUPS if not g.train and g.lang == "en"]
    words = set(texts.replace(",", " ").replace(".", " ").split())
    held_out_words = {w.lower() for g in held_out for w in g.person.split()} - {"a", "an", "person"}
    assert "queer" in held_out_words and not held_out_words & words
    assert not set(frame["text"]) & set(identity_stacked_eval_frame()["text"])
    corpus = load_corpus("identity_stacked")
    assert len(corpus) == len(frame) and set(corpus["split"]) == {"train_only"}
    assert (corpus["toxicity"] == frame["kind"].eq("hostile").to_numpy()).all()
    assert (corpus["identity_attack"] == corpus["toxicity"]).all()


@pytest.mark.realdata
def test_hatexplain_hatespeech_is_an_identity_attack_and_offensive_is_toxic() -> None:
    frame = load_corpus("hatexplain", require_shared("hatexplain_en"))
    assert len(frame) == 11_535 and set(frame["lang"]) == {"en"}
    assert frame["toxicity"].sum() == 3_547 + 3_325 and frame["identity_attack"].sum() == 3_547
    assert frame["group"].nunique() < len(frame)  # duplicate texts share a group


@pytest.mark.realdata
def test_jigsaw2018_sample_labels_toxicity_only() -> None:
    frame = load_corpus("jigsaw2018", require_shared("jigsaw2018_sample_2500"))
    assert len(frame) == 2_500 and frame["toxicity"].sum() == 265
    assert frame["identity_attack"].isna().all() and frame["insult"].isna().all()


@pytest.mark.realdata
def test_swsr_sexism_is_toxic_and_generic_targets_are_identity_attacks() -> None:
    frame = load_corpus("swsr", require_shared("swsr_chinese_sexism"))
    assert len(frame) == 8_969 and set(frame["lang"]) == {"zh"}
    assert frame["toxicity"].sum() == 3_093
    sexist = frame["toxicity"] == 1
    assert frame.loc[~sexist, "identity_attack"].eq(0).all()
    assert frame.loc[sexist, "identity_attack"].sum() == 1_279  # target G (a group)
    assert frame.loc[sexist, "identity_attack"].isna().sum() == 1_814  # an individual: unknown


def _spans_folder(tmp_path: Path) -> Path:
    """A toxic_spans_civil layout: a marked post, an unmarked one, one too short once cut."""
    text = "Only a complete idiot would write this article about the new bridge"
    start = text.index("idiot")
    rows = pd.DataFrame(
        {
            "spans": [str(list(range(start, start + 5))), "[]", "[0, 1, 2, 3, 4]"],
            "text": [text, "Nobody asked for your opinion here", "idiot indeed"],
        }
    )
    rows.to_csv(tmp_path / "tsd_train.csv", index=False)
    pd.DataFrame({"spans": ["[0]"], "text": ["held-out trial post"]}).to_csv(
        tmp_path / "tsd_trial.csv", index=False
    )
    return tmp_path


def test_civil_spans_adds_each_marked_post_without_its_spans_as_not_toxic(tmp_path: Path) -> None:
    frame = load_corpus("civil_spans", _spans_folder(tmp_path))
    assert frame["text"].tolist() == [
        "Only a complete idiot would write this article about the new bridge",
        "Only a complete would write this article about the new bridge",
        "Nobody asked for your opinion here",
        "idiot indeed",
    ]
    assert frame["toxicity"].tolist() == [1.0, 0.0, 1.0, 1.0]
    # A post and its counterfactual share a group; the trial file (held out) is never read;
    # written rows only ever train.
    assert frame["group"].tolist()[:2] == ["0", "0"] and frame["group"].nunique() == 3
    assert set(frame["split"]) == {"train_only"} and set(frame["lang"]) == {"en"}
    assert frame["insult"].isna().all()


@pytest.mark.realdata
def test_civil_spans_reads_the_train_file_only() -> None:
    frame = load_corpus("civil_spans", require_shared("toxic_spans_civil"))
    originals = frame[frame["toxicity"] == 1]
    assert len(originals) == 7_939  # tsd_train.csv; tsd_trial.csv's 690 posts stay held out
    assert 0 < (frame["toxicity"] == 0).sum() < len(originals)


def _hatexplain_folder(tmp_path: Path) -> Path:
    """A HateXplain train.csv: a marked hateful post, one too short once cut, an unmarked
    offensive post and a normal post."""
    rows = [
        (
            ["all", "of", "them", "are", "vermin", "and", "should", "leave", "now"],
            [0, 0, 0, 0, 1, 0, 1, 1, 0],
            "hatespeech",
        ),
        (["you", "stupid", "idiot", "lol"], [0, 1, 1, 0], "offensive"),
        (["what", "a", "stupid", "game", "tonight"], [0, 0, 0, 0, 0], "offensive"),
        (["nice", "weather", "in", "the", "park", "today"], [0, 0, 0, 0, 0, 0], "normal"),
    ]
    folder = tmp_path / "hatexplain_en"
    folder.mkdir()
    pd.DataFrame(
        {
            "post_tokens": [str(w) for w, _, _ in rows],
            "toxic_tokens": [str(m) for _, m, _ in rows],
            "post_label": [label for _, _, label in rows],
        }
    ).to_csv(folder / "train.csv", index=False)
    return folder


def test_hatexplain_rationales_cut_the_marked_words_out_of_toxic_posts(tmp_path: Path) -> None:
    from features.text.corpora import split_corpus

    folder = _hatexplain_folder(tmp_path)
    written = load_corpus("hatexplain_rationales", folder)
    # Only the hateful post keeps four words once its marked ones are cut; normal posts and
    # posts without marks give nothing.
    assert written["text"].tolist() == ["all of them are and now"]
    assert written["toxicity"].tolist() == [0.0]
    original = load_corpus("hatexplain", folder)
    assert written["group"].iloc[0] == original["group"].iloc[0]  # the original post's text
    # A written row takes its original's split, and is dropped unless that is train.
    both = pd.concat([original, written], ignore_index=True)
    parents = set()
    for seed in range(40):
        split = split_corpus(both, 0.5, 0.25, seed)
        parent = split.loc[split["source"] == "hatexplain", "split"].iloc[0]
        kept = split[split["source"] == "hatexplain_rationales"]
        assert len(kept) == (parent == "train")
        assert set(kept["split"]) <= {"train"}
        parents.add(parent)
    assert parents == {"train", "valid", "test"}  # both branches were taken


@pytest.mark.realdata
def test_hatexplain_rationales_come_from_toxic_posts_only() -> None:
    folder = require_shared("hatexplain_en")
    written = load_corpus("hatexplain_rationales", folder)
    toxic = load_corpus("hatexplain", folder).query("toxicity == 1")
    assert 0.5 * len(toxic) < len(written) < len(toxic)  # measured 6,260 of 6,872
    assert set(written["group"]) <= set(toxic["group"])
