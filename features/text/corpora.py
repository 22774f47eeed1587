"""Labelled text for the toxicity models: public corpora and a community's own decisions.

Every loader returns one frame layout: `text`, `lang`, `source`, `group` (rows of one group
never straddle train and test), `split` ("train"/"test" where the corpus fixes it,
"train_only" for written examples that must not shape thresholds or metrics, else empty) and one float column per moderation label, NaN where the corpus does not label it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from features.schemas import MODERATION_LABELS
from features.text.normalize import detect_languages

CORPUS_COLUMNS: tuple[str, ...] = ("text", "lang", "source", "group", "split", *MODERATION_LABELS)
SPLITS: tuple[str, ...] = ("train", "valid", "test")
REAL_SOURCES: dict[str, str] = {
    "davidson": "davidson_hate_offensive",
    "stormfront": "stormfront_forum",
    "cold": "cold_chinese",
    "jigsaw": "jigsaw_ibm_max_sample",
    "hatexplain": "hatexplain_en",
    "jigsaw2018": "jigsaw2018_sample_2500",
    "swsr": "swsr_chinese_sexism",
    "civil_spans": "toxic_spans_civil",
    "hatexplain_rationales": "hatexplain_en",
}
# Written corpora made from another's posts: they take the split of the post they came from
# (so nothing made from a test post ever trains) and leave with it in leave-one-source-out.
DERIVED_FROM: dict[str, str] = {"hatexplain_rationales": "hatexplain"}
# Leave-one-source-out evaluation holds each of these out in turn, within its language.
LOSO_SOURCES: dict[str, tuple[str, ...]] = {
    "en": ("davidson", "stormfront", "hatexplain", "jigsaw2018"),
    "zh": ("cold", "swsr"),
}
# The "relation" sentences are hateful only read with the one before: not a label of the text.
_FORUM_KEEP = ("hate", "noHate")
_TRUE = frozenset({"1", "true", "yes", "y", "t", "toxic", "removed"})
_FALSE = frozenset({"0", "false", "no", "n", "f", "", "ok", "kept"})


def shared_data_dir() -> Path:
    """STEWARD_SHARED_DATA, or shared/data beside the project checkout."""
    if env := os.environ.get("STEWARD_SHARED_DATA"):
        return Path(env)
    beside_checkout = Path(__file__).resolve().parents[3] / "shared" / "data"
    return beside_checkout if beside_checkout.is_dir() else Path.cwd().parent / "shared" / "data"


def real_data_available(names: Iterable[str] = ("davidson", "stormfront", "cold")) -> bool:
    """Whether the folders of these public corpora are present."""
    return all((shared_data_dir() / REAL_SOURCES[n]).is_dir() for n in names)


def make_corpus(
    texts: Iterable[object],
    source: str,
    labels: Mapping[str, Iterable[object]],
    group: Iterable[object] | None = None,
    split: str | Iterable[str] = "",
    lang: Iterable[str] | None = None,
) -> pd.DataFrame:
    """A frame in the corpus layout; labels missing from `labels` are NaN."""
    text = pd.Series(list(texts), dtype=object).fillna("").astype(str)
    n = len(text)
    out = pd.DataFrame({"text": text})
    out["lang"] = list(lang) if lang is not None else detect_languages(out["text"])
    out["source"] = source
    out["group"] = [str(g) for g in group] if group is not None else [str(i) for i in range(n)]
    out["split"] = split if isinstance(split, str) else list(split)
    for label in MODERATION_LABELS:
        values = labels.get(label)
        out[label] = np.full(n, np.nan) if values is None else _binary(values, label)
    if "toxicity" not in labels:
        # Any labelled kind of abuse is toxic; rows with none of them labelled stay unknown.
        others = out[[lb for lb in MODERATION_LABELS if lb in labels]]
        out["toxicity"] = others.max(axis=1) if not others.empty else np.nan
    return out[list(CORPUS_COLUMNS)]


def _binary(values: Iterable[object], label: str) -> np.ndarray:
    """0/1 floats from booleans, numbers (>= 0.5 is positive) or yes/no words; NaN kept."""
    series = pd.Series(list(values), dtype=object)
    out = np.full(len(series), np.nan)
    for i, value in enumerate(series):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        if isinstance(value, bool | np.bool_):
            out[i] = float(value)
        elif isinstance(value, int | float | np.integer | np.floating):
            out[i] = float(value >= 0.5)
        elif str(value).strip().lower() in _TRUE:
            out[i] = 1.0
        elif str(value).strip().lower() in _FALSE:
            out[i] = 0.0
        else:
            raise ValueError(f"label {label!r}: cannot read {value!r} as yes/no or a number")
    return out


def read_table(
    path: Path, columns: Iterable[str] = (), text_columns: Iterable[str] = ()
) -> pd.DataFrame:
    """A CSV/Parquet/JSONL file, checked for the columns a loader needs; `text_columns` (ids)
    are read as written, never as numbers (so 007 stays 007)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} not found")
    suffixes = "".join(path.suffixes).lower()
    as_text = dict.fromkeys(text_columns, str)
    if suffixes.endswith(".parquet"):
        frame = pd.read_parquet(path)
    elif suffixes.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        frame = pd.read_json(path, lines=True, dtype=as_text or True)
    else:
        frame = pd.read_csv(path, encoding="utf-8-sig", dtype=as_text or None)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")
    return frame


