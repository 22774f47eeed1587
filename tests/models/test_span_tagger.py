"""The toxic-span word tagger and the SemEval-2021 Task 5 span F1 it is judged by."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.toxicity.linear import LinearToxicity
from models.toxicity.scoring import ToxicityScorer
from models.toxicity.span_tagger import SpanTagger, mean_span_f1, post_words, span_f1


def test_span_f1_is_the_tasks_per_post_metric() -> None:
    assert span_f1(set(), set()) == 1.0  # nothing toxic marked, nothing returned
    assert span_f1({1}, set()) == 0.0 and span_f1(set(), {1}) == 0.0
    assert span_f1({1, 2, 3, 4}, {3, 4, 5, 6}) == pytest.approx(0.5)
    assert mean_span_f1([{1}, set()], [{1}, {2}]) == pytest.approx(0.5)


def test_words_carry_their_offsets_in_the_text_as_written() -> None:
    text = "You're a 1d10t, mate"
    words = post_words(text)
    assert [w.norm for w in words] == ["you're", "a", "idiot", "mate"]
    assert [text[w.begin : w.end] for w in words] == ["You're", "a", "1d10t", "mate"]


def _marked(text: str, *words: str) -> set[int]:
    chars: set[int] = set()
    for word in words:
        start = text.index(word)
        chars.update(range(start, start + len(word)))
    return chars


def test_the_tagger_marks_the_abusive_words_in_sentences_it_has_not_seen() -> None:
    insults = ["idiot", "moron", "loser", "clown", "fool"]
    frames = [
        "you are such a {} honestly",
        "what a {} this guy is",
        "only a {} would post that",
        "stop talking {}",
        "the mayor is a {} and a liar",
    ]
    texts = [f.format(w) for f in frames for w in insults[:4]]
    gold = [_marked(t, *[w for w in insults if w in t]) for t in texts]
    clean = ["the weather is nice today", "thanks for the answer", "see you at the meetup"]
    tagger = SpanTagger(C=4.0, threshold=0.5).fit(texts + clean, gold + [set()] * len(clean))
    new = ["honestly you are a moron", "thanks, see you today"]
    found = tagger.predict_chars(new)
    assert mean_span_f1(found, [_marked(new[0], "moron"), set()]) == 1.0
    spans = tagger.spans(new[0])
    assert [s.text for s in spans] == ["moron"] and 0.5 <= spans[0].score <= 1


def _insult_posts() -> tuple[list[str], pd.DataFrame, list[set[int]]]:
    """Posts with an insult in a frame and clean ones, labels, and the insults' characters."""
    insults = ["idiot", "moron", "loser", "clown"]
    frames = ["you are such a {} honestly", "what a {} this guy is", "only a {} would say it"]
    toxic = [f.format(w) for f in frames for w in insults]
    clean = [f.format(w) for f in frames for w in ("friend", "hero", "person", "teacher")]
    y = pd.DataFrame({"toxicity": [1.0] * len(toxic) + [0.0] * len(clean)})
    gold = [_marked(t, *[w for w in insults if w in t]) for t in toxic] + [set()] * len(clean)
    return toxic + clean, y, gold


def test_a_scorer_with_a_tagger_returns_its_spans_and_keeps_it_when_saved(tmp_path: Path) -> None:
    texts, y, gold = _insult_posts()
    linear = LinearToxicity(min_df=1, min_positives=3).fit(texts, y, ["en"] * len(texts))
    scorer = ToxicityScorer(linear, {}, "v1")
    scorer.span_tagger = SpanTagger(C=4.0).fit(texts, gold, scorer.span_push())
    text = "honestly, what a moron he is"
    spans = scorer.explain(text, "en")
    assert [s.text for s in spans] == ["moron"]
    again = ToxicityScorer.load(scorer.save(tmp_path / "model"))
    assert again.span_tagger is not None and again.explain(text, "en") == spans
    assert again.explain("你就是个白痴", "zh") == scorer.explain(
        "你就是个白痴", "zh"
    )  # not English


class _RecordingMiniLM:
    """Stands in for the MiniLM backend (constant scores): records what it is asked to score."""

    def __init__(self) -> None:
        self.labels = ["toxicity"]
        self.label_languages = {"toxicity": ["en"]}
        self.calls: list[int] = []

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return np.full((len(texts), 1), 0.9)


def test_when_the_tagger_finds_nothing_the_ensemble_explains_with_the_linear_words() -> None:
    texts, y, gold = _insult_posts()
    linear = LinearToxicity(min_df=1, min_positives=3).fit(texts, y, ["en"] * len(texts))
    minilm = _RecordingMiniLM()
    scorer = ToxicityScorer(linear, {}, "v1", minilm, "ensemble")
    scorer.span_tagger = SpanTagger(C=4.0, threshold=1.01).fit(texts, gold, scorer.span_push())
    text = "honestly, what a moron he is"
    assert scorer.span_tagger.spans(text, scorer.span_push()) == []  # the tagger finds nothing
    spans = scorer.explain(text, "en")
    assert any("moron" in s.text for s in spans)
    assert minilm.calls == []  # no leave-one-word-out through MiniLM
    # Without a tagger the ensemble route still explains by leave-one-word-out through it.
    scorer.span_tagger = None
    scorer.explain(text, "en")
    assert minilm.calls and minilm.calls[0] > 1
