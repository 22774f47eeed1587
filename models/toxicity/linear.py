"""TF-IDF word 1-2-grams and character 2-5-grams with one logistic regression per label.

Characters carry Chinese (no spaces between words) and obfuscated English alike. The
estimator normalises raw text itself with `features.text.normalize.normalize_text`, so training and
serving cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from features.text.normalize import normalize_text, normalize_texts

WORD_PATTERN = r"(?u)\b\w\w+\b"
_WORD = re.compile(WORD_PATTERN)
_NONSPACE = re.compile(r"\S+")


def tfidf_rows(
    vectorizer: TfidfVectorizer, analyzer: Callable[[str], list[str]], docs: Sequence[str]
) -> sp.csr_matrix:
    """`vectorizer.transform(docs)` without sklearn's per-call checks (the same numbers).

    Serving scores one post per request: sklearn's input validation cost more than the
    n-grams themselves (a word row: 0.84 ms through sklearn, 0.23 ms here, measured under
    load). Vocabulary, idf, sublinear tf and the l2 norm are the fitted vectoriser's own;
    tests compare both on English and Chinese posts.
    """
    vocab = vectorizer.vocabulary_
    indptr, indices, counts = [0], list[int](), list[int]()
    for doc in docs:
        row: dict[int, int] = {}
        for gram in analyzer(doc):
            j = vocab.get(gram)
            if j is not None:
                row[j] = row.get(j, 0) + 1
        indices.extend(row)
        counts.extend(row.values())
        indptr.append(len(indices))
    x = sp.csr_matrix(
        (np.asarray(counts, dtype=np.float64), np.asarray(indices, dtype=np.int32), indptr),
        shape=(len(docs), len(vocab)),
    )
    x.sort_indices()
    if vectorizer.sublinear_tf:
        x.data = np.log(x.data) + 1.0
    x.data *= vectorizer.idf_[x.indices]
    lengths = np.diff(x.indptr)
    norms = np.sqrt(np.bincount(np.repeat(np.arange(len(docs)), lengths), x.data**2, len(docs)))
    x.data /= np.repeat(np.where(norms > 0, norms, 1.0), lengths)
    return x.astype(vectorizer.dtype)


def supported_languages(
    y: pd.DataFrame, langs: Sequence[str], min_positives: int
) -> dict[str, list[str]]:
    """For each label, the languages with at least `min_positives` positives and negatives."""
    frame = y.assign(_lang=list(langs))
    out: dict[str, list[str]] = {}
    for label in y.columns:
        known = frame[frame[label].notna()]
        counts = known.groupby("_lang")[label].agg(["sum", "count"])
        ok = counts[
            (counts["sum"] >= min_positives) & (counts["count"] - counts["sum"] >= min_positives)
        ]
        if len(ok):
            out[str(label)] = sorted(str(lang) for lang in ok.index)
    return out


class LinearToxicity(BaseEstimator):
    """Multi-label toxicity from word and character n-grams (sklearn estimator rules)."""

    def __init__(
        self,
        labels: Sequence[str] = ("toxicity",),
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (2, 5),
        min_df: int = 2,
        max_word_features: int = 200_000,
        max_char_features: int = 300_000,
        C: float = 4.0,
        max_iter: int = 1000,
        min_positives: int = 20,
        neutral_terms: tuple[str, ...] = (),
    ) -> None:
        self.labels = labels
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.max_word_features = max_word_features
        self.max_char_features = max_char_features
        self.C = C
        self.max_iter = max_iter
        self.min_positives = min_positives
        self.neutral_terms = neutral_terms

    def fit(
        self,
        texts: Sequence[str],
        y: pd.DataFrame,
        langs: Sequence[str],
        sample_weight: np.ndarray | None = None,
    ) -> LinearToxicity:
        """Fit vectorisers on all texts and one regression per label on its labelled rows.

        `sample_weight` lets a few hundred of a community's own decisions outweigh rows of
        public corpora (None: every row counts once).
        """
        wanted = [lb for lb in self.labels if lb in y.columns]
        self.label_languages_ = supported_languages(y[wanted], langs, self.min_positives)
        if "toxicity" not in self.label_languages_:
            raise ValueError(
                f"too few toxic and non-toxic examples to train (need {self.min_positives} of each)"
            )
        self.labels_ = [lb for lb in wanted if lb in self.label_languages_]
        norm = normalize_texts(texts)
        self.word_ = TfidfVectorizer(
            ngram_range=tuple(self.word_ngrams),
            min_df=self.min_df,
            max_features=self.max_word_features,
            sublinear_tf=True,
            lowercase=False,
            token_pattern=WORD_PATTERN,
            dtype=np.float32,
        )
        self.char_ = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=tuple(self.char_ngrams),
            min_df=self.min_df,
            max_features=self.max_char_features,
            sublinear_tf=True,
            lowercase=False,
            dtype=np.float32,
        )
        x = sp.hstack([self.word_.fit_transform(norm), self.char_.fit_transform(norm)]).tocsr()
        # Column-major, so coef_.T is contiguous: scipy copied the transposed (labels x 333k)
        # array on every product, 3 of a single post's 6 ms (measured).
        self.coef_ = np.zeros((len(self.labels_), x.shape[1]), order="F")
        self.intercept_ = np.zeros(len(self.labels_))
        for i, label in enumerate(self.labels_):
            known = y[label].notna().to_numpy()
            model = LogisticRegression(C=self.C, max_iter=self.max_iter, solver="liblinear")
            weight = None if sample_weight is None else np.asarray(sample_weight)[known]
            model.fit(x[known], y[label].to_numpy()[known].astype(int), sample_weight=weight)
            self.coef_[i] = model.coef_[0]
            self.intercept_[i] = model.intercept_[0]
        if self.neutral_terms:
            self.coef_[:, self._term_features(self.neutral_terms)] = np.minimum(
                self.coef_[:, self._term_features(self.neutral_terms)], 0.0
            )
        return self

    def _term_features(self, terms: Sequence[str]) -> np.ndarray:
        """Features that only name a term: word n-grams of terms (and filler words), and
        character n-grams inside one (at least 4 letters, or 2 Chinese characters).

        Their weights are clipped at zero: naming a group may never raise a score, whatever
        the corpora's hateful posts taught (identity terms treated with care).
        """
        words = {normalize_text(t) for t in terms}
        filler = {"a", "an", "the", "people", "person"}
        found = []
        for feature, j in self.word_.vocabulary_.items():
            tokens = feature.split()
            if any(t in words for t in tokens) and all(t in words or t in filler for t in tokens):
                found.append(j)
        padded = [f" {w} " for w in words]
        offset = len(self.word_.vocabulary_)
        for feature, j in self.char_.vocabulary_.items():
            chinese = any("\u4e00" <= c <= "\u9fff" for c in feature)
            if len(feature.strip()) >= (2 if chinese else 4) and any(feature in w for w in padded):
                found.append(offset + j)
        return np.asarray(sorted(found), dtype=int)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_analyzers", None)  # rebuilt on first use: functions of the vectorisers
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if hasattr(self, "coef_"):  # models saved before coef_ was column-major
            self.coef_ = np.asfortranarray(self.coef_)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """TF-IDF features of raw texts."""
        norm = normalize_texts(texts)
        analyzers = self.__dict__.get("_analyzers")
        if analyzers is None:
            analyzers = (self.word_.build_analyzer(), self.char_.build_analyzer())
            self._analyzers = analyzers
        word = tfidf_rows(self.word_, analyzers[0], norm)
        char = tfidf_rows(self.char_, analyzers[1], norm)
        return sp.hstack([word, char], format="csr")

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Log-odds per text and label, shape (n, len(labels_))."""
        return np.asarray(self.transform(texts) @ self.coef_.T) + self.intercept_

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability per text and label, shape (n, len(labels_))."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(texts)))

    def char_contributions(self, text: str, label: str) -> tuple[str, np.ndarray]:
        """The normalised text and each character's share of the label's log-odds.

        Every n-gram's weight times its TF-IDF value is spread over the characters it covers.
        """
        norm = normalize_text(text)
        row = self.transform([text])
        weights = self.coef_[self.labels_.index(label)]
        value = dict(
            zip(row.indices.tolist(), (row.data * weights[row.indices]).tolist(), strict=True)
        )
        hits = self._word_hits(norm) + self._char_hits(norm)
        counts: dict[int, int] = {}
        for j, _, _ in hits:
            counts[j] = counts.get(j, 0) + 1
        scores = np.zeros(len(norm))
        for j, start, end in hits:
            if j in value and end > start:
                scores[start:end] += value[j] / counts[j] / (end - start)
        return norm, scores

    def _word_hits(self, norm: str) -> list[tuple[int, int, int]]:
        """(feature, start, end) for each word n-gram of the vocabulary found in the text."""
        vocab = self.word_.vocabulary_
        tokens = [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(norm)]
        lo, hi = self.word_ngrams
        hits = []
        for n in range(lo, hi + 1):
            for i in range(len(tokens) - n + 1):
                j = vocab.get(" ".join(t for t, _, _ in tokens[i : i + n]))
                if j is not None:
                    hits.append((j, tokens[i][1], tokens[i + n - 1][2]))
        return hits

    def _char_hits(self, norm: str) -> list[tuple[int, int, int]]:
        """(feature, start, end) for each char_wb n-gram, as sklearn enumerates them."""
        vocab = self.char_.vocabulary_
        offset = len(self.word_.vocabulary_)
        lo, hi = self.char_ngrams
        hits = []
        for m in _NONSPACE.finditer(norm):
            padded = f" {m.group(0)} "
            for n in range(lo, hi + 1):
                last = max(len(padded) - n, 0)
                for k in range(last + 1):
                    j = vocab.get(padded[k : k + n])
                    if j is not None:
                        # Padding spaces sit outside the word: clip to its characters.
                        start = max(m.start() + k - 1, m.start())
                        hits.append((offset + j, start, min(m.start() + k - 1 + n, m.end())))
                if last == 0:
                    break
        return hits
