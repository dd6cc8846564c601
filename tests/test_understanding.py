"""Understanding: normalisation, language, out-of-scope, and accuracy on the labelled set."""
import collections

import pytest

from bot.understanding import detect_language, normalize


@pytest.mark.parametrize("raw, expected", [
    ("Hur AKTIVERAR jag Skola 24-appen?", "hur aktiverar jag skola24 appen"),
    ("  glömt   lösenordet!!! ", "glomt losenordet"),
    ("skol24", "skola24"),
    ("mejl", "epost"),
    ("e-post", "epost"),
    ("BankID", "bankid"),
    ("i morgon", "idag"),
    ("på lördag", "pa veckodag"),
    ("tomorow", "idag"),
    ("are u open tdoay", "are you open idag"),
    ("jag frågar gärna ungefär", "jag fragar garna ungefar"),  # everyday words are not day/child words
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("text, lang", [
    ("när har ni öppet?", "sv"),
    ("hur ansöker jag om konto", "sv"),
    ("what are your opening hours?", "en"),
    ("how do I activate the app", "en"),
])
def test_detect_language(text, lang):
    assert detect_language(text) == lang


@pytest.mark.parametrize("text", [
    "hur ansöker jag om bygglov?", "ansöka", "jag vill ansöka", "förskoleplats", "var kan jag parkera",
    "hur blir vädret i morgon", "ekonomiskt bistånd", "how do I apply for a building permit",
    "preschool place", "what's the weather like", "parking permit",
])
def test_out_of_scope_gets_the_fallback(holder, text):
    assert holder.understanding.match(text).outcome == "fallback"


@pytest.mark.parametrize("text, entry", [
    ("när har ni öppet?", "hours-overview"),
    ("vad är ert telefonnummer?", "contact-phone"),
    ("hur ansöker jag om konto i skola24?", "account-apply"),
    ("min dotter har fyllt 18, kan jag se hennes frånvaro?", "account-pupil-18"),
    ("what are your opening hours?", "hours-overview"),
    ("är ni öppna nu?", "hours-open-now"),
    ("jag vill aktivera appen", "app-activate"),
    ("hur aktivrar ja appen", "app-activate"),
    ("jag vill prata med en människa", "human"),
    ("ta bort mina uppgifter", "dsr-erasure"),
])
def test_acceptance_questions_are_answered(holder, text, entry):
    match = holder.understanding.match(text)
    assert match.outcome == "answer", match
    assert match.best.entry_id == entry


def test_labelled_set_is_large_and_accurate(holder):
    cases = holder.knowledge.labelled
    assert len(cases) >= 150
    by_lang = collections.Counter(c["lang"] for c in cases)
    assert by_lang["sv"] >= 50 and by_lang["en"] >= 50
    assert sum(1 for c in cases if c["expect"] == "fallback") >= 20
    correct = collections.Counter()
    misses = []
    for case in cases:
        match = holder.understanding.match(case["text"])
        got = match.best.entry_id if match.outcome == "answer" else match.outcome
        if got == case["expect"]:
            correct[case["lang"]] += 1
        else:
            misses.append((case["text"], case["expect"], got))
    for lang, total in by_lang.items():
        assert correct[lang] / total >= 0.95, (lang, misses)


def test_every_entry_has_enough_phrasings(holder):
    entries = holder.knowledge.entries
    assert len(entries) >= 30
    for entry in entries.values():
        for lang in ("sv", "en"):
            assert len(entry.phrasings[lang]) >= 5, (entry.id, lang)
