"""Spans: from per-character scores to pieces of the text as the member wrote it."""

from __future__ import annotations

import numpy as np

from features.text import normalize_text
from models.toxicity.spans import align, occlusion_char_scores, spans_from_char_scores, text_units


def _scores_for(norm: str, weights: dict[str, float]) -> np.ndarray:
    scores = np.zeros(len(norm))
    for word, w in weights.items():
        start = norm.find(word)
        scores[start : start + len(word)] = w / len(word)
    return scores


def test_span_points_at_the_obfuscated_word_in_the_original_text() -> None:
    for original in ("You are a 1d10t!!", "You are a i.d.i.o.t", "You are a ｉｄｉｏｔ"):
        norm = normalize_text(original)
        spans = spans_from_char_scores(original, norm, _scores_for(norm, {"idiot": 2.0}))
        assert len(spans) == 1
        assert spans[0].text == original[spans[0].begin : spans[0].end]
        assert spans[0].text.rstrip("!") in ("1d10t", "i.d.i.o.t", "ｉｄｉｏｔ")


def test_adjacent_positive_words_merge_and_weak_ones_are_dropped() -> None:
    norm = "shut up you pathetic loser and have a nice day"
    scores = _scores_for(
        norm, {"pathetic": 1.0, "loser": 2.0, "shut": 1.0, "nice": -1.0, "day": 0.05}
    )
    spans = spans_from_char_scores(norm, norm, scores)
    assert [s.text for s in spans] == ["pathetic loser", "shut"]
    assert spans[0].score == 3.0


def test_chinese_is_split_per_character() -> None:
    units = text_units("你就是个白痴, ok")
    assert len(units) == 7
    norm = "你就是个白痴"
    spans = spans_from_char_scores(norm, norm, _scores_for(norm, {"白痴": 2.0}))
    assert [s.text for s in spans] == ["白痴"]


def test_alignment_maps_every_normalised_character_into_the_original() -> None:
    original = "RT @someone: ＨＥＬＬＯ https://x.co/abc"
    norm = normalize_text(original)
    begins, ends = align(original, norm)
    assert len(begins) == len(norm)
    assert all(0 <= b < e <= len(original) for b, e in zip(begins, ends, strict=True))
    start = norm.index("hello")
    assert original[begins[start] : ends[start + 4]] == "ＨＥＬＬＯ"


def test_leave_one_word_out_scores_the_word_that_matters() -> None:
    def score(texts):  # type: ignore[no-untyped-def]
        return np.array([0.9 if "idiot" in t else 0.1 for t in texts])

    norm = "you are an idiot"
    spans = spans_from_char_scores(norm, norm, occlusion_char_scores(norm, score))
    assert [s.text for s in spans] == ["idiot"] and spans[0].score == 0.8
