"""Understanding: normalisation, language, out-of-scope, and accuracy on the labelled set."""
import collections

import pytest

from bot.language import detect_language
from bot.understanding import normalize


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


def test_the_tuning_set_is_large_and_reaches_its_threshold(holder):
    from bot.staff_tools import evaluate

    cases = holder.knowledge.labelled
    assert len(cases) >= 150
    by_lang = collections.Counter(c["lang"] for c in cases)
    assert by_lang["sv"] >= 50 and by_lang["en"] >= 50
    assert sum(1 for c in cases if c["expect"] == ("fallback",)) >= 20
    result = evaluate(holder.knowledge, holder.understanding, "tuning")
    assert not result.failing, result.misses


def test_the_held_out_set_is_large_varied_and_kept_apart(holder):
    """At least 300 questions that no phrasing or tuning question has word for word (those are
    left out of the measure), both languages, at least 15 % out of scope."""
    from bot.staff_tools import counted_holdout

    holdout, _ = counted_holdout(holder.knowledge)
    assert len(holdout) >= 300
    by_lang = collections.Counter(c["lang"] for c in holdout)
    assert by_lang["sv"] >= 120 and by_lang["en"] >= 120
    assert sum(1 for c in holdout if c["expect"] == ("fallback",)) / len(holdout) >= 0.15
    header = (holder.knowledge.root / "tests" / "holdout.yaml").read_text(encoding="utf-8")[:400]
    assert "never copy" in header


def test_a_held_out_question_worded_as_a_phrasing_is_not_counted(holder):
    from bot.staff_tools import evaluate

    before = evaluate(holder.knowledge, holder.understanding, "holdout")
    entry = holder.knowledge.entries["app-activate"]
    case = holder.knowledge.eval_sets.holdout[0]
    entry.phrasings["sv"].append(case["text"])
    try:
        after = evaluate(holder.knowledge, holder.understanding, "holdout")
    finally:
        entry.phrasings["sv"].pop()
    assert after.identical == before.identical + 1
    assert sum(after.total.values()) == sum(before.total.values()) - 1


def test_eval_holds_the_held_out_set_and_the_cross_validation_to_the_folder_thresholds(holder):
    from bot.staff_tools import cross_validate, evaluate

    held_out = evaluate(holder.knowledge, holder.understanding, "holdout")
    assert held_out.out_of_scope["total"] >= 45
    assert not held_out.failing, (held_out.correct, held_out.total, held_out.out_of_scope)
    cv = cross_validate(holder.knowledge, holder.understanding)
    assert sum(cv.total.values()) >= 1000
    assert not cv.failing, (cv.correct, cv.total)


def test_every_entry_has_enough_phrasings(holder):
    entries = holder.knowledge.entries
    assert len(entries) >= 30
    for entry in entries.values():
        for lang in ("sv", "en"):
            assert len(entry.phrasings[lang]) >= 5, (entry.id, lang)


# Matching that generalises (issue 12) ------------------------------------------------------------


@pytest.mark.parametrize("text, entry", [
    # The questions that got the generic fallback or a wrong answer before, from the issue.
    ("jag har väntat en timme men det har inte kommit något mejl med aktiveringslänken", "app-no-email"),
    ("jag vill veta vilka uppgifter ni har om mig", "dsr-access"),
    ("hej, min son går på Kattegattgymnasiet och har precis fyllt 18, hur gör jag nu för att se hans frånvaro?",
     "account-pupil-18"),
    ("appen fungerar inte", "app-not-working"),
    ("kan jag få hjälp av en människa istället", "human"),
    ("Jag har försökt logga in flera gånger men det går inte. Jag vill prata med en person.", "human"),
    ("I would like to know what personal data you have about me, my name is Sara", "dsr-access"),
    ("var kan jag ringa er", "hours-phone"),
])
def test_the_issues_examples_are_answered(holder, text, entry):
    match = holder.understanding.match(text)
    assert (match.outcome, match.best.entry_id) == ("answer", entry), match


def test_synonyms_stems_and_compounds_give_one_token(holder):
    und = holder.understanding
    assert und.tokens("mejlet", "sv") == und.tokens("e-post", "sv") == und.tokens("mail", "en")
    assert und.tokens("appen", "sv") == und.tokens("app", "sv")
    assert und.tokens("aktiveringsmejlet", "sv") == und.tokens("aktivering mejl", "sv")
    assert und.tokens("våren", "sv") != und.tokens("var", "sv")  # a stem never becomes a filler word


@pytest.mark.parametrize("text, entry", [
    ("your huors?", "hours-overview"),  # two letters swapped: 80 % of "hours", 67 % of its stem "hour"
    ("wehre is the office", "contact-address"),
    ("kan jag rniga nu", "hours-open-now"),
    ("vad kan du savra om", "capabilities"),
    ("lgäga till barn", "account-link-child"),
])
def test_a_typo_is_matched_against_the_word_as_phrasings_spell_it(holder, text, entry):
    match = holder.understanding.match(text)
    assert (match.outcome, match.best.entry_id) == ("answer", entry)


