"""Text normalisation and language detection: the one code path for training and serving.

Every toxicity model calls `normalize_text` on raw text before it extracts features, in
training, in batch scoring and in the server, so an obfuscated insult ("1d10t", "i.d.i.o.t",
full-width letters, Cyrillic look-alikes, "f*ck") reaches the model as the plain word.
`normalize_with_offsets` runs the same steps and also says where each character of the
normal form came from, so spans found in it can be cut out of the text as it was written.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

URL_TOKEN = "http"
USER_TOKEN = "@user"
# The languages steward's models score; every other detected language is answered as unsupported.
SCORED_LANGUAGES: tuple[str, ...] = ("en", "zh")
# Below this, py3langid's non-English answer for Latin-script text is not trusted (measured with
# `python -m bench.languages`: English posts kept as English 0.98-1.00 per corpus, written
# French, Spanish and German sentences found 0.93-1.00).
MIN_OTHER_CONFIDENCE = 0.5
# Nigerian Pidgin is what py3langid answers for some African-American English tweets (1% of
# Davidson's): answering those as unsupported would leave one dialect of English unmoderated.
_READ_AS_ENGLISH = frozenset({"en", "pcm"})

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[a-z0-9.-]+\.(?:com|org|net|io|co|cn|ly)/\S*")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_MENTION = re.compile(r"(?<![\w@])@\w+")
# Single letters (or leet digits) joined by one separator each: "i.d.i.o.t", "i d i o t".
_SPACED = re.compile(
    r"(?<![\w$@!])[a-z0-9$@!]([ ._\-*])[a-z0-9$@!](?![a-z0-9])(?:\1[a-z0-9$@!](?![a-z0-9]))+"
)
_SEPARATORS = re.compile(r"[ ._\-*]")
# A word with a masking character inside or after letters: "f*ck", "sh#t", "f**k", "b!tch".
_MASKED = re.compile(r"(?<![\w*#])[a-z]+[*#]+[a-z*#]*")
# A token that mixes letters with leet digits or symbols: "1d10t", "sh1t", "a$$", "b!tch".
_LEET_TOKEN = re.compile(r"(?<![\w$@!])(?=[a-z0-9$@!]*[0134578$@!])[a-z0-9$@!]*[a-z][a-z0-9$@!]*")
_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "8": "b",
        "$": "s",
        "@": "a",
        "!": "i",
    }
)
# Counts and units that look like leetspeak but are not: 2nd, 10am, 5k, 4x4, mp3, covid19.
_NOT_LEET = re.compile(
    r"\d+x\d+|\d+(?:st|nd|rd|th|am|pm|s|k|m|x|h|d|g|gb|mb|kb|px|kg|km|cm|mm|min|fps)|[a-z]+\d+"
)
_REPEATS = re.compile(r"(.)\1{2,}")
# What a pass can leave for the next to fold: leetspeak and masks, and a non-ASCII letter
# beside an ASCII one (leetspeak made "0A0éо" "oaoéо", which look-alike folding now reaches).
_UNSTABLE = re.compile(r"[*#@$!\d]|[a-z][^\x00-\x7f]|[^\x00-\x7f][a-z]")
# Whitespace runs that folding to one space changes (as \s+ would, without visiting every space).
_SPACES = re.compile(r"\s{2,}|[^\S ]")

# Latin look-alikes from Cyrillic and Greek that spammers swap in to dodge filters.
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j",
        "ѕ": "s", "ԁ": "d", "ɡ": "g", "ո": "n", "ս": "u", "α": "a", "β": "b", "ε": "e",
        "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
        "χ": "x", "ω": "w",
    }
)  # fmt: skip
_CONFUSABLE = frozenset("авеёкмнорстухіїјѕԁɡոսαβεηικνορτυχω")
_NON_ASCII_WORD = re.compile(r"[^\W\d_]*[^\x00-\x7f][^\W\d_]*")
# Characters that render as nothing, slipped inside words to split them ("id\u200biot",
# "id\x00iot"): zero-width and bidirectional controls (overrides, isolates, marks), soft
# hyphens, variation selectors, tag characters, and C0/C1 control codes other than whitespace.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2069\ufe00-\ufe0f\ufeff\U000e0000-\U000e007f]"
)
# html.unescape's own pattern (html._charref), so each entity can be replaced and tracked alone.
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[a-zA-Z\u00c0-\u024f]+")
_KANA_HANGUL = re.compile("[\u3040-\u30ff\u31f0-\u31ff\u1100-\u11ff\uac00-\ud7af]")
_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W\d_]+")
_LATIN_LETTER = re.compile(r"[a-zA-Z\u00c0-\u024f]")

# Masked words are matched against these by shape: "f*ck" and "f**k" read as "fuck".
PROFANITY: tuple[str, ...] = (
    "fuck", "fucking", "fucker", "fucked", "shit", "bitch", "bitches", "cunt", "dick", "cock",
    "pussy", "ass", "asshole", "bastard", "damn", "crap", "slut", "whore", "idiot", "moron",
    "retard", "retarded", "nigga", "nigger", "faggot", "fag", "twat", "wanker", "hell",
)  # fmt: skip
_PROFANITY_BY_LEN: dict[int, tuple[str, ...]] = {
    n: tuple(w for w in PROFANITY if len(w) == n) for n in {len(w) for w in PROFANITY}
}


# For each character of a text being normalised: where it begins and ends in the original.
Offsets = tuple[list[int], list[int]]
_Repl = str | Callable[[re.Match[str]], str]


def normalize_text(text: str) -> str:
    """The canonical form of a post that every model sees (lower case, folded, masked)."""
    return _normalize(text, None)[0]


def normalize_with_offsets(text: str) -> tuple[str, Offsets]:
    """`normalize_text(text)` and, per character of it, its (begin, end) offsets in `text`.

    Offsets never decrease. A character covers the ones it was made from ("1" of "1d10t"), a
    kept one also those dropped after it ("i." of "i.d.i.o.t"), and one of a rewrite all of
    what it replaced (each of "@user" covers "@someone").
    """
    norm, where = _normalize(text, (list(range(len(text))), list(range(1, len(text) + 1))))
    assert where is not None
    return norm, where


def _normalize(text: str, where: Offsets | None) -> tuple[str, Offsets | None]:
    """Every pass of normalisation, tracking offsets when `where` is given."""
    out, where = _normalize_once(text, where)
    # Folding can expose a new pattern ("a*@" -> "a@" -> "aa"); repeat until nothing changes,
    # so normalised text is a fixed point (spans re-score it).
    for _ in range(3):
        # Folding whitespace can expose spaced letters too ("a a\na" -> "a a a").
        if not _UNSTABLE.search(out) and not _SPACED.search(out):
            break
        again, moved = _normalize_once(out, where)
        if again == out:
            break
        out, where = again, moved
    return out, where


def _normalize_once(text: str, where: Offsets | None) -> tuple[str, Offsets | None]:
    """One pass of every normalisation step."""
    # First, so that every later pattern (URLs, leetspeak, look-alikes) sees the joined word.
    text, where = _sub(_INVISIBLE, "", text, where)
    if not text.isascii():
        text, where = _nfkc(text, where)
    if "&" in text:
        text, where = _sub(_CHARREF, _unescape, text, where)
    text, where = _lower(text, where)
    if "://" in text or "www." in text or "/" in text:
        text, where = _sub(_URL, f" {URL_TOKEN} ", text, where)
    if "@" in text:
        text, where = _sub(_EMAIL, USER_TOKEN, text, where)
        text, where = _sub(_MENTION, USER_TOKEN, text, where)
    if not text.isascii():
        text, where = _sub(_NON_ASCII_WORD, _fold_homoglyphs, text, where)
    text, where = _sub(_SPACED, _join_spaced, text, where)
    text, where = _sub(_LEET_TOKEN, _fold_leet, text, where)
    if "*" in text or "#" in text:
        text, where = _sub(_MASKED, _unmask, text, where)
    text, where = _sub(_REPEATS, r"\1\1", text, where)
    text, where = _sub(_SPACES, " ", text, where)
    return _strip(text, where)


def _sub(
    pattern: re.Pattern[str], repl: _Repl, text: str, where: Offsets | None
) -> tuple[str, Offsets | None]:
    """`pattern.sub(repl, text)`, with each replacement's characters placed over its match."""
    if where is None:
        return pattern.sub(repl, text), None
    begins, ends = where
    parts: list[str] = []
    new_begins: list[int] = []
    new_ends: list[int] = []
    pos = 0
    for m in pattern.finditer(text):
        new = repl(m) if callable(repl) else m.expand(repl) if "\\" in repl else repl
        start, end = m.span()
        if new == m.group(0):
            continue
        parts += (text[pos:start], new)
        new_begins += begins[pos:start]
        new_ends += ends[pos:start]
        placed = _place(m.group(0), new, begins[start:end], ends[start:end])
        new_begins += placed[0]
        new_ends += placed[1]
        pos = end
    if not parts:
        return text, where
    parts.append(text[pos:])
    return "".join(parts), (new_begins + begins[pos:], new_ends + ends[pos:])


