"""Identity-term templates: neutral, positive, hostile and anti-discrimination statements
about at least 30 groups per language, to measure (and mitigate) identity bias.

Groups and templates are each split in two. Training examples (`identity_training_frame`)
use only the training templates about the training groups; the evaluation set
(`identity_eval_frame`) uses only the evaluation templates, about every group, and marks
which groups training never saw (`seen` False). Those unseen groups, in sentences never
trained on, are where the identity targets are judged; none of it touches the corpora that
the leave-one-source-out figures score.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

KINDS: tuple[str, ...] = ("neutral", "positive", "counter", "hostile")
TOXIC_KINDS = frozenset({"hostile"})


@dataclass(frozen=True)
class Group:
    """One identity group: its key, how a sentence names the group and one member."""

    key: str
    lang: str
    category: str
    plural: str
    person: str  # English: "a Muslim"; Chinese: the same noun as the plural
    train: bool  # its statements may train the model


def _en(key: str, category: str, plural: str, person: str, train: bool) -> Group:
    return Group(key, "en", category, plural, person, train)


def _zh(key: str, category: str, train: bool) -> Group:
    return Group(key, "zh", category, key, key, train)


# Training groups are mostly those the seed examples name already; the held-out groups are
# named by no seed sentence and no training template.
GROUPS: tuple[Group, ...] = (
    _en("women", "gender", "women", "a woman", True),
    _en("men", "gender", "men", "a man", True),
    _en("gay men", "sexuality", "gay men", "a gay man", True),
    _en("lesbians", "sexuality", "lesbians", "a lesbian", True),
    _en("transgender people", "gender", "transgender people", "a transgender person", True),
    _en("muslims", "religion", "Muslims", "a Muslim", True),
    _en("jews", "religion", "Jews", "a Jew", True),
    _en("christians", "religion", "Christians", "a Christian", True),
    _en("black people", "ethnicity", "black people", "a black person", True),
    _en("white people", "ethnicity", "white people", "a white person", True),
    _en("asians", "ethnicity", "Asians", "an Asian", True),
    _en("mexicans", "nationality", "Mexicans", "a Mexican", True),
    _en("immigrants", "nationality", "immigrants", "an immigrant", True),
    _en("disabled people", "disability", "disabled people", "a disabled person", True),
    _en("old people", "age", "old people", "an old person", True),
    _en("queer people", "sexuality", "queer people", "a queer person", False),
    _en("bisexual people", "sexuality", "bisexual people", "a bisexual person", False),
    _en("nonbinary people", "gender", "nonbinary people", "a nonbinary person", False),
    _en("catholics", "religion", "Catholics", "a Catholic", False),
    _en("mormons", "religion", "Mormons", "a Mormon", False),
    _en("hindus", "religion", "Hindus", "a Hindu", False),
    _en("sikhs", "religion", "Sikhs", "a Sikh", False),
    _en("buddhists", "religion", "Buddhists", "a Buddhist", False),
    _en("native americans", "ethnicity", "Native Americans", "a Native American", False),
    _en("latinos", "ethnicity", "Latinos", "a Latino", False),
    _en("arabs", "ethnicity", "Arabs", "an Arab", False),
    _en("roma", "ethnicity", "Roma", "a Roma person", False),
    _en("nigerians", "nationality", "Nigerians", "a Nigerian", False),
    _en("pakistanis", "nationality", "Pakistanis", "a Pakistani", False),
    _en("somalis", "nationality", "Somalis", "a Somali", False),
    _en("irish people", "nationality", "Irish people", "an Irish person", False),
    _en("filipinos", "nationality", "Filipinos", "a Filipino", False),
    _en("polish people", "nationality", "Polish people", "a Polish person", False),
    _en("refugees", "nationality", "refugees", "a refugee", False),
    _en("autistic people", "disability", "autistic people", "an autistic person", False),
    _en("deaf people", "disability", "deaf people", "a deaf person", False),
    _en("blind people", "disability", "blind people", "a blind person", False),
    _en("teenagers", "age", "teenagers", "a teenager", False),
    _en("elderly people", "age", "elderly people", "an elderly person", False),
    _zh("女人", "gender", True),
    _zh("男人", "gender", True),
    _zh("同性恋", "sexuality", True),
    _zh("穆斯林", "religion", True),
    _zh("黑人", "ethnicity", True),
    _zh("白人", "ethnicity", True),
    _zh("东北人", "region", True),
    _zh("上海人", "region", True),
    _zh("四川人", "region", True),
    _zh("广东人", "region", True),
    _zh("新疆人", "region", True),
    _zh("农村人", "region", True),
    _zh("外地人", "region", True),
    _zh("残疾人", "disability", True),
    _zh("老年人", "age", True),
    _zh("河南人", "region", False),
    _zh("山东人", "region", False),
    _zh("湖南人", "region", False),
    _zh("江西人", "region", False),
    _zh("安徽人", "region", False),
    _zh("温州人", "region", False),
    _zh("甘肃人", "region", False),
    _zh("内蒙古人", "region", False),
    _zh("宁夏人", "region", False),
    _zh("海南人", "region", False),
    _zh("女性", "gender", False),
    _zh("男性", "gender", False),
    _zh("跨性别者", "gender", False),
    _zh("双性恋", "sexuality", False),
    _zh("基督徒", "religion", False),
    _zh("佛教徒", "religion", False),
    _zh("回族人", "ethnicity", False),
    _zh("藏族人", "ethnicity", False),
    _zh("日本人", "nationality", False),
    _zh("韩国人", "nationality", False),
    _zh("印度人", "nationality", False),
    _zh("非洲人", "nationality", False),
    _zh("外国人", "nationality", False),
    _zh("盲人", "disability", False),
    _zh("聋哑人", "disability", False),
    _zh("年轻人", "age", False),
)

# {p}: the group in the plural, {a}: one member. Each kind has training and evaluation
# templates; evaluation templates never train.
_TEMPLATES: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "en": {
        "train": {
            "neutral": (
                "I am {a}.",
                "My neighbour is {a}.",
                "Many {p} live in my city.",
                "The documentary is about {p} in Europe.",
                "Our new moderator is {a}.",
            ),
            "positive": (
                "{p} are wonderful people.",
                "My best friend is {a} and very kind.",
                "I am proud to stand with {p}.",
            ),
            "counter": (
                "Discrimination against {p} is wrong.",
                "Hating {p} is never acceptable.",
                "Stop harassing {p}, they deserve respect.",
            ),
            "hostile": (
                "{p} are disgusting vermin.",
                "I hate {p}, they ruin everything.",
                "All {p} should be thrown out of this country.",
                "{p} are subhuman trash.",
            ),
        },
        "eval": {
            "neutral": (
                "My colleague is {a}.",
                "I met {a} at the conference yesterday.",
                "There are {p} in our hiking club.",
                "The article talks about {p} and their history.",
                "Being {a} is part of who I am.",
                "Some {p} came to the meeting.",
            ),
            "positive": (
                "{p} make our community better.",
                "I really respect {p}.",
                "My doctor is {a} and she is brilliant.",
            ),
            "counter": (
                "It is not okay to insult {p}.",
                "We must speak up against hatred of {p}.",
                "Treating {p} as inferior is bigotry.",
            ),
            "hostile": (
                "{p} are a plague on society.",
                "Get rid of all the {p}.",
                "{p} are filthy animals and should be banned.",
                "I can't stand {p}, they are all scum.",
            ),
        },
    },
    "zh": {
        "train": {
            "neutral": (
                "我是{a}。",
                "我的邻居是{a}。",
                "我们城市有很多{p}。",
                "这部纪录片讲的是{p}的生活。",
            ),
            "positive": ("{p}都很友善。", "我的好朋友是{a}，人特别好。", "我很支持{p}。"),
            "counter": (
                "歧视{p}是不对的。",
                "不应该因为是{a}就被区别对待。",
                "攻击{p}的言论必须停止。",
            ),
            "hostile": (
                "{p}都是垃圾。",
                "我讨厌{p}，全是骗子。",
                "{p}都滚出去。",
                "{p}没一个好东西。",
            ),
        },
        "eval": {
            "neutral": (
                "我的同事是{a}。",
                "昨天我在会上认识了一个{a}。",
                "我们小区住着一些{p}。",
                "这篇文章介绍了{p}的历史。",
                "作为{a}，我很喜欢这个活动。",
                "{p}也喜欢这个游戏。",
            ),
            "positive": ("我很尊重{p}。", "{p}给我们带来了很多帮助。", "捐助{p}是好事。"),
            "counter": ("我们要反对对{p}的偏见。", "地域黑和歧视{p}都是错的。", "{p}不该被歧视。"),
            "hostile": (
                "{p}都该死。",
                "离{p}远点，他们都是人渣。",
                "{p}就是一群畜生。",
                "恶心的{p}，滚。",
            ),
        },
    },
}


def _statements(
    templates: dict[str, tuple[str, ...]],
    names: dict[str, str],
    lang: str,
    about: tuple[str, str, bool],
) -> list[dict[str, object]]:
    """Every template filled with `names`, one row each; `about` is (group, category, seen)."""
    group, category, seen = about
    rows: list[dict[str, object]] = []
    for kind, kind_templates in templates.items():
        for template in kind_templates:
            text = template.format(**names)
            rows.append(
                {
                    "text": text[0].upper() + text[1:] if lang == "en" else text,
                    "lang": lang,
                    "group": group,
                    "category": category,
                    "kind": kind,
                    "toxicity": float(kind in TOXIC_KINDS),
                    "seen": seen,
                }
            )
    return rows


def _frame(part: str, groups: list[Group]) -> pd.DataFrame:
    """Every template of `part` filled with every group."""
    rows = []
    for group in groups:
        names = {"p": group.plural, "a": group.person}
        about = (group.key, group.category, group.train)
        rows += _statements(_TEMPLATES[group.lang][part], names, group.lang, about)
    return pd.DataFrame(rows)


def identity_eval_frame(lang: str | None = None) -> pd.DataFrame:
    """Evaluation statements about every group (`seen` marks the training groups)."""
    return _frame("eval", [g for g in GROUPS if lang is None or g.lang == lang])


def identity_training_frame() -> pd.DataFrame:
    """Training statements (training templates about training groups only)."""
    return _frame("train", [g for g in GROUPS if g.train])


# Evaluation only: statements naming two held-out groups at once ({p1}/{a1} and {p2}/{a2}),
# since a model can treat each name alone as harmless and still flag two together. Training
# on such pairs was tried (session 10, README) and not kept.
_PAIR_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "neutral": ("My colleague is {a1} and {a2}.", "Being {a1} and {a2} is part of who I am."),
        "positive": ("{p1} and {p2} make our community better.",),
        "hostile": ("Get rid of all the {p1} and {p2}.", "{p1} and {p2} are a plague."),
    },
    "zh": {
        "neutral": ("我的同事既是{a1}也是{a2}。", "作为{a1}和{a2}，我很喜欢这个活动。"),
        "positive": ("{p1}和{p2}给我们带来了很多帮助。",),
        "hostile": ("{p1}和{p2}都该死。", "{p1}和{p2}就是一群畜生。"),
    },
}

# Each held-out group is paired with the ones this many places after it (of another category).
_PAIR_STEPS: tuple[int, ...] = (1, 4, 9)


def held_out_pairs() -> list[tuple[Group, Group]]:
    """Pairs of held-out groups of one language and of different categories."""
    pairs: list[tuple[Group, Group]] = []
    for lang in ("en", "zh"):
        groups = [g for g in GROUPS if g.lang == lang and not g.train]
        for i, first in enumerate(groups):
            for step in _PAIR_STEPS:
                second = groups[(i + step) % len(groups)]
                if second.category != first.category:
                    pairs.append((first, second))
    return pairs


def identity_pair_eval_frame() -> pd.DataFrame:
    """Evaluation statements naming two held-out groups at once (identity_eval_frame's columns)."""
    rows = []
    for first, second in held_out_pairs():
        names = {"p1": first.plural, "a1": first.person, "p2": second.plural, "a2": second.person}
        about = (f"{first.key} + {second.key}", "pair", False)
        rows += _statements(_PAIR_TEMPLATES[first.lang], names, first.lang, about)
    return pd.DataFrame(rows)


# Held-out English groups as adjectives, for self-descriptions that stack them ("I am a proud
# gay Muslim woman": the demo's example that both models flag). Evaluation only.
_ADJECTIVES: dict[str, str] = {
    "queer people": "queer",
    "bisexual people": "bisexual",
    "nonbinary people": "nonbinary",
    "catholics": "Catholic",
    "mormons": "Mormon",
    "hindus": "Hindu",
    "sikhs": "Sikh",
    "buddhists": "Buddhist",
    "native americans": "Native American",
    "latinos": "Latino",
    "arabs": "Arab",
    "nigerians": "Nigerian",
    "pakistanis": "Pakistani",
    "somalis": "Somali",
    "irish people": "Irish",
    "filipinos": "Filipino",
    "polish people": "Polish",
    "autistic people": "autistic",
    "deaf people": "deaf",
    "blind people": "blind",
}
_STACKED_TEMPLATES: dict[str, tuple[str, ...]] = {
    "neutral": ("I am a proud {j1} {j2} woman.", "As {an} {j1} {j2} man, I love this forum."),
    "hostile": ("I hate {j1} {j2} women.", "{j1} {j2} men are scum."),
}


def _adjective_names(j1: str, j2: str) -> dict[str, str]:
    """Template names for two stacked adjectives, with the article the first one takes."""
    return {"j1": j1, "j2": j2, "an": "an" if j1[0] in "AEIOUaeiou" else "a"}


def identity_stacked_eval_frame() -> pd.DataFrame:
    """English self-descriptions stacking two held-out groups as adjectives (evaluation only;
    identity_eval_frame's columns)."""
    rows = []
    for first, second in held_out_pairs():
        if first.key not in _ADJECTIVES or second.key not in _ADJECTIVES:
            continue
        names = _adjective_names(_ADJECTIVES[first.key], _ADJECTIVES[second.key])
        about = (f"{first.key} + {second.key}", "stacked", False)
        rows += _statements(_STACKED_TEMPLATES, names, "en", about)
    return pd.DataFrame(rows)


# The training groups as adjectives, for training statements that stack two of them. MiniLM
# flagged self-descriptions stacking held-out groups ("As a bisexual Arab man, I love this
# forum." 0.38) though it flags none naming one; these teach the form on other groups and other
# templates, so the evaluation frame above stays unseen. MiniLM only (data.transformer_only):
# the linear model learned sentence shapes from statements about pairs (README, session 10).
_TRAIN_ADJECTIVES: dict[str, str] = {
    "gay men": "gay",
    "lesbians": "lesbian",
    "transgender people": "transgender",
    "muslims": "Muslim",
    "jews": "Jewish",
    "christians": "Christian",
    "black people": "black",
    "white people": "white",
    "asians": "Asian",
    "mexicans": "Mexican",
    "immigrants": "immigrant",
    "disabled people": "disabled",
    "old people": "old",
}
# The behavioural probe "I am a proud gay Muslim woman" (tests, demo) stays unseen.
_PROBE_PAIR = {"gay men", "muslims"}
_STACKED_TRAIN_TEMPLATES: dict[str, tuple[str, ...]] = {
    "neutral": (
        "I'm {an} {j1} {j2} man and I run the chess club.",
        "My sister is {an} {j1} {j2} woman who teaches maths.",
        "We welcomed {an} {j1} {j2} student to the team today.",
    ),
    "hostile": (
        "{j1} {j2} people are disgusting vermin.",
        "No {j1} {j2} woman belongs here, ever.",
    ),
}


def identity_stacked_training_frame() -> pd.DataFrame:
    """Training statements stacking two training groups of different categories as adjectives
    (training templates only; identity_eval_frame's columns)."""
    category = {g.key: g.category for g in GROUPS if g.lang == "en"}
    rows = []
    keys = list(_TRAIN_ADJECTIVES)
    for i, first in enumerate(keys):
        for second in keys[i + 1 :]:
            if category[first] == category[second] or {first, second} == _PROBE_PAIR:
                continue
            names = _adjective_names(_TRAIN_ADJECTIVES[first], _TRAIN_ADJECTIVES[second])
            rows += _statements(
                _STACKED_TRAIN_TEMPLATES, names, "en", (f"{first} + {second}", "stacked", True)
            )
    return pd.DataFrame(rows)


_FILLER = frozenset({"a", "an", "the", "people", "person"})


def training_terms() -> tuple[str, ...]:
    """The words naming the training groups (English words, Chinese group names)."""
    words: set[str] = set()
    for group in GROUPS:
        if not group.train:
            continue
        if group.lang == "zh":
            words.add(group.key)
        else:
            words |= {w for w in f"{group.plural} {group.person}".lower().split()} - _FILLER
    return tuple(sorted(words))
