"""A word tagger for toxic spans, learned from span-annotated posts (SemEval-2021 Task 5 style).

steward's default spans come from the toxicity model itself (coefficients or leave-one-word-out):
they say what pushed the score, not which words a person would mark. Where annotated spans
exist (toxic_spans_civil, HateXplain rationales) a per-word logistic regression learns the
latter: each word of the normalised text is a row, with hashed features of the word, its
character n-grams and its neighbours, plus the toxicity model's push on that word.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher
from sklearn.linear_model import LogisticRegression

from features.text.normalize import normalize_with_offsets
from models.toxicity.spans import Span, text_units

# The toxicity model's per-character push (log-odds), for one text: normalised text, scores.
Push = Callable[[str], tuple[str, np.ndarray]]


@dataclass(frozen=True)
class Word:
    """One word of a post: its normal form and where it sits in the text as written."""

    norm: str
    begin: int
    end: int


def post_words(text: str) -> list[Word]:
    """The words (Han characters) of a post, normalised, with their offsets in the original."""
    norm, (begins, ends) = normalize_with_offsets(text)
    return [Word(norm[s:e], begins[s], ends[e - 1]) for s, e in text_units(norm)]


def _features(words: list[Word], push: list[float]) -> list[dict[str, float]]:
    """Hashed-feature dicts per word: identity, shape, character n-grams, neighbours, push."""
    out = []
    for i, w in enumerate(words):
        prev = words[i - 1].norm if i else "<s>"
        nxt = words[i + 1].norm if i + 1 < len(words) else "</s>"
        feats: dict[str, float] = {
            f"w={w.norm}": 1.0,
            f"p={prev}": 0.5,
            f"n={nxt}": 0.5,
            f"pw={prev}|{w.norm}": 0.5,
            "bias": 1.0,
            "push": push[i],
            "push+": max(push[i], 0.0),
            "len": min(len(w.norm), 12) / 12,
        }
        padded = f"<{w.norm}>"
        for n in (3, 4):
            for k in range(len(padded) - n + 1):
                feats[f"c{n}={padded[k : k + n]}"] = 0.3
        out.append(feats)
    return out


def _word_push(text: str, words: list[Word], push: Push | None) -> list[float]:
    """The toxicity model's log-odds push summed per word (0 without a model)."""
    if push is None or not words:
        return [0.0] * len(words)
    norm, scores = push(text)
    units = text_units(norm)
    if len(units) != len(words):
        return [0.0] * len(words)
    return [float(scores[s:e].sum()) for s, e in units]


def span_f1(pred: set[int], gold: set[int]) -> float:
    """SemEval-2021 Task 5 F1 of one post over character offsets (1.0 when both are empty)."""
    if not gold:
        return 1.0 if not pred else 0.0
    hit = len(pred & gold)
    if not pred or not hit:
        return 0.0
    precision, recall = hit / len(pred), hit / len(gold)
    return 2 * precision * recall / (precision + recall)


def mean_span_f1(preds: Sequence[set[int]], golds: Sequence[set[int]]) -> float:
    """The task's score: per-post F1 averaged over posts."""
    return float(np.mean([span_f1(p, g) for p, g in zip(preds, golds, strict=True)]))


THRESHOLDS: tuple[float, ...] = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)


def train_span_tagger(
    texts: Sequence[str],
    golds: Sequence[set[int]],
    push: Push | None = None,
    C: float = 0.5,
    valid_fraction: float = 0.1,
    seed: int = 13,
) -> tuple[SpanTagger, dict[str, float]]:
    """Fit on all but a seeded validation slice, whose span F1 sets the word threshold."""
    order = np.random.default_rng(seed).permutation(len(texts))
    n_valid = max(1, int(len(texts) * valid_fraction))
    valid, fit = order[:n_valid], order[n_valid:]
    tagger = SpanTagger(C=C).fit([texts[i] for i in fit], [golds[i] for i in fit], push)
    scores = tagger.choose_threshold([texts[i] for i in valid], [golds[i] for i in valid], push)
    report = {
        "posts": float(len(fit)),
        "valid_posts": float(n_valid),
        "threshold": tagger.threshold,
        "valid_f1": scores[tagger.threshold],
    }
    return tagger, report


