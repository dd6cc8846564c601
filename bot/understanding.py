"""Understand a guardian's free text: normalise it, match it against the knowledge, decide.

Matching works on words. Every phrasing is normalised once at load (case, punctuation, å/ä/ö
folded, common spellings) and split into words; each word has a weight (rarer words across
entries weigh more; filler words like "hur", "jag", "the" weigh little). A query's words are
matched to the vocabulary with rapidfuzz (so "aktivra" still finds "aktivera"), and a phrasing's
score is the weighted F1 of how much of the query it explains and how much of the phrasing the
query covers. This is why "hur ansöker jag om bygglov" does not get the account answer: the
important word "bygglov" is explained by nothing, and why "ansöka" alone is too little.

Three outcomes: answer (best score at or above the answer threshold and clearly ahead),
clarify (the 2-3 best as buttons), fallback (what the bot can do, plus Halmstad direkt).
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from bot.knowledge import LANGS, Knowledge

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

# Words that carry little meaning on their own; they still count, but little.
STOPWORDS = frozenset("""
a an the i me my we our you your is are am be was do does did can could would should will to of in
on at for with and or if how what when where which who why it this that there here have has had
not no yes please hi hello hey thanks thank just so about from by get got want need would like as
its im dont cant whats thats theres ive id youre isnt doesnt didnt wont or also some any
eller ocksa nagra alla ju val visst hos sig sin sitt sina dem deras hon han hennes hans blir bli
och att det som en ett jag du vi ni de den har hur vad nar var vilka vilken vilket kan ska skulle
vill maste for fran med om pa till av i ar mig dig oss er min mitt mina din ditt dina ert era
hej hallo tack snalla inte ja nej nu sa da bara lite man nagon nagot finns gor gora fa far
""".split())
STOP_WEIGHT = 0.15
TOKEN_CUTOFF = 80  # rapidfuzz ratio at which a typed word counts as a known word
SHORT_TOKEN_CUTOFF = 88  # stricter for short words: "remove" must not become "move"


def normalize(text: str) -> str:
    """Return `text` lower-cased, accents folded, punctuation dropped and spellings unified."""
    text = unicodedata.normalize("NFC", text).lower().translate(_FOLD)
    text = re.sub(r"(\w)['’´`](\w)", r"\1\2", text)  # what's -> whats, don't -> dont
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _NON_WORD.sub(" ", text)
    text = " ".join(text.split())
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return " ".join(_canonical(w) for w in text.split())


_SV_HINTS = frozenset("""och att jag hur vad nar ar har inte kan min mitt mina ni er ert
vill med for pa till det som en ett nagon dotter son barn skolan appen frånvaro franvaro tack hej
ansoka ansoker konto oppet oppna telefonnummer prata manniska uppgifter radera hjalp glomt losenord
""".split())
_EN_HINTS = frozenset("""the and is are how what when where my your you i can do does want need to
of for with have has not please thanks hello hi account app open opening hours phone number talk
person human data delete forgot password daughter son child school apply activate
""".split())


def detect_language(text: str) -> str | None:
    """Return "sv" or "en" when the text clearly is one of them, else None."""
    raw = text.lower()
    if any(ch in raw for ch in "åäö"):
        return "sv"
    words = normalize(text).split()
    if not words:
        return None
    sv = sum(1 for w in words if w in _SV_HINTS)
    en = sum(1 for w in words if w in _EN_HINTS)
    if sv > en:
        return "sv"
    if en > sv:
        return "en"
    return None


@dataclass(frozen=True)
class Candidate:
    """An entry the text may mean, with its score (0-100) and the phrasing that matched best."""

    entry_id: str
    score: float
    lang: str
    phrasing: str


@dataclass(frozen=True)
class Match:
    """What the understanding decided for one text."""

    outcome: str  # "answer" | "clarify" | "fallback"
    candidates: tuple[Candidate, ...]

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


@dataclass
class _Phrasing:
    entry_id: str
    lang: str
    text: str
    tokens: dict[int, float]  # vocabulary id -> weight
    total: float


class Understanding:
    """Matches texts against one loaded knowledge; build a new one when knowledge changes."""

    def __init__(self, knowledge: Knowledge, *, cache_size: int = 4096) -> None:
        self.knowledge = knowledge
        self.answer_threshold = knowledge.answer_threshold
        self.clarify_threshold = knowledge.clarify_threshold
        self.margin = float(knowledge.settings.get("understanding", {}).get("margin", 4))
        self._build([(e.id, lang, p) for e in knowledge.entries.values()
                     for lang in LANGS for p in e.phrasings.get(lang, [])])
        self._word_matches = lru_cache(maxsize=cache_size)(self._word_matches_uncached)
        # Guardians ask the same questions in the same words all day: remember recent answers.
        self._scored = lru_cache(maxsize=cache_size)(self._score_normalized)

    # Building -------------------------------------------------------------------------------

    def _build(self, items: list[tuple[str, str, str]]) -> None:
        vocab: dict[str, int] = {}
        entry_words: dict[str, set[str]] = defaultdict(set)
        normalised = []
        for entry_id, lang, text in items:
            words = normalize(text).split()
            normalised.append((entry_id, lang, text, words))
            entry_words[entry_id].update(words)
            for w in words:
                vocab.setdefault(w, len(vocab))
        n_entries = max(1, len(entry_words))
        doc_freq: dict[str, int] = defaultdict(int)
        for words in entry_words.values():
            for w in words:
                doc_freq[w] += 1
        self.vocab_words = list(vocab)
        self.vocab = vocab
        self.weight = [0.0] * len(vocab)
        for w, i in vocab.items():
            idf = math.log(1 + n_entries / doc_freq[w])
            self.weight[i] = idf * (STOP_WEIGHT if w in STOPWORDS else 1.0)
        self.unknown_weight = math.log(1 + n_entries)  # an unknown word is as rare as it gets
        self.phrasings: list[_Phrasing] = []
        self.postings: dict[int, list[int]] = defaultdict(list)
        for entry_id, lang, text, words in normalised:
            tokens = {vocab[w]: self.weight[vocab[w]] for w in words}
            index = len(self.phrasings)
            self.phrasings.append(_Phrasing(entry_id, lang, text, tokens, sum(tokens.values()) or 1.0))
            for vid in tokens:
                self.postings[vid].append(index)

    def _word_matches_uncached(self, word: str) -> tuple[tuple[int, float], ...]:
        """Return the vocabulary words `word` may be, with similarity 0-1."""
        exact = self.vocab.get(word)
        if len(word) <= 3 or word.isdigit():
            return ((exact, 1.0),) if exact is not None else ()
        cutoff = TOKEN_CUTOFF
        found = process.extract(word, self.vocab_words, scorer=fuzz.ratio,
                                score_cutoff=cutoff, limit=5)
        out = {self.vocab[w]: score / 100.0 for w, score, _ in found}
        if exact is not None:
            out[exact] = 1.0
        # A longer typed word that starts with a known stem ("aktiveringskoden") still counts.
        return tuple(sorted(out.items(), key=lambda kv: -kv[1]))

    # Matching -------------------------------------------------------------------------------

    def score_all(self, text: str, limit: int = 3) -> list[Candidate]:
        """Return the best `limit` entries for `text`, best first."""
        return list(self._scored(normalize(text)[:600])[:limit])

    def _score_normalized(self, norm: str) -> tuple[Candidate, ...]:
        words = norm.split()[:40]
        if not words:
            return ()
        query: list[tuple[float, tuple[tuple[int, float], ...]]] = []
        for w in dict.fromkeys(words):
            if len(w) == 1 and not w.isdigit():
                continue  # stray letters carry no meaning
            matches = self._word_matches(w)
            exact = self.vocab.get(w)
            if exact is not None:
                weight = self.weight[exact]  # a known word weighs what it weighs, not its look-alikes
            elif w in STOPWORDS:
                weight = STOP_WEIGHT
            elif matches:
                weight = self.weight[matches[0][0]]
            else:
                weight = STOP_WEIGHT if w in STOPWORDS else self.unknown_weight
            query.append((weight, matches))
        q_total = sum(weight for weight, _ in query) or 1.0
        candidate_ids: set[int] = set()
        for weight, matches in query:
            for vid, _ in matches:
                candidate_ids.update(self.postings.get(vid, ()))
        best: dict[str, Candidate] = {}
        for index in candidate_ids:
            ph = self.phrasings[index]
            covered: dict[int, float] = {}
            explained = 0.0
            for weight, matches in query:
                sim = 0.0
                for vid, s in matches:
                    if vid in ph.tokens and s > sim:
                        sim = s
                        if covered.get(vid, 0.0) < s:
                            covered[vid] = s
                explained += weight * sim
            precision = explained / q_total
            recall = sum(ph.tokens[vid] * s for vid, s in covered.items()) / ph.total
            if precision <= 0 or recall <= 0:
                continue
            score = 100.0 * 2 * precision * recall / (precision + recall)
            current = best.get(ph.entry_id)
            if current is None or score > current.score:
                best[ph.entry_id] = Candidate(ph.entry_id, round(score, 1), ph.lang, ph.text)
        return tuple(sorted(best.values(), key=lambda c: (-c.score, c.entry_id))[:5])

    def match(self, text: str) -> Match:
        """Decide between answer, clarify and fallback for `text`."""
        candidates = tuple(self.score_all(text, limit=3))
        if not candidates or candidates[0].score < self.clarify_threshold:
            return Match("fallback", candidates)
        top = candidates[0]
        runner_up = candidates[1].score if len(candidates) > 1 else 0.0
        if top.score >= self.answer_threshold and (top.score - runner_up >= self.margin or top.score >= 99):
            return Match("answer", candidates)
        close = tuple(c for c in candidates if c.score >= self.clarify_threshold)
        return Match("clarify", close)

    def language_of(self, text: str) -> str | None:
        """Return the text's language from its words, or from the language of its best match."""
        lang = detect_language(text)
        if lang:
            return lang
        if len(normalize(text).split()) < 3:
            return None  # "japp", "ok": too little to switch the conversation's language
        best = self.score_all(text, limit=1)
        if best and best[0].score >= self.answer_threshold:
            return best[0].lang
        return None