def load_davidson(folder: Path) -> pd.DataFrame:
    """Davidson et al. tweets: hate and offensive are toxic; hate is an identity attack."""
    raw = read_table(Path(folder) / "labeled_data.csv", ["tweet", "class"])
    cls = raw["class"].astype(int)
    # "RT" marks a retweet on Twitter, nothing about the text: left in, the model learns it.
    text = raw["tweet"].astype(str).str.replace(r"\bRT\b", " ", regex=True)
    return make_corpus(text, "davidson", {"toxicity": cls <= 1, "identity_attack": cls == 0})


def load_stormfront(folder: Path) -> pd.DataFrame:
    """Forum sentences (de Gibert et al.): hate is toxic and an attack on a group."""
    path = Path(folder) / "stormfront_sentences.csv"
    raw = read_table(path, ["comment_id", "label", "text"])
    raw = raw[raw["label"].isin(_FORUM_KEEP)]
    hate = raw["label"] == "hate"
    labels = {"toxicity": hate, "identity_attack": hate}
    return make_corpus(raw["text"], "stormfront", labels, group=raw["comment_id"])


def load_cold(folder: Path) -> pd.DataFrame:
    """COLD (Chinese): train.csv for training, dev.csv held out as the test split."""
    parts = []
    for name, split in (("train.csv", "train"), ("dev.csv", "test"), ("test.csv", "test")):
        path = Path(folder) / name
        if not path.exists():
            continue
        raw = read_table(path, ["label", "TEXT"])
        labels: dict[str, Iterable[object]] = {"toxicity": raw["label"].astype(int) == 1}
        if "fine-grained-label" in raw.columns:
            # Only COLD's test file says who is attacked: 1 an individual, 2 a group.
            fine = raw["fine-grained-label"].astype(int)
            labels |= {"insult": fine == 1, "identity_attack": fine == 2}
        group = f"{name}:" + raw.iloc[:, 0].astype(str)
        parts.append(make_corpus(raw["TEXT"], "cold", labels, group=group, split=split))
    if not parts:
        raise ValueError(f"{folder}: no COLD train.csv or dev.csv")
    return pd.concat(parts, ignore_index=True)


