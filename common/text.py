"""Text folding shared by the understanding, the flows and the handoff: `normalize`."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from rapidfuzz import fuzz, process

_FOLD = str.maketrans({"å": "a", "ä": "a", "ö": "o", "é": "e", "è": "e", "ü": "u", "æ": "a", "ø": "o"})
_NON_WORD = re.compile(r"[^a-z0-9]+")

# Whole-phrase rewrites applied after folding (on word boundaries): spellings people use.
_REWRITES = [
    (re.compile(r"\bskol(a)? ?24\b"), "skola24"),
    (re.compile(r"\bs24\b"), "skola24"),
    (re.compile(r"\bskola 24\b"), "skola24"),
    (re.compile(r"\b(?:e ?post|e ?mail|email|mejl|mail)(?: ?adress(?:en)?|address)\b"), "epost adress"),
    (re.compile(r"\be ?post\b|\be ?mail\b|\bemail\b|\bmejl\b|\bmail\b"), "epost"),
    (re.compile(r"\be ?legitimation\b|\be ?leg\b|\bbank ?id\b"), "bankid"),
    (re.compile(r"\bi ?morgon\b|\bimorn\b|\bimon\b"), "imorgon"),
    (re.compile(r"\bpers(on)? ?nr\b|\bpnr\b"), "personnummer"),
    (re.compile(r"\btel\b|\btfn\b|\btele\b"), "telefon"),
    (re.compile(r"\bpls\b|\bplz\b|\bplease\b"), ""),
    (re.compile(r"\bngn\b"), "nagon"),
    (re.compile(r"\bngt\b"), "nagot"),
    (re.compile(r"\bmkt\b"), "mycket"),
    (re.compile(r"\bu\b"), "you"),
    (re.compile(r"\bur\b"), "your"),
    (re.compile(r"\bgdpr\b"), "gdpr"),
    # Words of one kind that mean the same to the matcher: a phrasing with "lördag" also covers
    # "fredag", one with "jul" also "påsk" (the hours module reads the actual day from the text).
    (re.compile(r"\bi dag\b"), "idag"),
    (re.compile(r"\bnew years?(?: eve)?\b|\brod dag\b"), "helgdag"),
]

# Words of one kind that mean the same to the matcher: a phrasing with "lördag" also covers
# "fredag", one with "jul" also "påsk" (the hours module reads the actual day from the raw text).
# Typed with a typo ("tomorow", "modnay") they are still found (rapidfuzz, longer words only).
_CANON = {
    "veckodag": "mandag tisdag onsdag torsdag fredag lordag sondag mandagar fredagar lordagar sondagar "
                "monday tuesday wednesday thursday friday saturday sunday mondays fridays saturdays sundays",
    "idag": "idag imorgon today tomorrow ikvall tonight",
    "helgdag": "jul julen julafton nyar nyarsafton pask pasken midsommar midsommarafton christmas xmas easter "
               "midsummer helgdag helgdagar helgdagen",
    "barn": "unge ungen ungar ungarna grabben tjejen killen",
    "child": "kid kids kiddo",
}
_CANON_OF = {word: canon for canon, words in _CANON.items() for word in words.split()}
# Only these base forms are matched with typos: plural forms and the child words would catch
# everyday words ("frågar" is 86 % "fredagar", "gärna" 83 % "ungarna").
_CANON_FUZZY = ("mandag tisdag onsdag torsdag fredag lordag sondag monday tuesday wednesday thursday "
                "friday saturday sunday imorgon today tomorrow julafton nyarsafton midsommar "
                "midsommarafton christmas easter midsummer").split()
_CANON_CUTOFF = 80


@lru_cache(maxsize=8192)
def _canonical(word: str) -> str:
    """Return the kind a day or child word stands for, or the word itself."""
    found = _CANON_OF.get(word)
    if found:
        return found
    if len(word) >= 5 and not word.isdigit():
        hit = process.extractOne(word, _CANON_FUZZY, scorer=fuzz.ratio, score_cutoff=_CANON_CUTOFF)
        if hit:
            return _CANON_OF[hit[0]]
    return word


def normalize(text: str) -> str:
    """Return `text` lower-cased, accents folded, punctuation dropped and spellings unified."""
    # One turn folds the same text several times (commands, understanding, the flow's answer
    # reading, the handoff's leave words): short texts are remembered. Long ones are not, so the
    # cache stays a few MB.
    return _normalize_short(text) if len(text) <= _CACHED_LENGTH else _normalize(text)


_CACHED_LENGTH = 256


@lru_cache(maxsize=8192)
def _normalize_short(text: str) -> str:
    return _normalize(text)


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text).lower().translate(_FOLD)
    text = re.sub(r"(\w)['’´`](\w)", r"\1\2", text)  # what's -> whats, don't -> dont
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _NON_WORD.sub(" ", text)
    text = " ".join(text.split())
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return " ".join(_canonical(w) for w in text.split())
