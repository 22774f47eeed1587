"""The simulator's posts: template text in English and Chinese, with moderation labels."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Template vocabulary, one slot per key, phrases separated by "|". Benign predicates include hard
# negatives ("killer feature", "笑死我了") so that a classifier cannot get away with spotting a
# violent-looking word; identity attacks are expanded over the groups.
_VOCAB: dict[str, dict[str, str]] = {
    "en": {
        "prefix": "Honestly, |I think |Quick update: |FYI |Not sure but |In my experience |"
        "Heads up: |Fun fact: |So |Apparently ",
        "subject": "the new update|the weekend meetup|this recipe|the latest patch|my garden|"
        "the beginner guide|our study group|the search feature|the mobile app|the night market|"
        "this camera|the training plan|the book club pick|dark mode|the volunteer event|"
        "my first build|the coffee place downtown|the photo contest|the new moderators|"
        "the livestream",
        "predicate": "is really helpful|looks great so far|needs a few fixes|made my day|"
        "is slower than last week|deserves more attention|works fine on my phone|"
        "was better than expected|could use clearer instructions|is the killer feature for me|"
        "finally fixed the lag|is a total nightmare to set up|kills the battery faster than before|"
        "is worth trying once|keeps crashing when I upload|got a lot of love from everyone|"
        "is on sale this week|reminds me of the old forum|brought back good memories|"
        "is confusing for new members",
        "suffix": ".|!|?| :)|. Thanks everyone!|. Any tips?|. What do you think?|"
        ". Happy to help if anyone asks.|... just saying.|. Cheers!",
        "insult": "You are a pathetic idiot.|What a clueless moron you are.|"
        "Nobody cares about your stupid opinion, loser.|Only an imbecile would post this.|"
        "You are too dumb to read the rules.|Shut up, you worthless clown.",
        "obscene": "This is complete bullshit.|What the fuck is this crap?|"
        "Holy shit this sucks ass.|Fucking garbage as usual.|Damn this crap to hell.",
        "threat": "I will find you and hurt you.|Watch your back, I know where you live.|"
        "Say that again and I will break your face.|You will regret this, I promise.|"
        "Someone should beat you up for this.",
        "identity_attack": "{} are all stupid and do not belong here.|"
        "Typical {}, ruining everything.|I hate {}, get them off this forum.|"
        "{} should not be allowed to post.",
        "group": "immigrants|women|foreigners|old people|religious people|gay people",
    },
    "zh": {
        "prefix": "说实话，|我觉得|更新一下：|提醒一下，|个人感觉|分享一下：|请问|听说|刚发现|没想到",
        "subject": "新版本|周末的聚会|这道菜|最新的补丁|我家的花园|新手教程|我们的学习小组|搜索功能|"
        "手机应用|夜市|这台相机|训练计划|读书会的书|深色模式|志愿者活动|我的第一台电脑|"
        "市中心的咖啡店|摄影比赛|新来的版主|这次直播",
        "predicate": "真的很有用|目前看起来不错|还需要修一些问题|让我开心了一整天|比上周慢了|"
        "值得更多关注|在我手机上运行正常|比预期的好|说明可以写得更清楚|简直笑死我了|终于解决了卡顿|"
        "设置起来太折磨人了|耗电比以前快多了|值得试一次|上传的时候总是崩溃|大家都很喜欢|这周在打折|"
        "让我想起以前的论坛|勾起了很多美好回忆|对新人来说有点难懂",
        "suffix": "。|！|？|～|，谢谢大家！|，有什么建议吗？|，大家怎么看？|，有问题可以问我。|，就这样。|，加油！",
        "insult": "你就是个白痴。|你这个蠢货懂什么？|没人在乎你的破意见，废物。|只有脑残才会发这种帖子。|"
        "你蠢到连规则都看不懂。|闭嘴吧你这个小丑。",
        "obscene": "这完全是狗屁。|这他妈是什么垃圾？|真他妈烂透了。|操，又是这种破东西。|什么鸟玩意儿。",
        "threat": "我会找到你，让你好看。|小心点，我知道你住哪。|再说一遍我打断你的腿。|"
        "你会后悔的，等着瞧。|早晚有人收拾你。",
        "identity_attack": "{}都是蠢货，不配待在这里。|典型的{}，什么都搞砸。|"
        "我讨厌{}，把他们赶出论坛。|{}就不应该被允许发帖。",
        "group": "外地人|女人|外国人|老年人|信教的人|同性恋",
    },
}


def _words(lang: str, slot: str) -> list[str]:
    """The phrases of one template slot."""
    words = _VOCAB[lang][slot].split("|")
    if slot == "identity_attack":
        return [w.format(g) for w in words for g in _VOCAB[lang]["group"].split("|")]
    return words


def _fill(rng: np.random.Generator, zh: np.ndarray, part: str) -> pa.Array:
    """One random phrase per post for a template slot, in the post's language."""
    en, cn = _words("en", part), _words("zh", part)
    n = len(zh)
    idx = np.where(zh, len(en) + rng.integers(0, len(cn), n), rng.integers(0, len(en), n))
    return pa.array(en + cn).take(pa.array(idx))


def toxic_labels(rng: np.random.Generator, toxic: np.ndarray) -> dict[str, np.ndarray]:
    """Moderation labels per post: a main kind of toxicity, sometimes with obscenity on top."""
    n = len(toxic)
    kind = rng.choice(4, n, p=[0.45, 0.25, 0.12, 0.18])
    extra = rng.random(n)
    return {
        "toxicity": toxic,
        "identity_attack": toxic & (kind == 3),
        "insult": toxic & ((kind == 0) | ((kind == 2) & (extra < 0.3))),
        "obscene": toxic & ((kind == 1) | (extra > 0.75)),
        "threat": toxic & (kind == 2),
    }


def post_texts(rng: np.random.Generator, zh: np.ndarray, labels: dict[str, np.ndarray]) -> pa.Array:
    """Template text per post; toxic posts carry one phrase per positive label."""
    gap = pa.array(np.where(zh, "", " "))
    benign = pc.binary_join_element_wise(
        *(_fill(rng, zh, p) for p in ("prefix", "subject")),
        gap,
        *(_fill(rng, zh, p) for p in ("predicate", "suffix")),
        "",
    )
    # Half the toxic posts are bare abuse; the rest wrap it in an ordinary sentence.
    keep = ~labels["toxicity"] | (rng.random(len(zh)) < 0.5)
    parts = [pc.if_else(pa.array(keep), benign, "")]
    for label in ("insult", "obscene", "threat", "identity_attack"):
        parts.append(pc.if_else(pa.array(labels[label]), _fill(rng, zh, label), ""))
    text = pc.binary_join_element_wise(*[x for p in parts for x in (p, gap)], "")
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(text, " {2,}", " "))