class SpanTagger:
    """Which words of a post make it toxic: per-word logistic regression on hashed features."""

    def __init__(self, C: float = 0.5, threshold: float = 0.5, n_features: int = 2**20) -> None:
        self.C = C
        self.threshold = threshold
        self.hasher = FeatureHasher(n_features=n_features, input_type="dict")
        self.model: LogisticRegression | None = None

    def _rows(
        self, texts: Sequence[str], push: Push | None
    ) -> tuple[sp.csr_matrix, list[list[Word]]]:
        """One feature row per word of every text, and the words."""
        words = [post_words(t) for t in texts]
        dicts: list[dict[str, float]] = []
        for text, ws in zip(texts, words, strict=True):
            dicts += _features(ws, _word_push(text, ws, push))
        return self.hasher.transform(dicts), words

    def fit(
        self, texts: Sequence[str], gold: Sequence[set[int]], push: Push | None = None
    ) -> SpanTagger:
        """Learn from posts and their gold character offsets (a word is toxic when most of its
        characters are)."""
        x, words = self._rows(texts, push)
        y = np.array(
            [
                2 * len(g.intersection(range(w.begin, w.end))) > (w.end - w.begin)
                for ws, g in zip(words, gold, strict=True)
                for w in ws
            ]
        )
        self.model = LogisticRegression(C=self.C, max_iter=2000, solver="liblinear")
        self.model.fit(x, y)
        return self

    def word_probs(self, texts: Sequence[str], push: Push | None = None) -> list[np.ndarray]:
        """Per text, the probability that each word belongs to a toxic span."""
        if self.model is None:
            raise RuntimeError("SpanTagger is not fitted")
        x, words = self._rows(texts, push)
        p = self.model.predict_proba(x)[:, 1] if x.shape[0] else np.zeros(0)
        cuts = np.cumsum([len(ws) for ws in words])[:-1]
        return list(np.split(p, cuts))

    def predict_chars(
        self, texts: Sequence[str], push: Push | None = None, threshold: float | None = None
    ) -> list[set[int]]:
        """Per text, the character offsets of its toxic spans."""
        t = self.threshold if threshold is None else threshold
        out = []
        for text, probs in zip(texts, self.word_probs(texts, push), strict=True):
            out.append({i for b, e, _ in tagged_runs(text, probs, t) for i in range(b, e)})
        return out

    def choose_threshold(
        self, texts: Sequence[str], golds: Sequence[set[int]], push: Push | None = None
    ) -> dict[float, float]:
        """Set the word threshold with the best mean span F1 on these (validation) posts;
        returns F1 per threshold tried."""
        probs = self.word_probs(texts, push)
        scores = {}
        for t in THRESHOLDS:
            preds = [
                {i for b, e, _ in tagged_runs(text, p, t) for i in range(b, e)}
                for text, p in zip(texts, probs, strict=True)
            ]
            scores[t] = mean_span_f1(preds, golds)
        self.threshold = max(scores, key=lambda k: scores[k])
        return scores

    def spans(self, text: str, push: Push | None = None, max_spans: int = 3) -> list[Span]:
        """The post's toxic spans, strongest first (score: the mean word probability)."""
        runs = tagged_runs(text, self.word_probs([text], push)[0], self.threshold)
        runs.sort(key=lambda r: -r[2])
        return [Span(text[b:e], b, e, round(p, 4)) for b, e, p in runs[:max_spans]]


def tagged_runs(text: str, probs: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """(begin, end, mean probability) of each run of tagged words; words separated only by
    spaces join one run, as annotators mark phrases."""
    runs: list[tuple[int, int, list[float]]] = []
    last_end = -1
    for w, p in zip(post_words(text), probs, strict=True):
        if p < threshold:
            last_end = -1
            continue
        if runs and last_end >= 0 and not text[last_end : w.begin].strip():
            b, _, ps = runs[-1]
            runs[-1] = (b, w.end, [*ps, float(p)])
        else:
            runs.append((w.begin, w.end, [float(p)]))
        last_end = w.end
    return [(b, e, float(np.mean(ps))) for b, e, ps in runs]
