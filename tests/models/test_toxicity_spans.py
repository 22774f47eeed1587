"""Spans: from per-character scores to pieces of the text as the member wrote it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.text.normalize import normalize_text
from models.toxicity.spans import align, occlusion_char_scores, spans_from_char_scores, text_units

# Zero-width, bidirectional and control characters that normalisation drops.
HIDDEN = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u202a\u202e\u2066\u2069\x00\x07\x1b\x7f\x9b"


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


def test_a_long_padded_posts_span_is_the_insult_not_the_padding() -> None:
    # Normalisation folds the 99,000 dots to two: positions must not be scaled by length.
    original = "." * 99_000 + " thanks for the reply, id\u200biooooot"
    norm = normalize_text(original)
    spans = spans_from_char_scores(original, norm, _scores_for(norm, {"idioot": 2.0}))
    assert [(s.text, s.begin, s.end) for s in spans] == [("id\u200biooooot", 99_023, 99_033)]
    assert original[99_023:99_033] == "id\u200biooooot"


def test_alignment_refuses_a_text_that_is_not_the_normal_form() -> None:
    with pytest.raises(ValueError, match="normalize_text"):
        align("You are a 1d10t", "you are a 1d10t")


# Words of letters, leet digits, capitals, full-width and Cyrillic look-alikes, some with a
# letter repeated; normalising any run of whole words of them does not depend on what
# surrounds it ("!a!" -> "ia!" while "!a" stays: such characters are left out).
_WORD = st.builds(
    lambda w, i, k: w[:i] + w[i : i + 1] * k + w[i + 1 :],
    st.text(alphabet="abcdilotxyzABIOT0134ＡＢｉｏіоé", min_size=1, max_size=8),
    st.integers(0, 7),
    st.integers(1, 6),
)
_GAP = st.one_of(
    st.sampled_from([" ", ", ", ". ", "\n", " - ", "?? "]),
    st.builds(lambda c, n: c * n, st.sampled_from(". -?~"), st.integers(1, 6_000)),
)


@st.composite
def _posts(draw: st.DrawFn) -> str:
    """Words between gaps and long padding, with hidden characters slipped in anywhere."""
    words = draw(st.lists(_WORD, min_size=1, max_size=8))
    gaps = draw(st.lists(_GAP, min_size=len(words) + 1, max_size=len(words) + 1))
    text = gaps[0] + "".join(w + g for w, g in zip(words, gaps[1:], strict=True))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(HIDDEN)) + text[at:]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_posts(), st.randoms(use_true_random=False))
def test_every_span_is_the_original_of_its_normalised_words(original: str, rng: object) -> None:
    norm = normalize_text(original)
    begins, ends = align(original, norm)
    units = text_units(norm)
    # Spans are windows of whole words: each window's original normalises back to it.
    for i in range(len(units)):
        for j in range(i, min(i + 3, len(units))):
            start, end = units[i][0], units[j][1]
            assert normalize_text(original[begins[start] : ends[end - 1]]) == norm[start:end]
    scores = np.array([rng.uniform(-1, 1) for _ in norm])  # type: ignore[attr-defined]
    for span in spans_from_char_scores(original, norm, scores):
        assert original[span.begin : span.end] == span.text
        assert normalize_text(span.text) in norm
