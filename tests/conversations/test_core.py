"""Whole conversations through the engine: commands, flows, interruptions, language, privacy."""
import pytest

from bot.engine import UnknownButton
from common.messages import Inbound


async def test_greeting_and_capabilities(talk):
    await talk("hej")
    assert talk.buttons, "the greeting offers the main topics"
    await talk("vad kan du hjälpa till med?")
    assert any(b.payload == "flow:activation" for b in talk.buttons)


async def test_account_flow_every_route(make_engine):
    from tests.conftest import Talk

    routes = {
        ("Nytt konto", "Ja", "Nej", "Ja"): "e-tjänst",
        ("Nytt konto", "Ja", "Nej", "Nej"): "skola",
        ("Koppla ett barn till", "Nej"): "18",
        ("Nytt konto", "Ja", "Ja"): "skyddad identitet",
    }
    for presses, expected in routes.items():
        talk = Talk(make_engine(), session="s" + str(abs(hash(presses))))
        await talk("hur ansöker jag om konto i skola24?")
        assert "nytt konto" in talk.text.lower()
        for label in presses:
            await talk.press(label)
        assert expected in talk.text, (presses, talk.text)
        assert (await talk.state()).flow is None


async def test_typed_answers_choose_buttons(talk):
    await talk("jag vill ansöka om ett konto i skola24")
    await talk("nytt")
    assert "18" in talk.text
    await talk("japp")
    assert "skyddad" in talk.text
    await talk("2")  # the second button: "Ja"
    assert "skyddad identitet" in talk.text.lower()


async def test_protected_identity_never_asks_for_details(talk):
    await talk("hur ansöker jag om konto i skola24?")
    for label in ("Nytt konto", "Ja", "Ja"):
        await talk.press(label)
    assert "inte" in talk.text and "035-13 70 00" in talk.text
    assert any(b.payload == "cmd:human" for b in talk.buttons)


async def test_interruption_is_answered_and_the_step_asked_again(talk):
    await talk("hur ansöker jag om konto i skola24?")
    await talk.press("Nytt konto")
    assert (await talk.state()).step == "account:age"
    await talk("när har ni öppet?")
    assert "07.00" in talk.text, "the hours question is answered"
    assert "18" in talk.last.text, "then the step is asked again"
    assert (await talk.state()).step == "account:age"
    await talk.press("Ja")
    assert (await talk.state()).step == "account:protected"


async def test_nonsense_at_a_step_is_not_an_answer(talk):
    await talk("hur ansöker jag om konto i skola24?")
    await talk("blåbärssoppa")
    assert "förstod" in talk.text
    assert (await talk.state()).step == "account:purpose"


@pytest.mark.parametrize("word", ["avbryt", "cancel", "Avbryt!"])
async def test_cancel_at_every_step(talk, word):
    await talk("hur ansöker jag om konto i skola24?")
    await talk.press("Nytt konto")
    await talk(word)
    state = await talk.state()
    assert state.flow is None and state.step is None
    assert talk.buttons, "after cancelling the menu is offered"


async def test_menu_help_and_language_at_a_step(talk):
    await talk("hur ansöker jag om konto i skola24?")
    await talk.press("Nytt konto")
    await talk("hjälp")
    assert "18" in talk.text and (await talk.state()).step == "account:age"
    await talk("språk")
    assert "English" in talk.text and "under 18" in talk.last.text
    assert (await talk.state()).lang == "en"
    await talk("svenska")
    assert (await talk.state()).lang == "sv"
    await talk("meny")
    assert (await talk.state()).flow is None


async def test_asking_for_a_person_works_inside_a_flow(talk):
    await talk("hur ansöker jag om konto i skola24?")
    await talk("jag vill prata med en människa")
    assert "035-13 70 00" in talk.text


async def test_reply_follows_the_language_of_the_message(talk):
    await talk("what are your opening hours?")
    assert "Monday" in talk.text
    assert (await talk.state()).lang == "en"
    await talk("när har ni öppet?")
    assert "måndag" in talk.text


async def test_language_hint_used_for_an_unclear_first_message(make_engine):
    from tests.conftest import Talk

    talk = Talk(make_engine(), session="hint")
    await talk("skola24", lang_hint="en")
    assert (await talk.state()).lang == "en"


async def test_clarify_offers_candidates_as_buttons(talk):
    await talk("jag vill ha tillgång till skola24 för min son")
    match_payloads = [b.payload for b in talk.buttons]
    if any(p.startswith("faq:") for p in match_payloads):
        await talk.press(match_payloads[0])
        assert talk.text