def load_jigsaw(folder: Path) -> pd.DataFrame:
    """The Jigsaw 2018 sample: evaluation only (101 rows)."""
    cols = ["comment_text", "toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
    raw = read_table(Path(folder) / "test_examples.csv", cols)
    labels = {
        "toxicity": (raw["toxic"] + raw["severe_toxic"]) > 0,
        "identity_attack": raw["identity_hate"],
        "insult": raw["insult"],
        "obscene": raw["obscene"],
        "threat": raw["threat"],
    }
    return make_corpus(raw["comment_text"], "jigsaw", labels, split="test")


def load_hatexplain(folder: Path) -> pd.DataFrame:
    """HateXplain (Twitter and Gab) posts: label mapping, by the majority of three annotators,

    hatespeech -> toxicity 1, identity_attack 1; offensive -> toxicity 1, identity_attack 0
    (offensive but not aimed at a group); normal -> toxicity 0, identity_attack 0. Tokens are
    joined with spaces (they come lower-cased, with <user> and <number> placeholders).
    """
    import ast

    raw = read_table(Path(folder) / "train.csv", ["post_tokens", "post_label"])
    text = [" ".join(ast.literal_eval(tokens)) for tokens in raw["post_tokens"]]
    label = raw["post_label"].astype(str)
    unknown = sorted(set(label) - {"hatespeech", "offensive", "normal"})
    if unknown:
        raise ValueError(f"{folder}: unknown post_label value(s) {unknown}")
    labels = {"toxicity": label != "normal", "identity_attack": label == "hatespeech"}
    # No post ids: equal texts form one group, so a duplicate never straddles train and test.
    return make_corpus(text, "hatexplain", labels, group=text, lang=["en"] * len(text))


def load_hatexplain_rationales(folder: Path, min_words: int = 4) -> pd.DataFrame:
    """HateXplain's toxic posts with the words their annotators marked as the reason cut out.

    Label mapping: where a hatespeech or offensive post has rationale tokens (`toxic_tokens`,
    1 = marked) and at least `min_words` unmarked tokens, the unmarked tokens alone are taken as
    not toxic (toxicity 0), an assumption the leave-one-source-out figures test; the originals
    are the hatexplain corpus's own rows. Each row's group is its original post's text, so it
    takes that post's split (DERIVED_FROM): counterfactuals of valid and test posts never train.
    """
    import ast

    raw = read_table(Path(folder) / "train.csv", ["post_tokens", "toxic_tokens", "post_label"])
    texts, groups = [], []
    for tokens, marks, label in zip(
        raw["post_tokens"], raw["toxic_tokens"], raw["post_label"].astype(str), strict=True
    ):
        words, marked = ast.literal_eval(tokens), ast.literal_eval(str(marks))
        rest = [w for w, m in zip(words, marked, strict=False) if not m]
        if label != "normal" and any(marked) and len(rest) >= min_words:
            texts.append(" ".join(rest))
            groups.append(" ".join(words))
    return make_corpus(
        texts,
        "hatexplain_rationales",
        {"toxicity": [0.0] * len(texts)},
        group=groups,
        lang=["en"] * len(texts),
    )


def load_jigsaw2018(folder: Path) -> pd.DataFrame:
    """2,500 Wikipedia talk comments (Jigsaw 2018): Class OFF -> toxicity 1, NOT -> 0.

    Only the challenge's `toxic` label survives in this sample; the other labels stay NaN.
    """
    raw = pd.read_csv(Path(folder) / "comments.tsv", sep="\t", encoding="utf-8-sig")
    if not {"Text", "Class"} <= set(raw.columns):
        raise ValueError(f"{folder}/comments.tsv: expected columns Text, Class; found {list(raw)}")
    cls = raw["Class"].astype(str).str.strip()
    unknown = sorted(set(cls) - {"OFF", "NOT"})
    if unknown:
        raise ValueError(f"{folder}/comments.tsv: unknown Class value(s) {unknown}")
    text = raw["Text"].astype(str)
    return make_corpus(text, "jigsaw2018", {"toxicity": cls == "OFF"}, lang=["en"] * len(text))


def load_civil_spans(folder: Path, min_words: int = 4) -> pd.DataFrame:
    """Civil Comments news-site comments from toxic_spans_civil, with counterfactuals.

    Label mapping: each comment of the task's train file is toxic (toxicity 1; the corpus
    holds toxic comments only); the same comment with its marked spans cut out, where spans
    are marked and at least `min_words` words remain, is taken as not toxic (toxicity 0), an
    assumption the leave-one-source-out figures test. Both come from one domain, so the
    corpus teaches which words make a comment toxic rather than that news comments are.
    The trial file (the span benchmark's held-out part) is never read. Training only: the
    counterfactuals are written, not real posts, so they never reach thresholds or metrics.
    """
    import ast

    # Not span_corpora.read_toxic_spans: that module reads the data folder through this one.
    raw = read_table(Path(folder) / "tsd_train.csv", ["spans", "text"])
    texts, toxic, groups = [], [], []
    for i, (spans, text) in enumerate(zip(raw["spans"], raw["text"].astype(str), strict=True)):
        marked = set(ast.literal_eval(str(spans)))
        texts.append(text)
        toxic.append(1.0)
        groups.append(str(i))
        rest = " ".join("".join(c for j, c in enumerate(text) if j not in marked).split())
        if marked and len(rest.split()) >= min_words:
            texts.append(rest)
            toxic.append(0.0)
            groups.append(str(i))
    return make_corpus(
        texts,
        "civil_spans",
        {"toxicity": toxic},
        group=groups,
        split="train_only",
        lang=["en"] * len(texts),
    )


def load_swsr(folder: Path) -> pd.DataFrame:
    """SWSR Weibo comments on gender topics (Chinese sexism): label mapping

    sexist (1) -> toxicity 1, and identity_attack 1 where the target is generic (G: women or
    men as a group; an individual target I leaves identity_attack NaN); not sexist (0) ->
    toxicity 0 and identity_attack 0. "Not sexist" is not "clean" (the corpus labels sexism
    only): these negatives are weak, and the leave-one-source-out figures measure what they
    cost. Comments under one Weibo post form one group.
    """
    raw = read_table(Path(folder) / "SexComment.csv", ["comment_text", "label", "weibo_id"])
    sexist = raw["label"].astype(int) == 1
    target = raw.get("target", pd.Series([""] * len(raw))).fillna("").astype(str)
    attack = np.where(sexist, np.where(target == "G", 1.0, np.nan), 0.0)
    text = raw["comment_text"].astype(str)
    labels: dict[str, Iterable[object]] = {"toxicity": sexist, "identity_attack": attack}
    return make_corpus(text, "swsr", labels, group=raw["weibo_id"], lang=["zh"] * len(text))


def load_moderation_file(
    path: Path,
    text_column: str = "text",
    labels: Mapping[str, str] | None = None,
    lang_column: str | None = None,
    source: str = "community",
) -> pd.DataFrame:
    """A community's own decisions: any CSV/Parquet/JSONL with a text and label columns.

    `labels` maps steward labels to the file's columns; by default the columns that carry
    steward's label names are used. Without a toxicity column, toxicity is any other label.
    """
    raw = read_table(path, [text_column])
    mapping = dict(labels) if labels else {lb: lb for lb in MODERATION_LABELS if lb in raw}
    unknown = sorted(set(mapping) - set(MODERATION_LABELS))
    if unknown:
        raise ValueError(f"unknown label(s) {unknown}; steward's labels are {MODERATION_LABELS}")
    missing = sorted(c for c in mapping.values() if c not in raw.columns)
    if missing or not mapping:
        raise ValueError(
            f"{path}: label column(s) {missing or list(MODERATION_LABELS)} not found; "
            f"map them with labels={{steward_label: column}}"
        )
    lang = raw[lang_column].astype(str) if lang_column else None
    group = raw.get("post_id")
    return make_corpus(
        raw[text_column], source, {k: raw[v] for k, v in mapping.items()}, group, lang=lang
    )


def load_lake_moderation(lake: object | None = None) -> pd.DataFrame:
    """The lake's moderation decisions, with text (and language) from posts where needed."""
    from features.lake.store import Lake

    lake = lake if isinstance(lake, Lake) else Lake.default()
    moderation = lake.read("moderation").to_pandas()
    if moderation.empty:
        raise ValueError(f"the lake at {lake.root} has no moderation decisions; ingest some")
    posts = lake.read("posts").to_pandas()[["post_id", "text", "lang"]]
    merged = moderation.merge(posts, on="post_id", how="left", suffixes=("", "_post"))
    merged["text"] = merged["text"].fillna(merged["text_post"])
    merged = merged[merged["text"].notna()]
    return _community_frame(merged, "community")


def load_simulated(members: int = 1_500, days: int = 60, seed: int = 11) -> pd.DataFrame:
    """Labelled posts (English and Chinese) from the built-in community simulator."""
    from features.synthetic.simulator import simulate

    community = simulate(members, days, seed)
    merged = community.moderation.merge(
        community.posts[["post_id", "lang"]], on="post_id", how="left"
    )
    return _community_frame(merged, "simulator")


def _community_frame(merged: pd.DataFrame, source: str) -> pd.DataFrame:
    """Moderation rows joined to posts, in the corpus layout."""
    known = merged["lang"].notna() & merged["lang"].isin(["en", "zh"])
    detected = detect_languages(merged["text"])
    lang = np.where(known, merged["lang"].astype(object), detected)
    labels = {lb: merged[lb] for lb in MODERATION_LABELS if lb in merged}
    return make_corpus(merged["text"], source, labels, merged["post_id"], lang=lang)


def load_seed() -> pd.DataFrame:
    """Written examples the public corpora lack: personal insults and the same sentences as
    compliments, polite disagreement, and identities named in neutral sentences (so "gay" or
    "河南人" alone is not abuse). They train only, and label toxicity and identity attack.
    """
    rows: list[tuple[str, float]] = []
    for lang, kinds in _SEED.items():
        words = {k: v.split("|") for k, v in _SEED_WORDS[lang].items()}
        for kind, slot in (("neutral", "people"), ("plural", "groups")):
            rows += [(t.format(w), 0.0) for t in kinds[kind].split("|") for w in words[slot]]
        rows += [(t, 0.0) for t in kinds["polite"].split("|")]
        # The same frames carry insults and compliments: the insult is the signal, not "you are".
        for template in kinds["insult"].split("|"):
            rows += [(template.format(w), 1.0) for w in words["insult"]]
            rows += [(template.format(w), 0.0) for w in words["praise"]]
        for template in kinds["rude"].split("|"):
            rows += [(template.format(w), 1.0) for w in words["insult"]]
    texts, toxic = zip(*rows, strict=True)
    labels = {"toxicity": toxic, "identity_attack": [0.0] * len(texts)}
    return make_corpus(texts, "seed", labels, split="train_only")


# Identities and insults kept out of these lists on purpose ("gay Muslim woman", "河南人",
# "you are an idiot", "你就是个白痴") are what the behavioural tests probe: unseen combinations.
_SEED_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "people": "gay|lesbian|bisexual|transgender|queer|muslim|jewish|christian|hindu|"
        "buddhist|sikh|atheist|black|white|asian|latino|latina|mexican|african|arab|chinese|"
        "indian|an immigrant|a refugee|a woman|a man|a feminist|disabled|deaf|blind|old|"
        "a teenager|a mother|a father|jewish and gay|black and muslim|a gay man|a muslim woman",
        "groups": "Muslims|Jews|Christians|gay people|lesbians|transgender people|immigrants|"
        "refugees|black people|white people|Asians|Mexicans|Africans|Arabs|Chinese people|"
        "Indians|Hindus|atheists|women|feminists|old people|disabled people",
        "insult": "idiot|moron|imbecile|loser|clown|fool|dumbass|jerk|scumbag|creep|cretin|"
        "dimwit|halfwit|nitwit|twit|degenerate|parasite|pig|rat|stupid idiot|pathetic loser|"
        "worthless moron|brainless clown",
        "praise": "legend|star|genius|sweetheart|champ|hero|kind soul|good friend|great help|"
        "lovely person|smart cookie|real expert|true professional|fine writer",
    },
    "zh": {
        "people": "东北人|上海人|四川人|广东人|山东人|湖南人|湖北人|北京人|新疆人|西藏人|福建人|"
        "浙江人|江苏人|安徽人|江西人|广西人|云南人|贵州人|甘肃人|陕西人|河北人|重庆人|台湾人|香港人|"
        "农村人|黑人|白人|女生|男生|女性|穆斯林|基督徒|同性恋|少数民族|外国人|老年人|残疾人|外地人",
        "groups": "东北人|上海人|四川人|广东人|新疆人|黑人|白人|女性|穆斯林|同性恋|外国人|外地人|"
        "日本人|韩国人|印度人|农村人",
        "insult": "白痴|蠢货|傻逼|脑残|废物|垃圾|智障|笨蛋|傻子|人渣|弱智|贱人|混蛋|王八蛋|猪脑子|"
        "狗东西|神经病",
        "praise": "天才|好人|高手|大神|暖男|学霸|好朋友|热心人|专家|宝藏博主|老师|大佬",
    },
}
_SEED: dict[str, dict[str, str]] = {
    "en": {
        "neutral": "I am {}.|My neighbour is {}.|Our new moderator is {}.|She is {} and works "
        "as a nurse.|He is {} and loves hiking.|As someone who is {}, I enjoyed this thread.|"
        "My best friend is {}.|Being {} is part of who I am.|I grew up {} in a small town.|"
        "Welcome! It does not matter here whether you are {}.",
        "plural": "{} are welcome here.|Many {} live in my city.|I read a book about the history "
        "of {}.|There are {} in our hiking club.|{} celebrate many holidays.|The event is open "
        "to {} and everyone else.|My town has a lot of {}.",
        "polite": "I respectfully disagree with you.|I am not sure that is correct.|Could you "
        "explain your point again?|Thanks for sharing, but I see it differently.|I do not agree, "
        "but I appreciate the post.|You might want to read the rules again.|I think this could "
        "be improved.|Let us keep the discussion friendly.|That is an interesting idea.",
        "insult": "You are such a {}.|Only a {} would write this.|What a {}.|Listen here, you {}.|"
        "My brother is a {}.",
        "rude": "Shut up, you {}.|Nobody asked you, {}.|Get lost, {}.",
    },
    "zh": {
        "neutral": "我是{}。|我的朋友是{}。|新来的版主是{}。|我邻居是{}，人很好。|作为{}，"
        "我很喜欢这个活动。|我们论坛欢迎{}。|我认识很多{}，大家相处得很好。|我同事是{}，工作很认真。",
        "plural": "我们城市有很多{}。|这个活动欢迎{}参加。|我读了一本关于{}历史的书。|{}也喜欢这个游戏。",
        "polite": "我不太同意你的观点。|谢谢分享，不过我有不同看法。|你说的可能不太对。|"
        "能再解释一下吗？|我觉得这个还可以改进。|大家理性讨论吧。|这个想法挺有意思的。",
        "insult": "你这个{}。|只有{}才会这么说。|你真是个{}。|他是个{}。",
        "rude": "{}，闭嘴吧。|滚吧，{}。|你这种{}懂什么？",
    },
}


