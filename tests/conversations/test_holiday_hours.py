"""Whole conversations about holiday periods and hours that follow the hours data (issue 16, item 5):
"har ni öppet i jul" lists the days, and the phone-number answer says the hours of contact.yaml."""
import shutil

from bot.clock import make_clock
from bot.engine import Engine
from bot.holder import KnowledgeHolder
from bot.knowledge import default_knowledge_dir
from bot.store.memory import MemoryStore
from flows.registry import all_flows
from tests.conftest import Talk


async def test_open_at_christmas_lists_the_closed_and_short_days(make_engine):
    talk = Talk(make_engine("2026-12-01T10:00"))
    await talk("har ni öppet i jul?")
    assert talk.text.startswith("Så här har vi öppet i jul: onsdag 23 december (Dagen före julafton): "
                                "telefon kl. 07.00–15.00, besök kl. 08.00–15.00; torsdag 24 december stängt (Julafton); "
                                "fredag 25 december stängt (Juldagen);"), talk.text
    assert "fredag 1 januari stängt (Nyårsdagen)" in talk.text
    assert "onsdag 6 januari stängt (Trettondedag jul). Övriga dagar gäller de vanliga tiderna." in talk.text
    assert "öppen nu" not in talk.text


async def test_open_over_easter_and_midsummer_in_english(make_engine):
    talk = Talk(make_engine("2027-03-01T10:00"), session="en")
    await talk("are you open over easter?", lang_hint="en")
    assert "Our hours over Easter: Thursday 25 March (Maundy Thursday): phone 7:00–15:00" in talk.text
    assert "Friday 26 March closed (Good Friday); Monday 29 March closed (Easter Monday)" in talk.text
    await talk("and at midsummer?", lang_hint="en")
    assert "Friday 25 June closed (Midsummer Eve)" in talk.text


async def test_asked_during_christmas_it_lists_the_days_left(make_engine):
    talk = Talk(make_engine("2026-12-28T10:00"))
    await talk("har ni öppet i jul")
    assert "Julafton" not in talk.text and "torsdag 31 december stängt (Nyårsafton)" in talk.text


async def test_a_named_day_between_hours_entries_is_answered_not_clarified(make_engine):
    # Several hours entries match about as well; each gives that day's hours, so the bot answers
    # instead of asking which one was meant.
    talk = Talk(make_engine("2026-12-01T19:00"))
    await talk("är ni öppna på juldagen")
    assert talk.text == ("Telefontid fredag 25 december: stängt (Juldagen). "
                         "Besökstid i Rådhuset fredag 25 december: stängt (Juldagen). "
                         "Telefonen öppnar igen måndag 28 december kl. 07.00. "
                         "Besöksreceptionen i Rådhuset öppnar igen måndag 28 december kl. 08.00."), talk.text
    await talk("är ni öppna på torsdag")
    assert talk.text.startswith("Telefontid torsdag 3 december: kl. 07.00–17.00."), talk.text


async def test_juli_is_not_jul(make_engine):
    talk = Talk(make_engine("2026-12-01T10:00"))
    await talk("har ni öppet i juli")
    assert "i jul" not in talk.text


async def test_the_phone_answer_follows_an_hours_change(tmp_path):
    root = tmp_path / "knowledge"
    shutil.copytree(default_knowledge_dir(), root)
    contact = root / "contact.yaml"
    text = contact.read_text(encoding="utf-8")
    assert text.count("fri: \"07:00-16:00\"}") == 1
    contact.write_text(text.replace("fri: \"07:00-16:00\"}", "fri: \"07:00-14:30\"}"), encoding="utf-8")
    holder = KnowledgeHolder(root, all_flows())
    talk = Talk(Engine(source=holder, store=MemoryStore(), flows=holder.flows, clock=make_clock("2026-12-01T10:00")))
    await talk("vad är ert telefonnummer?")
    assert "Telefonen är öppen måndag–torsdag kl. 07.00–17.00, fredag kl. 07.00–14.30, utom helgdagar." in talk.text
    assert "16.00" not in talk.text
    english = Talk(talk.engine, session="en")
    await english("what's your phone number", lang_hint="en")
    assert "The phone line is open Monday–Thursday 7:00–17:00, Friday 7:00–14:30, except public holidays." in english.text
