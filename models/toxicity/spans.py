"""The 1-3 spans of a post that drove its score, located in the text as the member wrote it.

Scores are first given per character of the normalised text (coefficient attribution for
the linear model, leave-one-word-out for the transformer), summed per word (per character
for Chinese), merged into runs of adjacent positive words, and mapped back to the original
through the offsets that `features.text.normalize.normalize_with_offsets` keeps, so they index it exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from features.text.normalize import normalize_with_offsets

# A Latin/digit word, or one Han character: Chinese has no spaces to find words by.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_UNIT = re.compile(rf"[{_HAN}]|[^\W_{_HAN}]+(?:['’][^\W_{_HAN}]+)*|[@$*#]\w*")
MAX_UNITS_PER_SPAN = 6


@dataclass(frozen=True)
class Span:
    """A piece of the original text, its character offsets and how much it pushed the score."""

    text: str
    begin: int
    end: int
    score: float

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready form."""
        return asdict(self)


def text_units(norm: str) -> list[tuple[int, int]]:
    """(start, end) of each word, or each Han character, of a normalised text."""
    return [(m.start(), m.end()) for m in _UNIT.finditer(norm)]


def spans_from_char_scores(
    original: str, norm: str, char_scores: np.ndarray, max_spans: int = 3, min_score: float = 0.0
) -> list[Span]:
    """Up to `max_spans` runs of adjacent positive words, strongest first, in original offsets.

    Runs below `min_score`, or under a quarter of the strongest, are noise rather than reasons.
    """
    units = text_units(norm)
    unit_scores = [float(char_scores[s:e].sum()) for s, e in units]
    runs = _positive_runs(units, unit_scores)
    if not runs:
        return []
    runs.sort(key=lambda r: -r[2])
    best = runs[0][2]
    begin_map, end_map = align(original, norm)
    out = []
    for start, end, score in runs[:max_spans]:
        if score < max(0.25 * best, min_score):
            break
        b, e = begin_map[start], end_map[end - 1]
        out.append(Span(original[b:e], b, e, round(score, 4)))
    return out


def _positive_runs(
    units: list[tuple[int, int]], scores: list[float]
) -> list[tuple[int, int, float]]:
    """Maximal runs of consecutive positive units, each cut to its best window."""
    runs: list[tuple[int, int, float]] = []
    i = 0
    while i < len(units):
        if scores[i] <= 0:
            i += 1
            continue
        j = i
        while j + 1 < len(units) and scores[j + 1] > 0:
            j += 1
        runs.append(_best_window(units, scores, i, j))
        i = j + 1
    return runs


def _best_window(
    units: list[tuple[int, int]], scores: list[float], i: int, j: int
) -> tuple[int, int, float]:
    """The strongest window of at most MAX_UNITS_PER_SPAN units within units i..j."""
    best = (i, i, scores[i])
    for a in range(i, j + 1):
        total = 0.0
        for b in range(a, min(j, a + MAX_UNITS_PER_SPAN - 1) + 1):
            total += scores[b]
            if total > best[2]:
                best = (a, b, total)
    a, b, total = best
    return units[a][0], units[b][1], total


def align(original: str, norm: str) -> tuple[list[int], list[int]]:
    """For each character of `norm`, where it begins and ends in `original`.

    Exact at any length: the offsets come from the normaliser itself, so `norm` must be
    `normalize_text(original)`.
    """
    tracked, (begins, ends) = normalize_with_offsets(original)
    if tracked != norm:
        raise ValueError("norm is not normalize_text(original): its spans cannot be placed")
    return begins, ends


def occlusion_char_scores(norm: str, score: Callable[[Sequence[str]], np.ndarray]) -> np.ndarray:
    """Leave-one-word-out: each word's score is the drop in probability without it."""
    units = text_units(norm)
    scores = np.zeros(len(norm))
    if not units:
        return scores
    variants = [norm[:s] + norm[e:] for s, e in units]
    probs = score([norm, *variants])
    for (s, e), without in zip(units, probs[1:], strict=True):
        scores[s:e] = (probs[0] - without) / (e - s)
    return scores
