"""Fitting a toxicity scorer on a split corpus: the linear model, optionally MiniLM, thresholds."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.text.identity_terms import training_terms
from models.toxicity.config import LinearConfig, ThresholdConfig, ToxicityConfig
from models.toxicity.linear import LinearToxicity
from models.toxicity.scoring import EnglishRoute, ToxicityScorer, routed_language
from models.toxicity.thresholds import Thresholds, fit_threshold_table

Log = Callable[[str], None]


@dataclass
class FitReport:
    """The fitted scorer and what was decided on the way (backend, English route)."""

    scorer: ToxicityScorer
    seconds: dict[str, float] = field(default_factory=dict)
    backends: list[dict[str, Any]] = field(default_factory=list)
    route_scores: dict[str, float] = field(default_factory=dict)
    transformer_history: dict[str, float] = field(default_factory=dict)
    span_tagger: dict[str, float] = field(default_factory=dict)

    def incomplete(self) -> str | None:
        """Why training stopped before its planned steps, or None when it ran them all."""
        h = self.transformer_history
        if not h or h.get("complete", 1.0) == 1.0:
            return None
        return (
            f"transformer stopped by time_limit_minutes after {h['steps']:.0f} of "
            f"{h['planned_steps']:.0f} steps"
        )


def fit_linear(train: pd.DataFrame, config: ToxicityConfig) -> LinearToxicity:
    """The TF-IDF + logistic regression model on the training rows (not the corpora only the
    transformer trains on)."""
    train = train[~train["source"].isin(config.data.transformer_only)]
    lc = config.linear
    model = linear_model(lc, tuple(config.labels), config.data.min_positives)
    weight = training_weights(train, config.data.community_weight, lc.balance_sources)
    return model.fit(
        train["text"].tolist(), train[config.labels], train["lang"].tolist(), sample_weight=weight
    )


def linear_model(
    lc: LinearConfig, labels: tuple[str, ...], min_positives: int = 20
) -> LinearToxicity:
    """An unfitted linear model with the settings of a config's `linear` section."""
    return LinearToxicity(
        labels=labels,
        word_ngrams=lc.word_ngrams,
        char_ngrams=lc.char_ngrams,
        min_df=lc.min_df,
        max_word_features=lc.max_word_features,
        max_char_features=lc.max_char_features,
        C=lc.C,
        max_iter=lc.max_iter,
        min_positives=min_positives,
        neutral_terms=training_terms() if lc.neutral_identity_terms else (),
    )


COMMUNITY_SOURCES = ("community", "lake")


def training_weights(
    train: pd.DataFrame, community_weight: float = 1.0, balance_sources: bool = False
) -> np.ndarray | None:
    """Row weights: (corpus, toxicity) cells balanced if asked, then each of a community's own
    decisions counting `community_weight` times an average row (None: every row 1)."""
    if community_weight == 1.0 and not balance_sources:
        return None
    weight = np.ones(len(train))
    if balance_sources:
        cell = train["source"].astype(str) + "|" + train["toxicity"].astype(str)
        weight = 1.0 / cell.map(cell.value_counts()).to_numpy(dtype=float)
        weight *= len(train) / weight.sum()
        # A community's decisions are not balanced away: they weigh as rows, then as below.
        weight[train["source"].isin(COMMUNITY_SOURCES).to_numpy()] = 1.0
    community = train["source"].isin(COMMUNITY_SOURCES).to_numpy()
    weight[community] *= community_weight
    return weight


