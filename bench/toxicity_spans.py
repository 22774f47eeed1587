"""Do steward's spans point at the right words? Character-level span F1 (SemEval-2021 Task 5).

Two corpora mark what makes a post toxic: toxic_spans_civil (news-site comments with character
offsets; its trial file, 690 posts, is the held-out part, the train file trains) and HateXplain
(token rationales of Gab and Twitter posts, rebuilt as text by joining the tokens with spaces;
a seeded 20% of its toxic posts is held out). Per post F1 between predicted and gold character
sets (1 when both are empty, 0 when only one is), averaged over posts: the task's metric.

Side by side, on the same held-out posts:
- steward's current spans (`ToxicityScorer.explain` with the linear model trained on the
  default corpora: coefficient attribution, 1-3 runs of pushing words);
- every word the linear model pushes up (the same attribution without the 1-3 cut);
- the span tagger (models/toxicity/span_tagger.py) trained on the training parts of both span
  corpora, its word threshold chosen on a validation slice of those training parts;
- whole post and a profanity word list, as floors.

Run: `python -m bench.toxicity_spans` (about 3-5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from features.text.normalize import PROFANITY
from features.text.span_corpora import read_hatexplain_rationales, read_toxic_spans
from models.toxicity.scoring import ToxicityScorer
from models.toxicity.span_tagger import mean_span_f1, post_words, train_span_tagger

SEED = 13
TARGET = 0.60
BEST_SEMEVAL = 0.708  # the task's best system, on its own test set


mean_f1 = mean_span_f1


def current_spans(scorer: object, texts: Sequence[str]) -> list[set[int]]:
    """What steward returns today: `explain` for toxicity, as English."""
    out = []
    for text in texts:
        spans = scorer.explain(text, "en", "toxicity")  # type: ignore[attr-defined]
        out.append({i for s in spans for i in range(s.begin, s.end)})
    return out


def pushing_words(linear: object, texts: Sequence[str], min_push: float = 0.3) -> list[set[int]]:
    """Every word whose log-odds push for toxicity is at least `min_push`."""
    out = []
    for text in texts:
        norm, scores = linear.char_contributions(text, "toxicity")  # type: ignore[attr-defined]
        from models.toxicity.spans import align, text_units

        begins, ends = align(text, norm)
        chars: set[int] = set()
        for s, e in text_units(norm):
            if scores[s:e].sum() >= min_push:
                chars.update(range(begins[s], ends[e - 1]))
        out.append(chars)
    return out


def word_list_spans(texts: Sequence[str]) -> list[set[int]]:
    """Characters of words on steward's profanity list."""
    words = set(PROFANITY)
    return [
        {i for w in post_words(t) if w.norm in words for i in range(w.begin, w.end)} for t in texts
    ]


def train_linear(console: Console) -> ToxicityScorer:
    """steward's default linear toxicity model, trained on the default corpora's train split."""
    from models.toxicity.config import ToxicityConfig
    from models.toxicity.training import fit_linear
    from pipelines.toxicity.train import load_training_frame

    config = ToxicityConfig()
    started = time.perf_counter()
    frame = load_training_frame(config.data)
    linear = fit_linear(frame[frame["split"] == "train"], config)
    console.print(f"linear model trained in {time.perf_counter() - started:.0f} s")
    return ToxicityScorer(linear, {}, "bench")


def run(console: Console, max_train: int | None = None) -> dict[str, dict[str, float]]:
    """Every method's mean span F1 on both held-out parts; prints the table."""
    spans = read_toxic_spans()
    hatexplain = read_hatexplain_rationales()
    spans_train, spans_test = spans[spans["part"] == "train"], spans[spans["part"] == "test"]
    hx_train, hx_test = (
        hatexplain[hatexplain["part"] == "train"],
        hatexplain[hatexplain["part"] == "test"],
    )
    console.print(
        f"toxic_spans_civil: train {len(spans_train):,}, held out (trial) {len(spans_test):,}; "
        f"HateXplain toxic posts: train {len(hx_train):,}, held out {len(hx_test):,}"
    )
    scorer = train_linear(console)
    linear = scorer.linear

    def push(text: str) -> tuple[str, np.ndarray]:
        return linear.char_contributions(text, "toxicity")  # type: ignore[no-any-return]

    train = pd.concat([spans_train, hx_train], ignore_index=True)
    if max_train is not None:
        train = train.sample(min(max_train, len(train)), random_state=SEED)
    started = time.perf_counter()
    tagger, report = train_span_tagger(train["text"].tolist(), train["gold"].tolist(), push)
    console.print(
        f"span tagger: trained on {report['posts']:,.0f} posts, word threshold "
        f"{report['threshold']} chosen on {report['valid_posts']:,.0f} validation posts of the "
        f"training parts (F1 {report['valid_f1']:.3f}), {time.perf_counter() - started:.0f} s"
    )
    with_tagger = ToxicityScorer(linear, {}, "bench", span_tagger=tagger)
    results: dict[str, dict[str, float]] = {}
    for name, test in (("toxic_spans_civil (trial)", spans_test), ("HateXplain", hx_test)):
        texts, golds = test["text"].tolist(), test["gold"].tolist()
        methods = {
            "steward before (explain, linear)": current_spans(scorer, texts),
            "every pushing word (linear)": pushing_words(linear, texts),
            "span tagger alone": tagger.predict_chars(texts, push),
            "steward now (explain: tagger, else linear)": current_spans(with_tagger, texts),
            "profanity word list": word_list_spans(texts),
            "whole post": [set(range(len(t))) for t in texts],
        }
        results[name] = {m: mean_f1(p, golds) for m, p in methods.items()}
    table = Table(title=f"span F1 on held-out posts (target {TARGET}; SemEval best {BEST_SEMEVAL})")
    table.add_column("method")
    for name in results:
        table.add_column(name, justify="right")
    for method in next(iter(results.values())):
        table.add_row(method, *(f"{results[n][method]:.3f}" for n in results))
    console.print(table)
    return results


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-train", type=int, default=None, help="cap span training posts")
    args = parser.parse_args()
    run(Console(), args.max_train)


if __name__ == "__main__":
    main()
