"""Reading a guardian's typed answer at a flow step: one interpreter for every kind of step.

The engine asks `read(text, step, flow, knowledge, data)` before it gives typed text to a step.
Every word list lives in knowledge/texts (core.yaml: `common.yes_words`, `common.no_words`,
`answers.*`; the flows' own `*_words` keys), in both languages, so staff can add what guardians
really type. What it understands, in the order the engine acts on it:

1. **Changing one's mind** ("glöm det", "jag ångrar mig", "never mind") at any step: the flow is
   cancelled. At a step that takes a long text (a message, a description) only when little else
   is written, so "jag ångrar mig att jag gav samtycke, radera allt" stays a description.
2. **A choice typed exactly**: its label, its number, or one of its words (as before).
3. **Asking for a person** ("kan jag få hjälp av en människa istället", "… Jag vill prata med en
   person."): a `human` choice of the step if it has one, else the handoff flow.
4. **A correction** at a confirmation step (`Step.confirms`): a correction word or a leading no
   ("oj, fel adress", "nej det stämmer inte", "the phone number is wrong"). A field named by its
   words (`Flow.fields`) goes to that field's step; none named takes the step's "change" choice,
   which asks which field. At other steps a short message that starts with a correction word and
   names a field already given ("oj, fel nummer") goes back to that field too. Which fields a
   step may go back to comes from the flow's table (`Flow.corrects`).
5. **A choice in words**:
   - a leading choice word decides and the rest is context: "ja, hon går i trean" is yes,
     "nope, we don't" is no. A yes followed at once by a negation and at most one more word is
     no ("absolut inte", "definitely not"); a leading "inte" is no. A question after a leading
     yes or no ("ja men hur gör jag om …?") still answers the step; the engine also answers the
     question when the FAQ knows it clearly.
   - short statements without yes/no (six words or fewer, not a question): a negation means no
     ("vi har inte det", "we don't"), an affirming phrase yes ("det har jag", "I do").
   - the words of the choices' labels and `words` lists, with light fuzziness ("ett nytt konto"
     → new, "koppla mitt barn" → link); the best choice must beat the others. Not at steps that
     take free text, and never when the text holds an e-mail address (a corrected address).
6. **An age or a school year** at a step with `expects="under_18"`: "hon är 16", "he's 17",
   "fyller 18 i maj" (still 17) → yes; "just turned 18", "han är 19" → no; a year of compulsory
   school ("går i nian", "åk 3", "grade 9") → yes; upper secondary year 1–2 → yes; year 3 or 4 of
   upper secondary ("trean på gymnasiet", "year 12") may be 18 or not, so the step is asked again
   with `answers.age_unsure`. An explicit age outweighs a leading yes/no ("nej, hon är 16" is
   under 18), because parents often answer "is she 18?".

Contact details inside sentences are found by `find_contact` (used by the flows' contact
steps): "ni kan ringa mig på 070 123 45 67 helst eftermiddag" gives the number and the note
"helst eftermiddag".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from common.text import normalize

LANGS = ("sv", "en")
YES, NO = "yes", "no"
TEXT_EXPECTS = ("name", "contact", "email", "text")  # steps that take free text
MAX_SHORT = 6  # words in a "short" answer read by its meaning
_FUZZY = 85

# Text keys this module reads, for the knowledge check.
TEXT_KEYS = frozenset({
    "common.yes_words", "common.no_words", "answers.filler_words", "answers.negation_words",
    "answers.affirm_phrases", "answers.cancel_phrases", "answers.human_phrases",
    "answers.correction_words", "answers.stop_words", "answers.age_words", "answers.age_future_words",
    "answers.grade_words", "answers.ordinals", "answers.upper_secondary_words",
    "answers.contact_lead_words", "answers.age_unsure", "answers.unclear_phrases",
    "answers.name_lead_phrases",
})

_EMAIL_RE = re.compile(r"[^@\s<>()\[\],;:\"']+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")
_PHONE_RE = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d \-()]{4,20}\d(?!\d)")


# Contact details -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    """An e-mail address and/or a phone number found in a sentence, and what else it said."""

    email: str | None = None
    phone: str | None = None
    note: str = ""

    @property
    def value(self) -> str | None:
        return self.email or self.phone


def find_contact(text: str, lead_words: frozenset[str] = frozenset()) -> Contact:
    """Find an e-mail address and a phone number in `text`; the words around them that are not
    `lead_words` ("ring mig på") are kept as the note ("helst eftermiddag")."""
    email = None
    rest = text
    m = _EMAIL_RE.search(rest)
    if m:
        email = m.group(0).rstrip(".").strip()
        if len(email) > 254:
            email = None
        rest = rest[: m.start()] + " \x00 " + rest[m.end():]
    phone = None
    for m in _PHONE_RE.finditer(rest):
        raw = " ".join(m.group(0).split())
        digits = re.sub(r"\D", "", raw)
        if raw.startswith(("+", "0")) and 7 <= len(digits) <= 15 and len(raw) <= 30:
            phone = raw
            rest = rest[: m.start()] + " \x00 " + rest[m.end():]
            break
    note = ""
    if email or phone:
        parts = [p.strip(" \t\n,.;:!-–") for p in rest.split("\x00")]
        kept = [p for p in parts if p and not _only_lead_words(p, lead_words)]
        note = " ".join(" ".join(kept).split())[:300]
    return Contact(email, phone, note)


def find_name(text: str, knowledge) -> str:
    """Return the name in `text` without a lead-in ("jag heter Anna Andersson" → "Anna Andersson",
    "my name is Sam Smith, thanks" → "Sam Smith"); the text itself when it has none."""
    raw = " ".join(text.split()).strip(" .,;:!")
    lowered = normalize(raw)
    for phrase in sorted(_phrases(knowledge, "answers.name_lead_phrases"), key=len, reverse=True):
        if lowered.startswith(phrase + " "):
            # Drop as many raw words as the phrase has (normalising keeps the word count).
            raw = " ".join(raw.split()[len(phrase.split()):]).lstrip(" ,:")
            break
    words = raw.split()
    while words and normalize(words[-1]) in ("tack", "thanks", "thank you", "hej", "mvh"):
        words.pop()
    return " ".join(words).strip(" .,;:!")


def _only_lead_words(part: str, lead_words: frozenset[str]) -> bool:
    words = normalize(part).split()
    return not words or all(w in lead_words for w in words)


# The word lists -------------------------------------------------------------------------------


def _phrases(knowledge, key: str) -> tuple[str, ...]:
    """Return a words key's entries in both languages, normalised (cached per knowledge version)."""
    cache = getattr(knowledge, "cache", None)
    memo = cache.setdefault("answers.phrases", {}) if cache is not None else {}
    if key not in memo:
        memo[key] = _read_phrases(knowledge, key)
    return memo[key]


