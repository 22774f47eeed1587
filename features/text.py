"""Text normalisation and language detection: the one code path for training and serving.

Every toxicity model calls `normalize_text` on raw text before it extracts features, in
training, in batch scoring and in the server, so an obfuscated insult ("1d10t", "i.d.i.o.t",
full-width letters, Cyrillic look-alikes, "f*ck") reaches the model as the plain word.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable

URL_TOKEN = "http"
USER_TOKEN = "@user"
LANGUAGES: tuple[str, ...] = ("en", "zh", "other")

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
_UNSTABLE = re.compile(r"[*#@$!\d]")
_SPACES = re.compile(r"\s+")

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
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[a-zA-Z\u00c0-\u024f]+")
_OTHER_WORD = re.compile(r"[^\W\d_a-zA-Z\u00c0-\u024f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

# Masked words are matched against these by shape: "f*ck" and "f**k" read as "fuck".
PROFANITY: tuple[str, ...] = (
    "fuck", "fucking", "fucker", "fucked", "shit", "bitch", "bitches", "cunt", "dick", "cock",
    "pussy", "ass", "asshole", "bastard", "damn", "crap", "slut", "whore", "idiot", "moron",
    "retard", "retarded", "nigga", "nigger", "faggot", "fag", "twat", "wanker", "hell",
)  # fmt: skip
_PROFANITY_BY_LEN: dict[int, tuple[str, ...]] = {
    n: tuple(w for w in PROFANITY if len(w) == n) for n in {len(w) for w in PROFANITY}
}


def normalize_text(text: str) -> str:
    """The canonical form of a post that every model sees (lower case, folded, masked)."""
    out = _normalize_once(text)
    # Folding can expose a new pattern ("a*@" -> "a@" -> "aa"); repeat until nothing changes,
    # so normalised text is a fixed point (spans re-score it).
    for _ in range(3):
        if not _UNSTABLE.search(out):
            break
        again = _normalize_once(out)
        if again == out:
            break
        out = again
    return out


def _normalize_once(text: str) -> str:
    """One pass of every normalisation step."""
    # First, so that every later pattern (URLs, leetspeak, look-alikes) sees the joined word.
    text = _INVISIBLE.sub("", text)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if "&" in text:
        text = html.unescape(text)
    text = text.lower()
    if "://" in text or "www." in text or "/" in text:
        text = _URL.sub(f" {URL_TOKEN} ", text)
    if "@" in text:
        text = _MENTION.sub(USER_TOKEN, _EMAIL.sub(USER_TOKEN, text))
    if not text.isascii():
        text = _NON_ASCII_WORD.sub(_fold_homoglyphs, text)
    text = _SPACED.sub(_join_spaced, text)
    text = _LEET_TOKEN.sub(_fold_leet, text)
    if "*" in text or "#" in text:
        text = _MASKED.sub(_unmask, text)
    text = _REPEATS.sub(r"\1\1", text)
    return _SPACES.sub(" ", text).strip()


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
    """'zh' when Han characters outnumber Latin words, 'en' for Latin script, else 'other'."""
    if text.isascii():
        return "en"
    text = unicodedata.normalize("NFKC", text)
    han = len(_HAN.findall(text))
    latin = len(_LATIN_WORD.findall(text))
    if han and han >= latin:
        return "zh"
    return "en" if latin >= len(_OTHER_WORD.findall(text)) else "other"


def detect_languages(texts: Iterable[str]) -> list[str]:
    """`detect_language` over many texts."""
    return [detect_language(t) if isinstance(t, str) else "en" for t in texts]
