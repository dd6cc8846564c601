"""Which language a guardian writes in, Swedish or English, for the language of the reply.

Three kinds of evidence, weighed together as log-odds of English against Swedish:
- a maintained statistical detector (`lingua-language-detector`) restricted to Swedish and
  English, built once when this module is imported;
- common function words of each language ("jag", "inte", "tack"; "the", "my", "please"), which
  settle short messages the statistics are unsure about ("help me", "ring mig");
- names are not evidence: capitalised words that are not common words ("Malmö",
  "Östergårdsskolan", "Sara", "BankID"), e-mail addresses, web addresses and numbers are left
  out, so "Hi, I moved here from Malmö" stays English and "Sara Lind" stays whatever the
  conversation was.
A message that is not clearly one language keeps the conversation's language (the prior):
`choose_language(text, prior)`. `detect_language(text)` says only clear verdicts, else None.
Measured against the word-list detector it replaced in bench/bench_language.py.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from lingua import Language, LanguageDetectorBuilder

__all__ = ["LanguageDecider", "build_lingua", "detect_language", "choose_language", "language_score"]

_LINGUA_CODES = {Language.SWEDISH: "sv", Language.ENGLISH: "en"}


def build_lingua(high_accuracy: bool = False):
    """Build the statistical detector for Swedish and English only, its models loaded now."""
    builder = LanguageDetectorBuilder.from_languages(Language.SWEDISH, Language.ENGLISH)
    if not high_accuracy:
        builder = builder.with_low_accuracy_mode()
    return builder.with_preloaded_language_models().build()


# Common words of one language only. Words that are common in both are left out on purpose:
# "i" (Swedish "in", English "I"), "in", "man", "men", "son", "app", "ok", "for" (Swedish "för"
# without dots).
_SV_WORDS = frozenset("""
och att det som en ett är ar jag du vi ni han hon de dem den min mitt mina din ditt dina hans
hennes vår vart vara er ert era inte kan vill har här hur vad när nar var varför varfor
vilken vilket vilka med på pa till från fran om av eller också ocksa nu där dar hej hejsan hejdå
hejda tack ja nej japp nä nää inga ingen inget något nagot någon nagon några nagra kommer
kommit fått fatt få fa får far behöver behover måste maste ska skall kunna gör gor göra gora
hjälp hjalp hjälpa hjalpa snälla snalla funkar fungerar funkade mig dig sig oss hit dit sen
aldrig alltid bara redan igen idag imorgon igår igar dotter barn barnet barnen skolan skola
appen kontot konto nytt ny lösenord losenord lösenordet losenordet mejl mejlet mejlen uppgifter
öppet oppet stängt stangt ringa prata människa manniska förstår forstar fattar tusen mycket
god morgon aning svenska tid tider hela tiden inloggning logga loggar ut mobilen fick kom
glömt glomt glöm glom strunta ändra andra stämmer stammer fel rätt ratt jo visst precis måndag
mandag tisdag onsdag torsdag fredag lördag lordag söndag sondag avbryt meny sluta fortsätt
fortsatt tillbaka börja borja
""".split())
_EN_WORDS = frozenset("""
the a and is are was were am be been im i'm you your yours my me mine we our us he she her
his they their them it its this that these those what whats what's when where why how who which
can cant can't could would should will wont won't dont don't does doesnt doesn't didnt didn't did
do have has had not no yes please pls plz thanks thank thx ty hi hello hey help bye goodbye good
morning want need get got with from of on at to by about there here just still already again
today tomorrow yesterday now open closed hours phone call talk person someone somebody human
agent account password forgot child kid kids daughter school never mind english work working
login log email address data delete remove name new wrong right u ur r moved month last live
lives goes go keep keeps see sorry oops understand anything something monday tuesday wednesday
thursday friday saturday sunday cancel menu stop continue back
""".split())

_TOKEN = re.compile(r"\S+")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_SWEDISH_LETTERS = re.compile("[åäö]")


def _words(text: str) -> list[str]:
    """Return the words that are evidence of a language: names, addresses and numbers left out."""
    kept = []
    for token in _TOKEN.findall(unicodedata.normalize("NFC", text)):
        if "@" in token or "://" in token or token.lower().startswith("www.") or any(c.isdigit() for c in token):
            continue  # e-mail and web addresses, phone numbers, "skola24", "070-123"
        for word in _WORD.findall(token):
            lower = word.lower().replace("’", "'")
            if word == "I":
                kept.append("I")  # English "I" (Swedish "i" is written in lower case mid-sentence)
            elif word[0].isupper() and lower not in _SV_WORDS and lower not in _EN_WORDS:
                continue  # a name: Malmö, Östergårdsskolan, Sara, BankID
            else:
                kept.append(lower)
    return kept


@dataclass(frozen=True)
class LanguageDecider:
    """Weigh a message's evidence for English against Swedish (log-odds) and decide its language.

    The statistical detector counts fully only from `full_at` characters on (lingua's low
    accuracy mode is unreliable on a word or two); each common word counts `word_weight`, each
    other word with å/ä/ö `letter_weight` for Swedish; a message is clearly one language from
    `margin` on. Without any common English word, the detector's English side is capped at
    `loanword_cap` (below the margin).
    """

    detector: Any
    word_weight: float = 2.0
    letter_weight: float = 1.0
    full_at: int = 24
    clip: float = 4.0
    margin: float = 1.5
    loanword_cap: float = 1.0

    def score(self, text: str) -> float:
        """Return the log-odds that `text` is English rather than Swedish (0: no evidence)."""
        words = _words(text)
        if not words:
            return 0.0
        joined = " ".join(words)
        values = {_LINGUA_CODES[c.language]: c.value for c in self.detector.compute_language_confidence_values(joined)}
        score = 0.0
        if values.get("en", 0.0) + values.get("sv", 0.0) > 0:
            logit = math.log((values.get("en", 0.0) + 1e-6) / (values.get("sv", 0.0) + 1e-6))
            weight = min(1.0, len(joined) / self.full_at)
            score += weight * max(-self.clip, min(self.clip, logit))
        en = sum(1 for w in words if w in _EN_WORDS or w == "I")
        sv = sum(1 for w in words if w in _SV_WORDS)
        if not en:
            # English words without English grammar ("iphone", "android", "qwerty") are as often
            # loanwords in Swedish or keyboard noise: alone they never make a message English.
            score = min(score, self.loanword_cap)
        lettered = sum(1 for w in words if w not in _SV_WORDS and _SWEDISH_LETTERS.search(w))
        return score + self.word_weight * (en - sv) - self.letter_weight * lettered

    def detect(self, text: str) -> str | None:
        """Return "sv" or "en" when `text` clearly is that language, else None."""
        score = self.score(text)
        if score >= self.margin:
            return "en"
        if score <= -self.margin:
            return "sv"
        return None

    def choose(self, text: str, prior: str) -> str:
        """Return the reply language for `text`: its own if clear, else `prior` (the conversation's)."""
        return self.detect(text) or prior


# Built once, when the engine first imports this module (lingua's low accuracy mode: ~13 MB and
# ~50 ms; the high accuracy models cost ~115 MB more, see bench/bench_language.py).
DECIDER = LanguageDecider(build_lingua(high_accuracy=False))


def language_score(text: str) -> float:
    """Return the log-odds that `text` is English rather than Swedish (0 when there is no evidence)."""
    return DECIDER.score(text)


def detect_language(text: str) -> str | None:
    """Return "sv" or "en" when `text` clearly is that language, else None."""
    return DECIDER.detect(text)


def choose_language(text: str, prior: str) -> str:
    """Return the reply language for `text`: its own if clear, else `prior` (the conversation's)."""
    return DECIDER.choose(text, prior)
