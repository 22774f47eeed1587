"""Scoring posts: the one function behind batch scoring, the MLflow pyfunc and the server.

A scorer holds the linear model (every language), optionally the MiniLM transformer
(English), the thresholds and the model version. Chinese goes to the linear model; English
to the transformer, the linear model or their average, as chosen on validation data.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import pandas as pd

from features.schemas import MODERATION_LABELS
from features.text.normalize import SCORED_LANGUAGES, detect_language, normalize_text
from models.toxicity.linear import LinearToxicity
from models.toxicity.spans import Span, occlusion_char_scores, spans_from_char_scores
from models.toxicity.thresholds import (
    ACTIONS,
    Thresholds,
    lookup,
    table_from_dict,
    table_to_dict,
)

META_FILE = "toxicity.json"
LINEAR_FILE = "linear.joblib"
SPANS_FILE = "spans.joblib"
TRANSFORMER_DIR = "transformer"
SpanMode = Literal["all", "flagged", "none"]
# Smallest push worth showing as a reason: log-odds for the linear model, probability for
# leave-one-word-out.
MIN_LINEAR_SPAN = 0.3
MIN_OCCLUSION_SPAN = 0.02
EnglishRoute = Literal["linear", "transformer", "ensemble"]


@dataclass(frozen=True)
class PostScore:
    """What a moderation tool needs about one post."""

    probabilities: dict[str, float | None]  # None: the model has no such label in this language
    action: str
    lang: str
    label: str  # the label behind the action (toxicity when nothing is flagged)
    spans: list[Span] = field(default_factory=list)
    model_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "probabilities": self.probabilities,
            "action": self.action,
            "lang": self.lang,
            "label": self.label,
            "spans": [s.to_dict() for s in self.spans],
            "model_version": self.model_version,
        }


def canonical_language(lang: object, text: str) -> str:
    """The language code of a given tag (zh-CN -> zh, en_US -> en, fr -> fr), detected when
    absent."""
    if isinstance(lang, str) and lang.strip():
        return lang.strip().lower().replace("_", "-").split("-")[0]
    return detect_language(text)


def routed_language(lang: str) -> str:
    """The language whose models and thresholds score a post: Chinese, else English."""
    return "zh" if lang == "zh" else "en"


def is_scored(lang: str) -> bool:
    """Whether steward's models score this language (English and Chinese)."""
    return lang in SCORED_LANGUAGES