async def test_fallback_twice_offers_a_person(talk):
    await talk("hur söker jag bygglov?")
    assert "kan jag tyvärr inte" in talk.text
    await talk("var parkerar jag bilen")
    assert talk.buttons[0].payload == "cmd:human"


async def test_personnummer_is_masked_and_the_user_warned(talk):
    await talk("mitt personnummer är 121212-1212, hur ansöker jag om konto i skola24?")
    assert "personnummer" in talk.replies[0].text.lower()
    transcript = await talk.engine.store.transcript(talk.session)
    assert "121212-1212" not in str(transcript)


async def test_unknown_button_is_refused(talk):
    await talk("hej")
    with pytest.raises(UnknownButton):
        await talk.engine.handle(Inbound(session=talk.session, button="ans:yes"))
    with pytest.raises(UnknownButton):
        await talk.engine.handle(Inbound(session=talk.session, button="flow:nope"))


async def test_transcript_has_both_sides_in_order(talk):
    await talk("hej")
    await talk("tack")
    entries = await talk.engine.store.transcript(talk.session)
    assert [e["from"] for e in entries][:2] == ["user", "bot"]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))


async def test_privacy_command(talk):
    await talk("/integritet")
    assert "allmän handling" in talk.text


async def test_a_turn_uses_one_knowledge_version_even_if_it_is_swapped_mid_turn(make_engine, holder):
    """A live reload during a turn must not mix texts of two versions in one reply."""
    import copy

    from bot.understanding import Understanding

    engine = make_engine()
    other = copy.copy(holder.knowledge)
    other.texts = {k: {"sv": "NY " + v["sv"], "en": "NEW " + v["en"]} for k, v in holder.knowledge.texts.items()}

    class Swapping:
        def __init__(self):
            self.knowledge, self.understanding = holder.knowledge, holder.understanding

    source = Swapping()
    engine.source = source
    original_match = holder.understanding.match

    def match_and_swap(text):
        source.knowledge, source.understanding = other, Understanding(other)
        return original_match(text)

    holder.understanding.match = match_and_swap
    try:
        replies = await engine.handle(Inbound(session="swap", text="hur söker jag bygglov?"))
    finally:
        del holder.understanding.match
    assert not replies[0].text.startswith("NY "), "the turn kept the version it started with"
    replies = await engine.handle(Inbound(session="swap2", text="blablabla qwerty"))
    assert replies[0].text.startswith("NY "), "the next turn uses the new version"


async def test_a_flow_is_set_aside_after_repeated_detours_and_can_be_resumed(talk):
    """A guardian who keeps asking other things has moved on: stop re-asking, offer to resume."""
    await talk("hur ansöker jag om konto i skola24?")
    await talk.press("Nytt konto")
    await talk("när har ni öppet?")
    assert "18" in talk.last.text, "first detour: answered, the step asked again"
    await talk("vad är ert telefonnummer?")
    assert "18" in talk.last.text
    await talk("vem är personuppgiftsansvarig?")
    state = await talk.state()
    assert state.flow is None and state.paused.step == "account:age"
    assert any(b.payload == "cmd:resume" for b in talk.buttons)
    await talk("tack")
    assert "18" not in talk.text, "a paused flow is not asked again"
    await talk("fortsätt")
    assert "18" in talk.last.text
    assert (await talk.state()).step == "account:age"
    await talk.press("Ja")
    assert (await talk.state()).step == "account:protected"


async def test_an_answer_resets_the_detour_count(talk):
    await talk("hur ansöker jag om konto i skola24?")
    await talk("när har ni öppet?")
    await talk("vad är ert telefonnummer?")
    await talk.press("Nytt konto")
    await talk("när har ni öppet?")
    assert (await talk.state()).flow == "account", "two detours, an answer, one more: still in the flow"


async def test_resume_without_a_paused_flow_is_an_ordinary_word(talk):
    await talk("fortsätt")
    assert "inget att fortsätta" in talk.text or talk.buttons


async def test_an_unclear_question_inside_a_flow_gets_the_candidates_and_the_step(talk):
    await talk("hur ansöker jag om konto i skola24?")
    await talk.press("Nytt konto")
    await talk("var ligger rådhuset")
    assert any(b.payload.startswith("faq:") for b in talk.buttons), "candidates offered"
    assert "18" in talk.last.text, "and the step asked again"