def _place(old: str, new: str, begins: list[int], ends: list[int]) -> Offsets:
    """Offsets of `new`, which replaces `old` (whose characters have `begins` and `ends`)."""
    if len(new) == len(old):  # one for one: "1d10t" -> "idiot", "іdіоt" -> "idiot"
        return begins, ends
    if not new:
        return [], []
    kept = _subsequence(old, new)
    if kept is None:  # rewritten: "@someone" -> "@user"; each character stands for all of it
        return [begins[0]] * len(new), [ends[-1]] * len(new)
    # Characters dropped ("i.d.i.o.t", "looooser") belong to the kept one before them.
    cuts = [0, *kept[1:], len(old)]
    return [begins[a] for a in cuts[:-1]], [ends[b - 1] for b in cuts[1:]]


def _subsequence(old: str, new: str) -> list[int] | None:
    """Where each character of `new` is found in `old`, in order, or None if it is not."""
    found = []
    at = 0
    for c in new:
        at = old.find(c, at)
        if at < 0:
            return None
        found.append(at)
        at += 1
    return found


def _nfkc(text: str, where: Offsets | None) -> tuple[str, Offsets | None]:
    """NFKC, tracked per character, or per character and its combining marks where they merge."""
    full = unicodedata.normalize("NFKC", text)
    if where is None:
        return full, None
    forms = {c: unicodedata.normalize("NFKC", c) for c in set(text)}
    chunks, pieces = list(text), [forms[c] for c in text]
    joined = "".join(pieces)
    if joined == full and len(full) == len(text):
        return full, where  # every character became one: "ｉ" -> "i", "，" -> ","
    if joined != full:  # marks compose with the letter before them: "e\u0301" -> "é"
        chunks = _clusters(text)
        pieces = [unicodedata.normalize("NFKC", c) for c in chunks]
        if "".join(pieces) != full:
            chunks, pieces = [text], [full]
    return full, _spread(chunks, pieces, where)