def balanced_sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most `n` rows, shared as equally as the sources' sizes allow."""
    sizes = frame["source"].value_counts().sort_values()
    quota, left = {}, n
    for i, (source, size) in enumerate(sizes.items()):
        quota[source] = min(int(size), left // (len(sizes) - i))
        left -= quota[source]
    parts = [
        frame[frame["source"] == s].sample(q, random_state=seed) for s, q in quota.items() if q
    ]
    return pd.concat(parts) if parts else frame.iloc[:0]


def fit_scorer(
    frame: pd.DataFrame, config: ToxicityConfig, version: str, workdir: Path, log: Log
) -> FitReport:
    """Train the configured models on the train split (thresholds are set afterwards)."""
    train = frame[frame["split"] == "train"]
    started = time.perf_counter()
    linear = fit_linear(train, config)
    report = FitReport(ToxicityScorer(linear, {}, version))
    report.seconds["linear"] = time.perf_counter() - started
    log(f"linear model: {linear.coef_.shape[1]:,} features, labels {linear.label_languages_}")
    if config.spans.train:
        _add_span_tagger(report, config, log)
    if config.model == "minilm":
        _add_transformer(report, frame, config, workdir, log)
    return report


def _add_span_tagger(report: FitReport, config: ToxicityConfig, log: Log) -> None:
    """Train the span tagger on the span corpora's training parts (their test parts are for
    `python -m bench.toxicity_spans`), with the linear model's push as a feature."""
    from features.text.span_corpora import (
        read_hatexplain_rationales,
        read_toxic_spans,
        span_corpora_available,
    )
    from models.toxicity.span_tagger import train_span_tagger

    scorer = report.scorer
    push = scorer.span_push()
    if not span_corpora_available() or push is None:
        log("span tagger: no span corpora in ../shared/data (or no English toxicity): skipped")
        return
    sc = config.spans
    started = time.perf_counter()
    train = pd.concat([read_toxic_spans(), read_hatexplain_rationales(seed=sc.seed)])
    train = train[train["part"] == "train"]
    if sc.max_posts is not None and len(train) > sc.max_posts:
        train = train.sample(sc.max_posts, random_state=sc.seed)
    tagger, fitted = train_span_tagger(
        train["text"].tolist(), train["gold"].tolist(), push, sc.C, seed=sc.seed
    )
    scorer.span_tagger = tagger
    report.span_tagger = fitted
    report.seconds["span_tagger"] = time.perf_counter() - started
    log(
        f"span tagger: {fitted['posts']:,.0f} posts, threshold {fitted['threshold']}, "
        f"validation span F1 {fitted['valid_f1']:.3f}"
    )


def _add_transformer(
    report: FitReport, frame: pd.DataFrame, config: ToxicityConfig, workdir: Path, log: Log
) -> None:
    """Fine-tune MiniLM on English, export the faster backend, pick the English route."""
    from models.toxicity.export import choose_backend
    from models.toxicity.transformer import fit_transformer

    tc = config.transformer
    english = frame[frame["lang"] == "en"]
    train = balanced_sample(english[english["split"] == "train"], tc.max_train_examples, tc.seed)
    valid = balanced_sample(english[english["split"] == "valid"], tc.max_valid_examples, tc.seed)
    started = time.perf_counter()
    fit = fit_transformer(
        train["text"].tolist(),
        train[config.labels],
        train["lang"].tolist(),
        tc,
        config.data.min_positives,
        log,
    )
    report.transformer_history = fit.history
    report.seconds["transformer"] = time.perf_counter() - started
    known = valid["toxicity"].notna()
    calibration = train["text"].sample(
        min(tc.calibration_examples, len(train)), random_state=tc.seed
    )
    backend, backends = choose_backend(
        fit,
        valid.loc[known, "text"].tolist(),
        valid.loc[known, "toxicity"].to_numpy().astype(int),
        workdir / "transformer",
        tc.serving_threads,
        tc.auc_tolerance,
        tc.max_batch_drift,
        tc.backend,
        calibration.tolist(),
    )
    report.backends = [b.to_dict() for b in backends]
    log(f"serving backend: {backend.kind} ({', '.join(_describe(b) for b in report.backends)})")
    scorer = report.scorer
    scorer.transformer = backend
    scorer.transformer_weight = tc.ensemble_weight
    scorer.labels = ToxicityScorer(scorer.linear, {}, "", backend, "transformer").labels
    route, report.route_scores = choose_route(scorer, valid, tc.english_route)
    scorer.english_route = route
    log(f"English route: {route} {report.route_scores}")


def _describe(backend: dict[str, Any]) -> str:
    return (
        f"{backend['backend']} AUC {backend['roc_auc']:.4f} {backend['texts_per_s']:.0f}/s "
        f"drift {backend['batch_drift']:.3f}"
    )


def choose_route(
    scorer: ToxicityScorer, valid: pd.DataFrame, wanted: str
) -> tuple[EnglishRoute, dict[str, float]]:
    """Transformer alone or averaged with the linear model, whichever loses least to the
    linear model on its worst English source (ties: the better mean ROC-AUC per source).

    The worst source decides, not the mean: a transformer far better on forum posts but
    worse on tweets would otherwise be served to communities that write like tweets.
    """
    valid = valid[valid["toxicity"].notna()]
    texts = valid["text"].tolist()
    lin = scorer.linear.predict_proba(texts)
    tr = scorer.transformer.predict_proba(texts)
    j = scorer.labels.index("toxicity")
    per_source = {
        route: source_aucs(valid, scorer.combine(lin, tr, ["en"] * len(texts), route)[:, j])
        for route in ("linear", "transformer", "ensemble")
    }
    scores: dict[str, float] = {}
    for route, aucs in per_source.items():
        scores[route] = _mean(aucs)
        gains = [auc - per_source["linear"][s] for s, auc in aucs.items()]
        scores[f"{route}.worst_gain"] = min(gains) if gains else float("nan")
    if wanted in ("transformer", "ensemble"):
        return wanted, scores  # type: ignore[return-value]
    best = max(("transformer", "ensemble"), key=lambda r: (scores[f"{r}.worst_gain"], scores[r]))
    return best, scores  # type: ignore[return-value]


def source_aucs(frame: pd.DataFrame, p: np.ndarray, label: str = "toxicity") -> dict[str, float]:
    """ROC-AUC of one label per source, for sources with both classes present."""
    aucs = {}
    y_all = frame[label].to_numpy()
    for source in frame["source"].unique():
        rows = (frame["source"] == source).to_numpy() & ~np.isnan(y_all) & ~np.isnan(p)
        y = y_all[rows]
        if 0 < y.sum() < len(y):
            aucs[str(source)] = float(roc_auc_score(y, p[rows]))
    return aucs


def mean_source_auc(frame: pd.DataFrame, p: np.ndarray, label: str = "toxicity") -> float:
    """ROC-AUC of one label averaged over sources (each source counts once)."""
    return _mean(source_aucs(frame, p, label))


def _mean(aucs: dict[str, float]) -> float:
    """The mean of per-source ROC-AUCs; NaN when no source could be scored."""
    return float(np.mean(list(aucs.values()))) if aucs else float("nan")


def set_thresholds(
    scorer: ToxicityScorer, valid: pd.DataFrame, probs: np.ndarray, config: ThresholdConfig
) -> None:
    """Choose review/block thresholds per label and language on validation probabilities."""
    p = pd.DataFrame(probs, columns=scorer.labels, index=valid.index)
    routed = [routed_language(lg) for lg in valid["lang"]]
    scorer.thresholds = fit_threshold_table(
        valid[scorer.labels],
        p,
        routed,
        valid["source"].tolist(),
        config.block_precision,
        config.review_recall,
        config.min_positives,
        config.prevalence,
    )
    scorer.review_labels = list(config.review_labels)
    for lang, fixed in config.fixed.items():
        scorer.thresholds.setdefault("toxicity", {})[lang] = Thresholds(fixed.review, fixed.block)