def test_a_real_word_no_phrasing_has_is_not_taken_for_a_typo(holder):
    """"abroad" is a word of its own, not a misspelt "road"; "pohne" is no word at all."""
    und = holder.understanding
    assert und._surface_matches("pohne") and und._surface_matches("abroad")  # both look like a word

    def explained(word: str, lang: str) -> bool:
        [query_word] = und._query(und._query_tokens(normalize(word), lang), None)
        return bool(query_word.matches)

    assert explained("pohne", "en") and explained("rniga", "sv")
    assert not explained("abroad", "sv")  # unexplained, it costs what an everyday word costs


@pytest.mark.parametrize("text, entry", [
    ("min man sköter allt sånt men nu är han bortrest och jag har inget lösenord till appen, vad gör jag",
     "app-forgot-password"),
    ("our family just arrived from Poland and the school told me to get a Skola24 account, how does that work",
     "account-apply"),
])
def test_under_the_clarify_threshold_a_domain_question_far_ahead_is_answered(holder, text, entry):
    """Long messages score low; with domain words and one topic far ahead, that topic is answered."""
    und = holder.understanding
    top, runner_up = und.score_all(text)[:2]
    assert top.score < und.clarify_threshold and top.score - runner_up.score >= und.lead
    match = und.match(text)
    assert (match.outcome, match.best.entry_id) == ("answer", entry)


@pytest.mark.parametrize("text, entry", [
    ("jättestort tack", "thanks"), ("thanks heaps", "thanks"),  # thanks with a word no phrasing has
    ("hej, hur aktiverar jag appen", "app-activate"), ("tack, men hur aktiverar jag appen", "app-activate"),
    ("hello, when are you open", "hours-overview"),  # a greeting opening a question stays a greeting
])
def test_greetings_and_thanks_are_what_those_entries_are_about(holder, text, entry):
    match = holder.understanding.match(text)
    assert (match.outcome, match.best.entry_id) == ("answer", entry)


def test_everyday_words_cost_little_and_rare_content_words_a_lot():
    from bot.understanding import rarity

    assert rarity("precis") < 0.2 and rarity("timme") < 0.3
    assert rarity("bygglov") > 0.7 and rarity("parkeringstillstand") == 1.0


def test_domain_words_never_get_the_generic_fallback(holder):
    """A message naming what the assistant is about gets at worst the likeliest topics."""
    for text in ("konto lösenord strul idag igen", "frånvaro skola24 grejen", "app mejl länk konstigt"):
        match = holder.understanding.match(text)
        assert match.outcome in ("answer", "clarify"), (text, match)
        if match.outcome == "clarify":
            assert len(match.candidates) >= 2


def test_a_near_tie_is_clarified_and_a_clear_lead_answered(holder):
    und = holder.understanding
    from bot.understanding import Candidate

    tie = (Candidate("dsr-access", 70.0, "sv", ""), Candidate("data-rights", 70.0 - und.margin / 2, "sv", ""))
    assert und.decide("x", tie).outcome == "clarify"
    lead = (Candidate("dsr-access", und.clarify_threshold + 1, "sv", ""), Candidate("data-rights", 20.0, "sv", ""))
    assert und.answer_threshold > und.clarify_threshold + 1
    assert und.decide("x", lead).outcome == "answer"


def test_synonyms_file_is_checked(tmp_path):
    import shutil

    from bot.knowledge import check_knowledge, default_knowledge_dir

    root = tmp_path / "knowledge"
    shutil.copytree(default_knowledge_dir(), root)
    (root / "synonyms.yaml").write_text(
        "groups:\n  - [mejl, mail]\n  - [mail, post]\n  - [ensam]\nextra: 1\n", encoding="utf-8")
    _, problems = check_knowledge(root)
    said = [f"{p.path}:{p.line}: {p.message}" for p in problems]
    assert "knowledge/synonyms.yaml:3: the word 'mail' is already in the group on line 2" in said
    assert "knowledge/synonyms.yaml:4: a synonym group needs at least two words" in said
    assert "knowledge/synonyms.yaml:5: unknown field 'extra'" in said


def test_understanding_stays_fast(holder):
    """A loose guard only (the 2 ms target is measured by bench/bench_engine.py)."""
    import time

    texts = [c["text"] for c in holder.knowledge.labelled][:200]
    holder.understanding.match("värmer upp")
    start = time.perf_counter()
    for text in texts:
        holder.understanding._score_text(text + " x")  # bypass the answer cache
    assert (time.perf_counter() - start) / len(texts) < 0.05