def _clusters(text: str) -> list[str]:
    """Text cut before each character that cannot join the one before it under NFKC."""
    out: list[str] = []
    for c in text:
        # Hangul vowel and final jamo are starters that still compose with what precedes them.
        if out and (unicodedata.combining(c) or "\u1160" <= c <= "\u11ff"):
            out[-1] += c
        else:
            out.append(c)
    return out


def _spread(olds: list[str], news: list[str], where: Offsets) -> Offsets:
    """Offsets of "".join(news), where each new piece replaced the old piece at its place."""
    begins, ends = where
    new_begins: list[int] = []
    new_ends: list[int] = []
    at = 0
    for old, new in zip(olds, news, strict=True):
        width = len(old)
        if new == old or len(new) == width == 1:
            new_begins += begins[at : at + width]
            new_ends += ends[at : at + width]
        else:  # expanded, merged or reordered: each character stands for the whole piece
            new_begins += [begins[at]] * len(new)
            new_ends += [ends[at + width - 1]] * len(new)
        at += width
    return new_begins, new_ends


def _unescape(match: re.Match[str]) -> str:
    """One HTML entity, replaced as html.unescape replaces it."""
    return html.unescape(match.group(0))


def _lower(text: str, where: Offsets | None) -> tuple[str, Offsets | None]:
    """Lower case; a few letters grow ("İ" -> "i̇"), and their offsets are spread."""
    low = text.lower()
    if where is None or len(low) == len(text):
        return low, where
    # Per character only for widths: str.lower's final sigma depends on context, not width.
    return low, _spread(list(text), [c.lower() for c in text], where)


def _strip(text: str, where: Offsets | None) -> tuple[str, Offsets | None]:
    """Surrounding whitespace removed."""
    out = text.strip()
    if where is None or len(out) == len(text):
        return out, where
    start = len(text) - len(text.lstrip())
    return out, (where[0][start : start + len(out)], where[1][start : start + len(out)])