class ToxicityScorer:
    """Probabilities, actions and spans for raw posts from saved models and thresholds."""

    def __init__(
        self,
        linear: LinearToxicity,
        thresholds: dict[str, dict[str, Thresholds]],
        version: str,
        transformer: Any = None,
        english_route: EnglishRoute = "linear",
        review_labels: Sequence[str] = ("toxicity",),
        unsupported_action: str = "review",
        span_tagger: Any = None,
        transformer_weight: float = 0.5,
    ) -> None:
        if english_route != "linear" and transformer is None:
            raise ValueError(f"english_route {english_route!r} needs a transformer")
        self.linear = linear
        self.thresholds = thresholds
        self.version = version
        self.transformer = transformer
        self.english_route: EnglishRoute = english_route
        # The transformer's share of the English average on the ensemble route.
        self.transformer_weight = transformer_weight
        self.review_labels = list(review_labels)
        # What a post in a language no model scores gets: a person reads it (the server's
        # unsupported_language_action setting can change it).
        self.unsupported_action = unsupported_action
        # Learned from annotated toxic spans (models/toxicity/span_tagger.py): when present it
        # gives English toxicity spans, which point at the words people mark far more often.
        self.span_tagger = span_tagger
        known = set(linear.labels_) | set(transformer.labels if transformer else [])
        self.labels = [lb for lb in MODERATION_LABELS if lb in known]

    @property
    def kind(self) -> str:
        """'linear' or 'minilm'."""
        return "linear" if self.transformer is None else "minilm"

    def predict_proba(
        self, texts: Sequence[str], langs: Sequence[object] | None = None
    ) -> tuple[np.ndarray, list[str]]:
        """Probability per text and label (NaN where unsupported, and for every label of a
        language no model scores) and each text's language."""
        texts = ["" if not isinstance(t, str) else t for t in texts]
        given = list(langs) if langs is not None else [None] * len(texts)
        lang = [canonical_language(g, t) for g, t in zip(given, texts, strict=True)]
        scored = [i for i, lg in enumerate(lang) if is_scored(lg)]
        out = np.full((len(texts), len(self.labels)), np.nan)
        if scored:
            out[scored] = self._probs([texts[i] for i in scored], [lang[i] for i in scored])
        return out, lang

    def _probs(self, texts: list[str], routed: list[str]) -> np.ndarray:
        """The matrix of probabilities for texts already routed to 'en' or 'zh'."""
        if not texts:
            return np.full((0, len(self.labels)), np.nan)
        lin, tr = self.component_probs(texts, routed, self.english_route != "linear")
        return self.combine(lin, tr, routed, self.english_route)

    def component_probs(
        self, texts: list[str], routed: Sequence[str], with_transformer: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Linear scores of every text, and transformer scores of the English ones (in order)."""
        lin = self.linear.predict_proba(texts)
        english = [t for t, r in zip(texts, routed, strict=True) if r == "en"]
        tr = None
        if self.transformer is not None and with_transformer and english:
            tr = self.transformer.predict_proba(english)
        return lin, tr

    def combine(
        self, lin: np.ndarray, tr: np.ndarray | None, routed: Sequence[str], route: EnglishRoute
    ) -> np.ndarray:
        """Per-label probabilities from the linear scores of all rows and the transformer's
        scores of the English rows (in order), following `route` for English; the ensemble
        weighs the transformer `transformer_weight` and the linear model the rest."""
        route_of = np.asarray(routed)
        out = np.full((len(route_of), len(self.labels)), np.nan)
        english = np.flatnonzero(route_of == "en")
        for j, label in enumerate(self.labels):
            for lang in ("en", "zh"):
                rows = np.flatnonzero(route_of == lang)
                parts, weights = [], []
                if self._linear_has(label, lang):
                    parts.append(lin[rows, self.linear.labels_.index(label)])
                    weights.append(1.0 - self.transformer_weight)
                use_tr = lang == "en" and route != "linear" and len(english) > 0
                if tr is not None and use_tr and self._transformer_has(label):
                    parts, weights = (parts, weights) if route == "ensemble" else ([], [])
                    parts.append(tr[:, self.transformer.labels.index(label)])
                    weights.append(self.transformer_weight)
                if parts and len(rows):
                    # A label only one model has is that model's alone, whatever the weight.
                    w = weights if len(parts) > 1 else None
                    out[rows, j] = np.average(parts, axis=0, weights=w)
        return out

    def _linear_has(self, label: str, lang: str) -> bool:
        return lang in self.linear.label_languages_.get(label, [])

    def _transformer_has(self, label: str) -> bool:
        return "en" in self.transformer.label_languages.get(label, [])

    def score(
        self,
        texts: Sequence[str],
        langs: Sequence[object] | None = None,
        spans: SpanMode = "flagged",
    ) -> list[PostScore]:
        """Scores, actions, languages and (per `spans`) the spans behind them, per post."""
        probs, lang = self.predict_proba(texts, langs)
        out = []
        for i, text in enumerate(texts):
            if not is_scored(lang[i]):
                none: dict[str, float | None] = dict.fromkeys(self.labels)
                out.append(
                    PostScore(none, self.unsupported_action, lang[i], "toxicity", [], self.version)
                )
                continue
            action, label = self._decide(probs[i], routed_language(lang[i]))
            explain = spans == "all" or (spans == "flagged" and action != "allow")
            found = self.explain(text, lang[i], label) if explain and isinstance(text, str) else []
            shown = {
                lb: None if np.isnan(p) else float(p)
                for lb, p in zip(self.labels, probs[i], strict=True)
            }
            out.append(PostScore(shown, action, lang[i], label, found, self.version))
        return out

    def _decide(self, probs: np.ndarray, routed: str) -> tuple[str, str]:
        """The most severe action over labels, and the label behind it."""
        best = (0, -1.0, "toxicity")
        for label, p in zip(self.labels, probs, strict=True):
            limits = lookup(self.thresholds, label, routed)
            if limits is None or np.isnan(p):
                continue
            action = limits.action(float(p))
            if action == "review" and label not in self.review_labels:
                action = "allow"
            severity = ACTIONS.index(action)
            if (severity, p) > best[:2] and (severity > 0 or label == "toxicity"):
                best = (severity, float(p), label)
        return ACTIONS[best[0]], best[2]

    def explain(self, text: str, lang: str, label: str = "toxicity") -> list[Span]:
        """The 1-3 spans that pushed `label` up: the span tagger's (English toxicity), else
        coefficients (linear), else leave-one-word-out (a route without a linear label)."""
        if not is_scored(lang):
            return []
        routed = routed_language(lang)
        tagged = self.span_tagger is not None and routed == "en" and label == "toxicity"
        if tagged:
            found: list[Span] = self.span_tagger.spans(text, self.span_push())
            if found:
                return found
        # With a tagger, its fallback is the linear model's words (what bench.toxicity_spans
        # measures). Leave-one-word-out through MiniLM instead scored 0.003 / 0.001 more span
        # F1 on the held-out posts at 2.3-4.4x the time a post, and made the MiniLM route's p99 for
        # spans of flagged posts 296 ms at concurrency 8 (2026-12-06).
        uses_transformer = (
            not (tagged and self._linear_has(label, routed))
            and routed == "en"
            and self.english_route != "linear"
            and self.transformer is not None
            and self._transformer_has(label)
        )
        if uses_transformer:
            norm = normalize_text(text)
            j = self.labels.index(label)
            scores = occlusion_char_scores(
                norm, lambda v: self._probs(list(v), ["en"] * len(v))[:, j]
            )
            return spans_from_char_scores(text, norm, scores, min_score=MIN_OCCLUSION_SPAN)
        if not self._linear_has(label, routed):
            return []
        norm, scores = self.linear.char_contributions(text, label)
        return spans_from_char_scores(text, norm, scores, min_score=MIN_LINEAR_SPAN)

    def span_push(self) -> Any:
        """The linear model's per-character toxicity push, a feature of the span tagger."""
        if not self._linear_has("toxicity", "en"):
            return None
        return lambda text: self.linear.char_contributions(text, "toxicity")

    def score_frame(self, frame: pd.DataFrame, spans: SpanMode = "flagged") -> pd.DataFrame:
        """Score a frame with a `text` column (and optional `lang`): one row out per row in."""
        if "text" not in frame.columns:
            raise ValueError(f"expected a 'text' column; got {list(frame.columns)}")
        langs = frame["lang"].tolist() if "lang" in frame.columns else None
        scored = self.score(frame["text"].tolist(), langs, spans)
        out = pd.DataFrame(
            {lb: [s.probabilities[lb] for s in scored] for lb in self.labels}, dtype=float
        )
        out.insert(0, "lang", [s.lang for s in scored])
        out.insert(1, "action", [s.action for s in scored])
        out.insert(2, "label", [s.label for s in scored])
        spans_out = [[sp.to_dict() for sp in s.spans] for s in scored]
        out["spans"] = pd.Series(spans_out, index=out.index, dtype=object)
        out["model_version"] = self.version
        out.index = frame.index
        return out

    def save(self, folder: Path) -> Path:
        """Write everything serving needs into one folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.linear, folder / LINEAR_FILE, compress=3)
        if self.span_tagger is not None:
            joblib.dump(self.span_tagger, folder / SPANS_FILE, compress=3)
        if self.transformer is not None:
            shutil.copytree(self.transformer.folder, folder / TRANSFORMER_DIR, dirs_exist_ok=True)
        meta = {
            "version": self.version,
            "kind": self.kind,
            "labels": self.labels,
            "english_route": self.english_route,
            "transformer_weight": self.transformer_weight,
            "review_labels": self.review_labels,
            "thresholds": table_to_dict(self.thresholds),
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False))
        return folder

    @classmethod
    def load(cls, folder: Path, threads: int | None = None) -> ToxicityScorer:
        """A scorer back from a folder written by `save`."""
        folder = Path(folder)
        if not (folder / META_FILE).is_file():
            raise ValueError(f"{folder} is not a saved toxicity model ({META_FILE} missing)")
        meta = json.loads((folder / META_FILE).read_text())
        transformer = None
        if (folder / TRANSFORMER_DIR).is_dir():
            from models.toxicity.backends import load_backend

            transformer = load_backend(folder / TRANSFORMER_DIR, threads)
        return cls(
            joblib.load(folder / LINEAR_FILE),
            table_from_dict(meta["thresholds"]),
            meta["version"],
            transformer,
            meta["english_route"],
            meta.get("review_labels", ["toxicity"]),
            span_tagger=(
                joblib.load(folder / SPANS_FILE) if (folder / SPANS_FILE).is_file() else None
            ),
            # Models saved before the weight was a setting averaged the two equally.
            transformer_weight=meta.get("transformer_weight", 0.5),
        )