def load_identity() -> pd.DataFrame:
    """Identity-term training statements (features.text.identity_terms): neutral, positive and
    anti-discrimination statements are clean, hostile ones toxic and an identity attack.
    Training groups and templates only; the evaluation statements never train."""
    from features.text.identity_terms import identity_training_frame

    return _identity_corpus(identity_training_frame(), "identity")


def load_identity_stacked() -> pd.DataFrame:
    """Training statements stacking two training groups as adjectives ("I'm a gay Jewish man
    and I run the chess club."), labelled as load_identity's; for MiniLM (data.transformer_only)."""
    from features.text.identity_terms import identity_stacked_training_frame

    return _identity_corpus(identity_stacked_training_frame(), "identity_stacked")


def _identity_corpus(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """Written identity statements as a training-only corpus: hostile is toxic and an attack."""
    labels: dict[str, Iterable[object]] = {
        "toxicity": raw["toxicity"],
        "identity_attack": raw["toxicity"],
    }
    return make_corpus(raw["text"], source, labels, split="train_only", lang=raw["lang"])


def load_corpus(name: str, folder: Path | None = None) -> pd.DataFrame:
    """One corpus by name: a public one (REAL_SOURCES), seed, identity, lake or simulator."""
    loaders: dict[str, Callable[[], pd.DataFrame]] = {
        "seed": load_seed,
        "identity": load_identity,
        "identity_stacked": load_identity_stacked,
        "lake": load_lake_moderation,
        "simulator": load_simulated,
    }
    if name in loaders:
        return loaders[name]()
    if name not in REAL_SOURCES:
        known = sorted([*REAL_SOURCES, *loaders])
        raise ValueError(f"unknown corpus {name!r}; known: {', '.join(known)}")
    where = Path(folder) if folder else shared_data_dir() / REAL_SOURCES[name]
    if not where.is_dir():
        raise ValueError(
            f"corpus {name!r} not found at {where}; set STEWARD_SHARED_DATA or drop it from data.sources"
        )
    real: dict[str, Callable[[Path], pd.DataFrame]] = {
        "davidson": load_davidson,
        "stormfront": load_stormfront,
        "cold": load_cold,
        "jigsaw": load_jigsaw,
        "hatexplain": load_hatexplain,
        "jigsaw2018": load_jigsaw2018,
        "swsr": load_swsr,
        "civil_spans": load_civil_spans,
        "hatexplain_rationales": load_hatexplain_rationales,
    }
    return real[name](where)


def split_corpus(
    frame: pd.DataFrame, test_fraction: float, valid_fraction: float, seed: int
) -> pd.DataFrame:
    """Assign train/valid/test by a hash of (seed, source, group): stable and group-safe.

    Rows whose corpus fixes the test split keep it; rows fixed to train go to train or valid;
    "train_only" rows always train. Rows of a DERIVED_FROM corpus are hashed as their parent's
    and kept only where that puts them in train.
    """
    hashed_as = frame["source"].replace(DERIVED_FROM)  # derived rows: their parent's split
    key = (str(seed) + "\x1f" + hashed_as + "\x1f" + frame["group"]).tolist()
    u = np.array([int(hashlib.md5(k.encode()).hexdigest()[:12], 16) for k in key]) / 16**12
    fixed = frame["split"].to_numpy()
    free = fixed == ""
    split = np.where(u < valid_fraction, "valid", "train").astype(object)
    split[free & (u >= 1 - test_fraction)] = "test"
    split[fixed == "test"] = "test"
    split[fixed == "train_only"] = "train"
    out = frame.copy()
    out["split"] = split
    # Written rows only train: those whose original is a valid or test post are not kept.
    derived = out["source"].isin(list(DERIVED_FROM)).to_numpy()
    return out[~derived | (split == "train")].reset_index(drop=True)


def fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of the rows (text, source, split, labels): the same data, the same digest."""
    cols = ["text", "source", "split", *MODERATION_LABELS]
    hashed = pd.util.hash_pandas_object(frame[cols], index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()