def _read_phrases(knowledge, key: str) -> tuple[str, ...]:
    out: list[str] = []
    for lang in LANGS:
        for item in knowledge.text(key, lang).split("|"):
            norm = normalize(item)
            if norm and norm not in out:
                out.append(norm)
    return tuple(out)


@dataclass(frozen=True)
class Lexicon:
    """The word lists of one knowledge version, normalised."""

    yes: tuple[str, ...]
    no: tuple[str, ...]
    fillers: frozenset[str]
    negations: frozenset[str]
    affirm: tuple[str, ...]
    cancel: tuple[str, ...]
    human: tuple[str, ...]
    correction: tuple[str, ...]
    stop: frozenset[str]
    age: frozenset[str]
    age_future: tuple[str, ...]
    grade: tuple[str, ...]
    ordinals: dict[str, int]
    upper_secondary: tuple[str, ...]
    contact_lead: frozenset[str]
    unclear: tuple[str, ...]

    @classmethod
    def of(cls, knowledge) -> "Lexicon":
        """Return the lexicon of `knowledge`, built once per knowledge version."""
        cache = getattr(knowledge, "cache", None)
        if cache is not None and "answers.lexicon" in cache:
            return cache["answers.lexicon"]
        ordinals: dict[str, int] = {}
        for lang in LANGS:
            for number, alternatives in enumerate(knowledge.text("answers.ordinals", lang).split("|"), 1):
                for word in alternatives.split(","):
                    if normalize(word):
                        ordinals[normalize(word)] = number
        p = lambda key: _phrases(knowledge, key)  # noqa: E731
        lex = cls(
            yes=p("common.yes_words"), no=p("common.no_words"),
            fillers=frozenset(p("answers.filler_words")), negations=frozenset(p("answers.negation_words")),
            affirm=p("answers.affirm_phrases"), cancel=p("answers.cancel_phrases"),
            human=p("answers.human_phrases"), correction=p("answers.correction_words"),
            stop=frozenset(w for ph in p("answers.stop_words") for w in ph.split()),
            age=frozenset(w for ph in p("answers.age_words") for w in ph.split()),
            age_future=p("answers.age_future_words"), grade=p("answers.grade_words"),
            ordinals=ordinals, upper_secondary=p("answers.upper_secondary_words"),
            contact_lead=frozenset(w for ph in p("answers.contact_lead_words") for w in ph.split()),
            unclear=p("answers.unclear_phrases"),
        )
        if cache is not None:
            cache["answers.lexicon"] = lex
        return lex


