"""Whole conversations: when to call or visit (with whether it is open now), and the language of
the replies (short English, Swedish with loanwords, Swedish names in English, the client's lang)."""
from tests.conftest import Talk


async def lang_of(talk: Talk) -> str:
    return (await talk.state()).lang


# --------------------------------------------------------------------------- hours


async def test_when_can_i_call_gives_the_phone_hours_and_open_now(talk):  # Tuesday 10:00
    await talk("när kan jag ringa er")
    assert "035-13 70 00: måndag–torsdag kl. 07.00–17.00, fredag kl. 07.00–16.00" in talk.text
    assert "Telefonen är öppen nu, till kl. 17.00." in talk.text
    assert talk.text.strip() != "Telefonen är öppen nu, till kl. 17.00."


async def test_when_can_i_call_on_a_saturday(make_engine):
    talk = Talk(make_engine("2026-12-05T11:00"))
    await talk("när kan jag ringa er")
    assert "måndag–torsdag kl. 07.00–17.00" in talk.text
    assert "Telefonen är stängd just nu och öppnar måndag 7 december kl. 07.00." in talk.text


async def test_when_can_i_call_on_julafton(make_engine):
    talk = Talk(make_engine("2026-12-24T10:00"))
    await talk("när kan jag ringa er")
    assert "Vi har stängt i dag (Julafton). Telefonen öppnar igen måndag 28 december kl. 07.00." in talk.text


async def test_when_can_i_call_in_english_in_the_evening(make_engine):
    talk = Talk(make_engine("2026-12-01T19:30"))
    await talk("when can I call you")
    assert "Call us on 035-13 70 00: Monday–Thursday 7:00–17:00, Friday 7:00–16:00." in talk.text
    assert "The phone line is closed right now and opens tomorrow (Wednesday) at 7:00." in talk.text


async def test_when_can_i_come_in_gives_the_visiting_hours(make_engine):
    talk = Talk(make_engine("2026-12-04T15:30"))  # a Friday afternoon
    await talk("när kan jag komma in till er")
    assert "Kyrkogatan 5, Halmstad: måndag–torsdag kl. 08.00–17.00, fredag kl. 08.00–16.00" in talk.text
    assert "Besöksreceptionen i Rådhuset är öppen nu, till kl. 16.00." in talk.text


# --------------------------------------------------------------------------- language


async def test_short_english_in_a_swedish_conversation_is_answered_in_english(talk):
    await talk("hej")
    assert await lang_of(talk) == "sv"
    await talk("agent please")
    assert await lang_of(talk) == "en"
    assert "035-13 70 00" in talk.text and "phone" in talk.text
    await talk("thanks")
    assert await lang_of(talk) == "en" and "welcome" in talk.text.lower()


async def test_help_me_is_english_and_loanword_swedish_switches_back(talk):
    await talk("help me")
    assert await lang_of(talk) == "en"
    await talk("appen crashar hela tiden")
    assert await lang_of(talk) == "sv"
    await talk("skola 24 app android inloggning")
    assert await lang_of(talk) == "sv"
    await talk("ok")
    assert await lang_of(talk) == "sv", "a message in no language keeps the conversation's"


async def test_a_swedish_place_name_in_english_keeps_english(talk):
    await talk("Hi, I moved here from Malmö last month")
    assert await lang_of(talk) == "en"
    await talk("my son goes to Östergårdsskolan")
    assert await lang_of(talk) == "en"
    assert "Det " not in talk.text


async def test_the_clients_lang_is_the_conversations_unless_the_message_is_clearly_other(talk):
    await talk("Sara Lind", lang_hint="en")
    assert await lang_of(talk) == "en", "the client's language at the start"
    await talk("hur aktiverar jag appen", lang_hint="en")
    assert await lang_of(talk) == "sv", "a clearly Swedish message wins over the hint"
    await talk("ok", lang_hint="en")
    assert await lang_of(talk) == "sv", "the same hint again (the browser's language) is not a switch"
    await talk("ok", lang_hint="sv")
    await talk("1", lang_hint="en")
    assert await lang_of(talk) == "en", "a changed hint (the widget's language switch) is honoured"


def test_chat_api_honours_the_lang_the_widget_sends(tmp_path):
    """A real `serve`: the widget's `lang` decides messages in no language, not clear ones."""
    import signal

    from tests.serving import Server

    srv = Server(tmp_path / "data", "--now", "2026-12-01T10:00").start()
    try:
        status, body = srv.chat("widget-en", "när kan jag ringa er", lang="en")
        assert status == 200 and "Telefonen är öppen nu" in Server.texts(body), "clearly Swedish wins"
        status, body = srv.chat("widget-en2", "ok", lang="en")
        assert status == 200 and "Sorry" in Server.texts(body), "no language of its own: the widget's"
        status, body = srv.chat("widget-sv", "ok", lang="sv")
        assert status == 200 and "tyvärr" in Server.texts(body)
        status, body = srv.chat("widget-bad", "ok", lang="de")
        assert status == 400 and "lang" in body["error"]
    finally:
        srv.kill(signal.SIGTERM)
