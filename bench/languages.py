"""Language detection: accuracy and speed of steward's detector on texts of known language.

English: posts from five public corpora (Davidson tweets, forum sentences, Jigsaw, the toxic
spans news comments, HateXplain); Chinese: COLD and SWSR Weibo comments; French, Spanish,
German and a few others: sentences written for this (bench/language_samples.py). Side by
side: the detector steward used before (script counting: Latin is English) and the new one.

Run: `python -m bench.languages [--per-source 200]` (under a minute).
"""

from __future__ import annotations

import argparse
import ast
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from bench.language_samples import WRITTEN
from features.text.corpora import shared_data_dir

SEED = 13


def known_texts(per_source: int) -> pd.DataFrame:
    """Texts with their true language and where they came from."""
    from features.text.corpora import load_corpus

    data = shared_data_dir()
    rows: list[tuple[str, str, str]] = []

    def add(source: str, lang: str, texts: Sequence[str]) -> None:
        texts = [t for t in texts if isinstance(t, str) and t.strip()]
        rng = np.random.default_rng(SEED)
        picked = rng.choice(len(texts), size=min(per_source, len(texts)), replace=False)
        rows.extend((source, lang, texts[i]) for i in picked)

    for name in ("davidson", "stormfront", "jigsaw"):
        frame = load_corpus(name)
        add(name, "en", frame["text"].tolist())
    cold = load_corpus("cold")
    add("cold", "zh", cold["text"].tolist())
    add("toxic_spans", "en", pd.read_csv(data / "toxic_spans_civil" / "tsd_trial.csv")["text"])
    hx = pd.read_csv(data / "hatexplain_en" / "train.csv")["post_tokens"]
    add("hatexplain", "en", [" ".join(ast.literal_eval(t)) for t in hx.head(3000)])
    swsr = pd.read_csv(data / "swsr_chinese_sexism" / "SexComment.csv")
    add("swsr", "zh", swsr["comment_text"].tolist())
    for lang, sentences in WRITTEN.items():
        rows.extend(("written", lang, s) for s in sentences)
    return pd.DataFrame(rows, columns=["source", "lang", "text"])


def _old_detector(text: str) -> str:
    """steward's detector before issue 19: Han counts for Chinese, any Latin text is English."""
    import re
    import unicodedata

    if text.isascii():
        return "en"
    text = unicodedata.normalize("NFKC", text)
    han = len(re.findall(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]", text))
    latin = len(re.findall(r"[a-zA-Z\u00c0-\u024f]+", text))
    if han and han >= latin:
        return "zh"
    return "en" if latin else "other"


def measure(detect: Callable[[str], str], frame: pd.DataFrame) -> tuple[pd.Series, float]:
    """Detected language per row, and texts per second."""
    texts = frame["text"].tolist()
    detect(texts[0])  # warm-up: the model loads once
    started = time.perf_counter()
    found = [detect(t) for t in texts]
    return pd.Series(found, index=frame.index), len(texts) / (time.perf_counter() - started)


def run(console: Console, per_source: int) -> pd.DataFrame:
    """Accuracy per source and language, and speed, for the old and the new detector."""
    from features.text.normalize import detect_language

    frame = known_texts(per_source)
    old, old_speed = measure(_old_detector, frame)
    new, new_speed = measure(detect_language, frame)
    frame = frame.assign(old=old, new=new)
    table = Table(title="language detection: share of texts given their true language")
    for column in ("source", "language", "texts", "before (script)", "steward (py3langid)"):
        table.add_column(column, justify="left" if column in ("source", "language") else "right")
    groups = frame.groupby(["source", "lang"], sort=False)
    for (source, lang), g in groups:
        table.add_row(
            str(source),
            str(lang),
            str(len(g)),
            f"{(g['old'] == g['lang']).mean():.3f}",
            f"{(g['new'] == g['lang']).mean():.3f}",
        )
    table.add_row(
        "speed",
        "",
        "",
        f"{old_speed:,.0f} texts/s",
        f"{new_speed:,.0f} texts/s",
    )
    console.print(table)
    wrong = frame[frame["new"] != frame["lang"]]
    for row in wrong.head(15).itertuples():
        console.print(f"  {row.source}/{row.lang} -> {row.new}: {row.text[:80]!r}")
    return frame


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-source", type=int, default=200)
    args = parser.parse_args()
    run(Console(width=140), args.per_source)


if __name__ == "__main__":
    main()