# Small helpers on normalised word lists --------------------------------------------------------


def _has(words: list[str], phrase: str) -> bool:
    return f" {phrase} " in f" {' '.join(words)} "


def _starts(words: list[str], phrases) -> tuple[str, int] | None:
    """Return the longest phrase `words` start with, and its length in words."""
    best = None
    for phrase in phrases:
        n = len(phrase.split())
        if words[:n] == phrase.split() and (best is None or n > best[1]):
            best = (phrase, n)
    return best


def _strip_fillers(words: list[str], lex: Lexicon) -> list[str]:
    i = 0
    while i < len(words) - 1 and words[i] in lex.fillers:
        i += 1
    return words[i:]


def _remove(words: list[str], phrases) -> list[str]:
    text = f" {' '.join(words)} "
    for phrase in sorted(phrases, key=len, reverse=True):
        text = text.replace(f" {phrase} ", " ")
    return text.split()


def looks_like_question(text: str, words: list[str] | None = None) -> bool:
    """A question mark at the end, or a first word that opens a question."""
    words = normalize(text).split() if words is None else words
    return text.strip().endswith("?") or bool(words and words[0] in _QUESTION_OPENERS)


_QUESTION_OPENERS = frozenset("""nar vad hur var vem vilka vilken vilket varfor kan ar har finns gar
maste ska when what how where who which why can are is do does could would should will""".split())


def _similar(a: str, b: str) -> bool:
    if a == b:
        return True
    if len(a) >= 4 and len(b) >= 4 and (a.startswith(b) or b.startswith(a)):
        return True
    return len(a) >= 5 and len(b) >= 5 and fuzz.ratio(a, b) >= _FUZZY


# What a step's choices and a flow's fields are called ------------------------------------------


@lru_cache(maxsize=512)
def _vocabulary(phrases: tuple[str, ...], stop: frozenset[str]) -> frozenset[str]:
    return frozenset(w for ph in phrases for w in ph.split() if w not in stop and not w.isdigit())


