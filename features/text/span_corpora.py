"""Readers of the corpora that mark which characters make a post toxic.

toxic_spans_civil (SemEval-2021 Task 5: Civil Comments news-site comments, character offsets)
and HateXplain's token rationales (Gab and Twitter; the tokens, lower-cased with <user> and
<number> placeholders, are joined with spaces into the text, and the characters of tokens
marked toxic are the gold). Each reader returns a frame with `text` and `gold` (a set of
character offsets) and a `part`: "train" or "test", the held-out part that is never trained on.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from features.text.corpora import shared_data_dir

TOXIC_SPANS = "toxic_spans_civil"
HATEXPLAIN = "hatexplain_en"


def span_corpora_available() -> bool:
    """Whether both span corpora are present in the shared data folder."""
    data = shared_data_dir()
    return (data / TOXIC_SPANS).is_dir() and (data / HATEXPLAIN).is_dir()


def read_toxic_spans(folder: Path | None = None) -> pd.DataFrame:
    """Civil Comments posts with gold offsets: the train file trains, the trial file (690
    posts, the task's own held-out set before its test set) is the test part."""
    folder = folder or shared_data_dir() / TOXIC_SPANS
    parts = []
    for name, part in (("tsd_train.csv", "train"), ("tsd_trial.csv", "test")):
        raw = pd.read_csv(folder / name)
        gold = [set(ast.literal_eval(s)) for s in raw["spans"]]
        parts.append(pd.DataFrame({"text": raw["text"].astype(str), "gold": gold, "part": part}))
    return pd.concat(parts, ignore_index=True)


def read_hatexplain_rationales(
    folder: Path | None = None, seed: int = 13, test_fraction: float = 0.2
) -> pd.DataFrame:
    """HateXplain's toxic posts (hatespeech or offensive) with their rationale characters; a
    seeded `test_fraction` is the test part."""
    folder = folder or shared_data_dir() / HATEXPLAIN
    raw = pd.read_csv(folder / "train.csv")
    raw = raw[raw["post_label"] != "normal"]
    texts, golds = [], []
    for tokens_s, marks_s in zip(raw["post_tokens"], raw["toxic_tokens"], strict=True):
        tokens, marks = ast.literal_eval(tokens_s), ast.literal_eval(marks_s)
        gold: set[int] = set()
        at = 0
        for token, mark in zip(tokens, marks, strict=True):
            if mark:
                gold.update(range(at, at + len(token)))
            at += len(token) + 1
        texts.append(" ".join(tokens))
        golds.append(gold)
    test = np.random.default_rng(seed).random(len(texts)) < test_fraction
    return pd.DataFrame({"text": texts, "gold": golds, "part": np.where(test, "test", "train")})