def normalize_texts(texts: Iterable[str]) -> list[str]:
    """`normalize_text` over many texts (None and NaN read as empty)."""
    return [normalize_text(t) if isinstance(t, str) else "" for t in texts]


def _fold_homoglyphs(match: re.Match[str]) -> str:
    """Fold look-alikes in a word that mixes scripts or is made only of look-alikes."""
    word = match.group(0)
    if _HAN.search(word):
        return word
    if any("a" <= c <= "z" for c in word) or all(c in _CONFUSABLE for c in word):
        word = word.translate(_HOMOGLYPHS)
    if _LATIN_WORD.fullmatch(word):
        # Accents dropped ("ìdíót" -> "idiot"): English words rarely need them.
        word = "".join(
            c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c)
        )
    return word


def _join_spaced(match: re.Match[str]) -> str:
    """'i.d.i.o.t' -> 'idiot' (one kind of separator throughout, so 'a i.d.i.o.t' keeps 'a')."""
    return _SEPARATORS.sub("", match.group(0))


def _unmask(match: re.Match[str]) -> str:
    """'f*ck' -> 'fuck' when exactly the known words of that shape fit; else letters only."""
    word = match.group(0).rstrip("*#")
    if not any(c in "*#" for c in word):
        return word
    pattern = re.compile("".join("." if c in "*#" else re.escape(c) for c in word))
    fits = [w for w in _PROFANITY_BY_LEN.get(len(word), ()) if pattern.fullmatch(w)]
    return fits[0] if fits else word.replace("*", "").replace("#", "")


def _fold_leet(match: re.Match[str]) -> str:
    """'1d10t' -> 'idiot', 'a$$' -> 'ass'; plain words, counts and units stay as they are."""
    token = match.group(0)
    if token[0] == "@" or len(token) < 3 or _NOT_LEET.fullmatch(token):
        return token
    # A trailing "!" or "$" is punctuation or currency, not a letter: "idiot!", "cost 5$".
    core = token.rstrip("!$")
    return core.translate(_LEET) + token[len(core) :]


def detect_language(text: str) -> str:
    """The post's language as an ISO 639-1 code ("en", "zh", "fr", ...).

    Chinese by its script (Han characters at least as many as Latin words, no kana or
    hangul); otherwise py3langid (97 languages, its model ships in the package). Mostly-Latin
    text it is unsure of (normalised probability under MIN_OTHER_CONFIDENCE) reads as English:
    short English posts ("lol ok", "gg") are often guessed as something else, and a French post
    is rarely ambiguous. Text without letters is "en" (nothing in it to score either way).
    """
    text = unicodedata.normalize("NFKC", text)
    han = len(_HAN.findall(text))
    if han and han >= len(_LATIN_WORD.findall(text)) and not _KANA_HANGUL.search(text):
        return "zh"
    # Words spelled with Cyrillic or Greek look-alikes ("іdіот") are Latin in disguise: read as
    # Russian they would dodge scoring. Addresses and mentions are not language at all.
    text = _WORD.sub(_unmask_look_alikes, text)
    cleaned = _MENTION.sub(" ", _EMAIL.sub(" ", _URL.sub(" ", text.lower())))
    if not _LETTER.search(cleaned):
        return "en"
    lang, confidence = _language_identifier().classify(cleaned)
    if lang in _READ_AS_ENGLISH or (confidence < MIN_OTHER_CONFIDENCE and _mostly_latin(cleaned)):
        return "en"
    return str(lang)


def _mostly_latin(text: str) -> bool:
    """Whether at least half of the text's letters are Latin."""
    letters = len(_LETTER.findall(text))
    return letters > 0 and 2 * len(_LATIN_LETTER.findall(text)) >= letters


def _unmask_look_alikes(match: re.Match[str]) -> str:
    """A word made only of ASCII letters and Latin look-alikes, in Latin letters."""
    word = match.group(0)
    if word.isascii() or not all(c.isascii() or c.lower() in _CONFUSABLE for c in word):
        return word
    return word.lower().translate(_HOMOGLYPHS)


def detect_languages(texts: Iterable[str]) -> list[str]:
    """`detect_language` over many texts (None and NaN read as English)."""
    return [detect_language(t) if isinstance(t, str) else "en" for t in texts]


@functools.cache
def _language_identifier() -> Any:
    """py3langid's model with normalised probabilities, loaded once (about 2 s)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