def _choice_phrases(knowledge, choice) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return (labels, words) of a choice in both languages, normalised."""
    labels = tuple(dict.fromkeys(w for w in _phrases(knowledge, choice.label)))
    words = _phrases(knowledge, choice.words) if choice.words else ()
    return labels, words


# The reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """What a typed text says at a step. The engine acts on the first thing that applies."""

    cancel: bool = False
    exact: str | None = None  # a choice typed exactly (label, number, word)
    human: bool = False  # asks for a person
    correction: bool = False  # says something given is wrong
    field: str | None = None  # the field a correction names
    choice: str | None = None  # a choice understood from words
    unsure: str | None = None  # a text key to say: the answer cannot decide (asked again)
    question: str | None = None  # a question after the answer ("ja men hur gör jag …?")

    @property
    def answered(self) -> bool:
        """The text answers the step in words (never counted as a detour)."""
        return bool(self.exact or self.choice or self.correction or self.unsure)


def read(text: str, step, flow, knowledge, data: dict | None = None) -> Reading:
    """Read `text` typed at `step` of `flow` (see the module's docstring for the rules)."""
    lex = Lexicon.of(knowledge)
    data = data or {}
    words = normalize(text).split()
    if not words:
        return Reading()
    core = _strip_fillers(words, lex)
    takes_text = step.free_text or step.expects in TEXT_EXPECTS
    if _is_cancel(core, lex, long_text=step.expects == "text"):
        return Reading(cancel=True)
    exact = _exact_choice(text, words, step, knowledge)
    if exact is not None:
        return Reading(exact=exact)
    if any(_has(words, phrase) for phrase in lex.human) and flow.name != "handoff":
        if any(c.value == "human" for c in step.choices):
            return Reading(exact="human")
        return Reading(human=True)
    correction = _correction(text, words, core, step, flow, knowledge, lex, data)
    if correction is not None:
        return correction
    if "@" in text:
        return Reading()
    if any(_has(core, phrase) for phrase in lex.unclear):
        return Reading()
    choice, rest = _choice_in_words(text, core, step, knowledge, lex, takes_text)
    if step.expects == "under_18":
        age, explicit = _under_18(core, lex)
        if age is not None and (explicit or choice is None):
            return age  # "nej, hon är 16": the age outweighs the yes/no word
    if choice is None:
        return Reading()
    question = " ".join(rest) if rest and (text.strip().endswith("?") or rest[0] in _QUESTION_OPENERS
                                           or (rest[0] == "men" and len(rest) > 1
                                               and rest[1] in _QUESTION_OPENERS)) else None
    return Reading(choice=choice, question=question)


def _is_cancel(core: list[str], lex: Lexicon, *, long_text: bool) -> bool:
    if not any(_has(core, phrase) for phrase in lex.cancel):
        return False
    rest = [w for w in _remove(core, lex.cancel) if w not in lex.fillers]
    rest = [w for w in rest if w not in lex.no and w not in lex.stop]
    if long_text:
        return len(rest) <= 2
    return _starts(_strip_lead(core, lex.no), lex.cancel) is not None or len(rest) <= 3


def _strip_lead(words: list[str], phrases) -> list[str]:
    """Drop one leading phrase of `phrases` ("nej, glöm det" → "glöm det")."""
    hit = _starts(words, phrases)
    return words[hit[1]:] if hit and hit[1] < len(words) else words


def _exact_choice(text: str, words: list[str], step, knowledge) -> str | None:
    if not step.choices:
        return None
    norm = " ".join(words)
    if norm.isdigit() and 1 <= int(norm) <= len(step.choices):
        return step.choices[int(norm) - 1].value
    for choice in step.choices:
        labels, choice_words = _choice_phrases(knowledge, choice)
        if norm in labels or norm in choice_words:
            return choice.value
    return None


def _field_named(words: list[str], flow, knowledge) -> str | None:
    scores = {}
    for field in flow.fields:
        vocab = _phrases(knowledge, field.words)
        # A longer phrase says more: "barnets namn" names the child's name, not the guardian's.
        hits = sum(len(ph.split()) for ph in vocab if _has(words, ph) or (" " not in ph and any(
            _similar(w, ph) for w in words if len(w) >= 4)))
        if hits:
            scores[field.name] = hits
    if not scores:
        return None
    best = max(scores.values())
    winners = [name for name, score in scores.items() if score == best]
    return winners[0] if len(winners) == 1 else None


def _correction(text, words, core, step, flow, knowledge, lex: Lexicon, data: dict) -> Reading | None:
    fields = {f.name: f for f in flow.fields}
    correctable = flow.corrects.get(step.id, ())  # the fields asked on the way to this step
    cue = any(_has(core, ph) for ph in lex.correction)
    if step.confirms:
        lead = _starts(core, lex.no)
        if not (cue or lead):
            return None
        if lead and not cue and len(core) > lead[1] + MAX_SHORT:
            return None
        field = _field_named(core, flow, knowledge)
        if field is not None and field not in correctable:
            field = None
        if field is None and "@" in text:
            return None  # "nej, skicka till b@example.se": the step takes the new address
        if field is None and _starts(core, lex.yes):
            return None  # "ja, det var den jag menade" confirms; "ja men ändra namnet" corrects
        return Reading(correction=True, field=field)
    # Elsewhere: "oj, fel nummer" — short, starting with a correction word, naming a field given.
    # At a step that takes a long text ("ändra min adress i skola24" may be the message) only
    # two words, or after "oj"/"nej".
    lead = _strip_lead(core, lex.no)
    if not fields or len(lead) > MAX_SHORT or _starts(lead, lex.correction) is None:
        return None
    if step.expects == "text" and len(lead) > 2 and lead is core and len(core) == len(words):
        return None
    field = _field_named(core, flow, knowledge)
    if field is None or field not in correctable:
        return None
    if not any(data.get(key) for key in fields[field].keys):
        return None
    return Reading(correction=True, field=field)


def _choice_in_words(text, core, step, knowledge, lex: Lexicon, takes_text: bool):
    """Return (choice, the words after the deciding ones) or (None, [])."""
    if not step.choices:
        return None, []
    values = {c.value for c in step.choices}
    yes_no = YES in values and NO in values
    # A leading choice word decides: "ja, hon går i trean", "nytt konto tack".
    leads = []
    for choice in step.choices:
        _, choice_words = _choice_phrases(knowledge, choice)
        extra = lex.yes if choice.value == YES else lex.no if choice.value == NO else ()
        hit = _starts(core, tuple(choice_words) + tuple(extra))
        if hit:
            leads.append((hit[1], choice.value))
    if yes_no and core[0] in lex.negations and _starts(core[1:], lex.yes):
        leads = [(1 + _starts(core[1:], lex.yes)[1], NO)]  # "inte ja", "not really yes"
    if leads:
        longest = max(n for n, _ in leads)
        chosen = {v for n, v in leads if n == longest}
        if len(chosen) == 1:
            value = chosen.pop()
            rest = core[longest:]
            if (takes_text or not (yes_no or step.confirms)) and len(rest) > 2:
                leads = []  # a long text: the first words do not decide alone
            else:
                if yes_no and value == YES and rest and rest[0] in lex.negations and len(rest) <= 2:
                    value = NO  # "absolut inte", "definitely not"
                return value, rest
    if takes_text:
        return None, []
    question = looks_like_question(text, core)
    if yes_no and len(core) <= MAX_SHORT and not question:
        if any(w in lex.negations for w in core):
            return NO, []
        if any(_has(core, ph) for ph in lex.affirm):
            return YES, []
    return _choice_by_meaning(core, step, knowledge, lex), []


def _choice_by_meaning(core, step, knowledge, lex: Lexicon) -> str | None:
    content = [w for w in core if w not in lex.stop and w not in lex.fillers and not w.isdigit()]
    if not content:
        return None
    scores = {}
    for choice in step.choices:
        if choice.value in (YES, NO):
            continue
        labels, choice_words = _choice_phrases(knowledge, choice)
        phrases = labels + choice_words
        vocab = _vocabulary(phrases, lex.stop)
        score = sum(1 for w in set(content) if any(_similar(w, v) for v in vocab))
        score += sum(1 for ph in phrases if " " in ph and _has(core, ph))
        if score:
            scores[choice.value] = score
    if not scores:
        return None
    ranked = sorted(scores.values(), reverse=True)
    if len(ranked) > 1 and ranked[0] == ranked[1]:
        return None
    return max(scores, key=scores.get)


# Ages and school years ------------------------------------------------------------------------


_NUMBER = re.compile(r"^\d{1,2}$")


def _under_18(core: list[str], lex: Lexicon) -> tuple[Reading | None, bool]:
    """Read an age or a school year as the answer to "is the pupil under 18?"; the flag tells
    whether an explicit age was given (it outweighs a leading yes or no)."""
    upper = any(_has(core, ph) for ph in lex.upper_secondary)
    for i, w in enumerate(core):
        if not _NUMBER.match(w):
            continue
        before = core[max(0, i - 3):i]
        after = core[i + 1:i + 3]
        n = int(w)
        if any(_has(before, ph) for ph in lex.grade):
            return _school_year(n, upper), False
        is_age = (any(b in lex.age for b in before) or any(a in lex.age for a in after[:1])
                  or len(core) <= 3)
        if is_age and 5 <= n <= 25:
            future = any(_has(core[:i], ph) for ph in lex.age_future)
            age = n - 1 if future else n
            return Reading(choice=YES if age < 18 else NO), True
    for w in core:
        if w in lex.ordinals:
            return _school_year(lex.ordinals[w], upper), False
    return None, False


def _school_year(year: int, upper: bool) -> Reading | None:
    if upper:
        if year in (1, 2):
            return Reading(choice=YES)
        if year in (3, 4):
            return Reading(unsure="answers.age_unsure")
        return None
    if 1 <= year <= 11:
        return Reading(choice=YES)
    if year == 12:
        return Reading(unsure="answers.age_unsure")
    return None
