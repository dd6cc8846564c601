"""The Telegram channel without a network: Update → Inbound, Reply → Bot API calls, splitting,
callback data, commands, refusals, ordering, retries and outbound delivery.

The channel runs with python-telegram-bot's real Bot, Application and AIORateLimiter; only the HTTP
layer is `RecordingRequest` (python-telegram-bot's own `BaseRequest` interface).
"""
from __future__ import annotations

import asyncio
import logging

import pytest
from telegram import Update

from bot.channels import telegram as tg
from bot.turn import Interception
from common.messages import Button, Reply
from tests.telegram.fakes import (
    RecordingRequest, callback_update, keyboard_of, message_update,
)

TOKEN = "123456:TEST-token"
CHAT = 5550001


@pytest.fixture
def request_() -> RecordingRequest:
    return RecordingRequest()


@pytest.fixture
async def channel(make_engine, request_, tmp_path):
    """A channel in webhook mode (no updater) on an engine at Tuesday 10.00, initialised."""
    settings = tg.TelegramSettings(token=TOKEN, webhook_url="https://bot.example.org/telegram/webhook",
                                   webhook_secret="")
    chan = tg.TelegramChannel(settings, tmp_path, request=request_, retry_delay=0.01)
    chan.bind(make_engine(listeners=[chan.on_outbound]))
    chan.make_engine = make_engine
    await chan.application.initialize()
    yield chan
    if chan.application.running:
        await chan.application.stop()
    await chan.application.shutdown()


def intercept_with(chan: tg.TelegramChannel, answer) -> None:
    """Rebuild the channel's engine with `answer` as its first interceptor (replies it returns
    take the turn), as bot/app.py wires the handoff's."""
    async def interceptor(turn):
        replies = await answer(turn)
        return Interception(replies=replies)

    chan.bind(chan.make_engine(interceptors=[interceptor], listeners=[chan.on_outbound]))


async def feed(chan: tg.TelegramChannel, data: dict) -> None:
    """Process one update as the Application does, waiting until it is handled."""
    await chan.application.process_update(Update.de_json(data, chan.application.bot))


# Pure mappings ------------------------------------------------------------------------------

def test_text_message_maps_to_inbound_with_language_hint(tmp_path):
    key = tg.load_session_key(tmp_path)
    update = Update.de_json(message_update(CHAT, "hur aktiverar jag appen?", lang="en-GB"), None)
    inbound = tg.inbound_from_update(update, key)
    assert inbound.text == "hur aktiverar jag appen?" and inbound.button is None
    assert inbound.channel == "telegram" and inbound.lang_hint == "en"
    assert inbound.session.startswith("tg-") and str(CHAT) not in inbound.session
    assert len(inbound.session) <= 64 and inbound.session.replace("-", "").isalnum()


def test_session_is_stable_across_restarts_and_differs_per_chat(tmp_path):
    first = tg.session_for(tg.load_session_key(tmp_path), CHAT)
    again = tg.session_for(tg.load_session_key(tmp_path), CHAT)  # the key is read back from disk
    assert first == again
    assert tg.session_for(tg.load_session_key(tmp_path), CHAT + 1) != first
    other_install = tg.session_for(tg.load_session_key(tmp_path / "other"), CHAT)
    assert other_install != first, "the id depends on a secret key, not only the chat id"
    assert (tmp_path / "telegram" / "session.key").stat().st_mode & 0o077 == 0


def test_commands_map_to_the_engine_words(tmp_path):
    key = tg.load_session_key(tmp_path)
    for typed, expected in [("/start", "/start"), ("/hjalp", "/hjalp"), ("/meny@halmstad_bot", "/meny"),
                            ("/sprak", "/sprak"), ("/avbryt", "/avbryt"), ("/integritet", "/integritet"),
                            ("/start ref-qr", "/start"), ("/cancel", "cancel")]:
        update = Update.de_json(message_update(CHAT, typed), None)
        assert tg.inbound_from_update(update, key).text == expected, typed


def test_button_press_maps_to_button_inbound(tmp_path):
    key = tg.load_session_key(tmp_path)
    update = Update.de_json(callback_update(CHAT, "flow:activation", 7, lang="sv"), None)
    inbound = tg.inbound_from_update(update, key)
    assert inbound.button == "flow:activation" and inbound.text is None
    assert inbound.session == tg.session_for(key, CHAT) and inbound.lang_hint == "sv"


@pytest.mark.parametrize("data", [
    message_update(CHAT, None, photo=[{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]),
    message_update(CHAT, None, sticker={"file_id": "s", "file_unique_id": "s", "width": 1, "height": 1,
                                        "is_animated": False, "is_video": False, "type": "regular"}),
    message_update(CHAT, None, location={"latitude": 56.67, "longitude": 12.86}),
    message_update(-100123, "när har ni öppet?", chat_type="group"),
])
def test_non_text_and_group_updates_do_not_reach_the_engine(tmp_path, data):
    assert tg.inbound_from_update(Update.de_json(data, None), tg.load_session_key(tmp_path)) is None


def test_language_codes():
    assert tg.lang_hint("sv") == "sv" and tg.lang_hint("en-US") == "en"
    assert tg.lang_hint("de") is None and tg.lang_hint(None) is None and tg.lang_hint("") is None


def test_long_text_splits_on_paragraph_boundaries():
    paragraphs = [f"Stycke {i}: " + "ord " * 150 for i in range(20)]  # ~ 600 chars each
    text = "\n\n".join(p.strip() for p in paragraphs)
    chunks = tg.split_text(text)
    assert len(chunks) > 1 and all(tg.utf16_len(c) <= 4096 for c in chunks)
    assert "\n\n".join(chunks) == text, "nothing lost, and every cut is at a paragraph boundary"
    assert all(c.startswith("Stycke") for c in chunks)


def test_text_without_breaks_is_still_split_and_counts_utf16():
    text = "😀" * 3000  # 6000 UTF-16 code units
    chunks = tg.split_text(text)
    assert "".join(chunks) == text and all(tg.utf16_len(c) <= 4096 for c in chunks)
    assert len(chunks) == 2
    assert tg.split_text("kort") == ["kort"]


def test_callback_data_fits_64_bytes_and_resolves_back():
    short = "faq:hours-overview"
    assert tg.callback_data_for(short) == short
    long = "ans:" + "å" * 40  # 84 bytes in UTF-8
    data = tg.callback_data_for(long)
    assert len(data.encode()) <= 64
    assert tg.resolve_callback_data(data, ["cmd:menu", long]) == long
    assert tg.resolve_callback_data(data, ["cmd:menu"]) is None
    assert tg.resolve_callback_data(short, []) == short


def test_reply_maps_to_messages_with_keyboard_on_the_last_part():
    reply = Reply("a" * 5000, (Button("Ja", "ans:yes"), Button("Nej", "ans:no")))
    parts = tg.messages_for(reply, "Välj:")
    assert len(parts) == 2 and parts[0][1] is None
    buttons = [b for row in parts[1][1].inline_keyboard for b in row]
    assert [(b.text, b.callback_data) for b in buttons] == [("Ja", "ans:yes"), ("Nej", "ans:no")]
    assert tg.messages_for(Reply("", (Button("Ja", "ans:yes"),)), "Välj:")[0][0] == "Välj:"
    assert tg.messages_for(Reply("   "), "Välj:") == []


def test_settings_from_environment():
    assert tg.TelegramSettings.from_env({}) is None
    assert tg.TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": "  "}) is None
    s = tg.TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": "1:a", "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot",
                                      "TELEGRAM_WEBHOOK_URL": "http://127.0.0.1:8/telegram/hook",
                                      "TELEGRAM_WEBHOOK_SECRET": ""})
    assert s.base_file_url == "http://127.0.0.1:9/file/bot" and s.webhook_path == "/telegram/hook"
    assert s.webhook_secret == ""
    assert tg.TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": "1:a"}).webhook_secret is None
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_URL"):
        tg.TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": "1:a", "TELEGRAM_WEBHOOK_URL": "not a url"})
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET"):
        tg.TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": "1:a", "TELEGRAM_WEBHOOK_SECRET": "a b"})


# Through the Application ----------------------------------------------------------------------

async def test_start_sends_greeting_privacy_line_and_menu_keyboard(channel, request_):
    await feed(channel, message_update(CHAT, "/start", lang="en"))
    sent = request_.sent()
    assert len(sent) == 2
    assert sent[0]["chat_id"] == CHAT
    assert sent[0]["text"].startswith("Hello!") and "public record" in sent[0]["text"]
    assert "/integritet" in sent[0]["text"]
    assert "What can I help you with?" in sent[1]["text"]
    buttons = keyboard_of(sent[1])
    assert [b["callback_data"] for b in buttons] == ["flow:account", "flow:activation", "faq:hours-overview",
                                                     "flow:data_rights", "cmd:human"]
    assert buttons[2]["text"] == "Opening hours"
    assert all("parse_mode" not in p for p in sent), "plain text: nothing to escape"


async def test_start_in_swedish_for_a_swedish_client(channel, request_):
    await feed(channel, message_update(CHAT, "/start", lang="sv"))
    assert request_.texts()[0].startswith("Hej!") and "Vad vill du ha hjälp med?" in request_.texts()[1]


async def test_press_answers_query_removes_keyboard_and_continues(channel, request_):
    await feed(channel, message_update(CHAT, "/start"))
    request_.clear()
    await feed(channel, callback_update(CHAT, "faq:hours-overview", message_id=2))
    methods = [name for name, _ in request_.calls]
    assert methods[0] == "answerCallbackQuery"
    edit = request_.sent("editMessageReplyMarkup")
    assert len(edit) == 1 and edit[0]["chat_id"] == CHAT and edit[0]["message_id"] == 2
    assert "reply_markup" not in edit[0], "an edit without reply_markup removes the keyboard"
    assert "035-13 70 00" in "\n".join(request_.texts())

    request_.clear()
    await feed(channel, callback_update(CHAT, "faq:hours-overview", message_id=2))
    assert [name for name, _ in request_.calls] == ["answerCallbackQuery"], "a second tap does nothing"


async def test_stale_button_gets_a_polite_answer(channel, request_):
    await feed(channel, message_update(CHAT, "/start"))
    request_.clear()
    await feed(channel, callback_update(CHAT, "ans:yes", message_id=9))
    assert request_.texts() == [channel.engine.t("telegram.button_expired", "sv")]


async def test_hashed_callback_data_reaches_the_engine_as_the_payload(channel, request_, monkeypatch):
    long_payload = "faq:" + "x" * 80
    seen = []

    async def capture(turn):
        seen.append(turn.inbound.button)
        return [Reply("ok")]

    intercept_with(channel, capture)
    await feed(channel, message_update(CHAT, "hej"))  # creates the conversation
    session = tg.session_for(channel.key, CHAT)
    conv = await channel.engine.store.load(session)
    conv.state["offered"] = [{"label": "Lång", "payload": long_payload}]  # as if the bot had offered a button with a long payload
    await channel.engine.store.commit(session, conv.state, [])
    await feed(channel, callback_update(CHAT, tg.callback_data_for(long_payload), message_id=3))
    assert seen[-1] == long_payload


async def test_chat_id_is_kept_in_state_for_later_delivery(channel, request_):
    await feed(channel, message_update(CHAT, "när har ni öppet?"))
    conv = await channel.engine.store.load(tg.session_for(channel.key, CHAT))
    assert conv.state["reply_to"] == {"telegram_chat_id": CHAT}
    assert conv.state["channel"] == "telegram"


async def test_photo_gets_text_only_reply_in_the_users_language(channel, request_):
    photo = [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]
    await feed(channel, message_update(CHAT, None, lang="en", photo=photo))
    assert request_.texts() == [channel.engine.t("telegram.text_only", "en")]
    voice = {"file_id": "v", "file_unique_id": "v", "duration": 2}
    await feed(channel, message_update(CHAT + 1, None, lang="sv", voice=voice))
    assert request_.texts()[-1] == channel.engine.t("telegram.text_only", "sv")
    assert await channel.engine.store.load(tg.session_for(channel.key, CHAT)) is None, \
        "a refusal stores no conversation"


async def test_group_chat_is_told_to_use_a_private_chat(channel, request_):
    await feed(channel, message_update(-100777, "/start", chat_type="supergroup", lang="en"))
    assert request_.texts() == [channel.engine.t("telegram.private_only", "en")]
    assert request_.sent()[0]["chat_id"] == -100777


async def test_long_reply_is_split_with_keyboard_on_last_message(channel, request_):
    long = "\n\n".join(f"Stycke {i}." + " text" * 300 for i in range(5))

    async def long_answer(turn):
        return [Reply(long, (Button("Meny", "cmd:menu"),))]

    intercept_with(channel, long_answer)
    await feed(channel, message_update(CHAT, "berätta allt"))
    sent = request_.sent()
    assert len(sent) >= 2 and all(tg.utf16_len(p["text"]) <= 4096 for p in sent)
    assert "\n\n".join(p["text"] for p in sent) == long
    assert [keyboard_of(p) != [] for p in sent] == [False] * (len(sent) - 1) + [True]


async def test_commands_are_registered_in_swedish_and_english(channel, request_):
    await channel.register_commands()
    calls = request_.sent("setMyCommands")
    assert [c.get("language_code") for c in calls] == [None, "sv", "en"]
    for call in calls:
        names = [c["command"] if isinstance(c, dict) else c.command for c in call["commands"]]
        assert names == ["start", "hjalp", "meny", "sprak", "avbryt", "integritet"]
    described = lambda call: [c["description"] if isinstance(c, dict) else c.description for c in call["commands"]]
    assert described(calls[1])[2] == "Visa menyn" and described(calls[2])[2] == "Show the menu"


async def test_set_my_commands_failure_does_not_stop_the_channel(channel, request_):
    request_.fail("setMyCommands", 404, {"ok": False, "error_code": 404, "description": "Not Found"}, times=3)
    await channel.register_commands()  # no exception


async def test_flood_wait_and_network_errors_are_retried(channel, request_):
    request_.fail("sendMessage", 429, {"ok": False, "error_code": 429, "description": "Too Many Requests",
                                        "parameters": {"retry_after": 0}})
    request_.fail("sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    await feed(channel, message_update(CHAT, "när har ni öppet?"))
    delivered = [t for t in request_.texts() if "035-13 70 00" in t]
    assert len(request_.sent()) == 3 and len(delivered) == 3  # two failed attempts, one success


async def test_permanent_network_failure_gives_up_without_crashing(channel, request_):
    request_.fail("sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}, times=50)
    await feed(channel, message_update(CHAT, "när har ni öppet?"))
    assert len(request_.sent()) == tg.SEND_ATTEMPTS
    request_.failures.clear()
    await feed(channel, message_update(CHAT, "hej"))
    assert request_.texts()[-1], "the next update is handled normally"


async def test_engine_failure_is_logged_without_text_and_answered(channel, request_, caplog):
    secret_text = "mitt personnummer är hemligt 19121212-1212"

    async def broken(turn):
        raise RuntimeError("boom")

    intercept_with(channel, broken)
    with caplog.at_level(logging.DEBUG):
        await feed(channel, message_update(CHAT, secret_text))
    assert request_.texts() == [channel.engine.t("core.error", "sv")]
    assert "hemligt" not in caplog.text and "19121212" not in caplog.text
    assert "RuntimeError" in caplog.text


async def test_two_updates_of_one_chat_are_answered_in_order(channel, request_):
    """The first turn is slow and so is sending its reply; the second must still be answered
    after it (per-chat ordering: the engine's lock alone is released before replies go out),
    while another chat is not held up."""
    release = asyncio.Event()
    order = []

    async def slow_first(turn):
        if turn.text == "första":
            await release.wait()
        order.append(turn.text)
        return [Reply(f"svar på {turn.text}")]

    intercept_with(channel, slow_first)
    request_.slow_texts["svar på första"] = 0.3
    await channel.application.start()
    queue = channel.application.update_queue
    bot = channel.application.bot
    await queue.put(Update.de_json(message_update(CHAT, "första"), bot))
    await queue.put(Update.de_json(message_update(CHAT, "andra"), bot))
    await queue.put(Update.de_json(message_update(CHAT + 5, "annan chatt"), bot))
    for _ in range(200):
        if "svar på annan chatt" in request_.texts():
            break
        await asyncio.sleep(0.01)
    assert request_.texts() == ["svar på annan chatt"], "another chat is not blocked by a slow one"
    release.set()
    for _ in range(200):
        if len(request_.texts()) == 3:
            break
        await asyncio.sleep(0.01)
    assert request_.texts() == ["svar på annan chatt", "svar på första", "svar på andra"]


async def test_outbound_message_reaches_the_chat(channel, request_):
    await feed(channel, message_update(CHAT, "när har ni öppet?"))
    request_.clear()
    session = tg.session_for(channel.key, CHAT)
    await channel.engine.post(session, [Reply("Hej, jag heter Alex och hjälper dig.", (Button("Meny", "cmd:menu"),))],
                              sender="agent")
    for _ in range(100):
        if request_.sent():
            break
        await asyncio.sleep(0.01)
    sent = request_.sent()
    assert [p["text"] for p in sent] == ["Hej, jag heter Alex och hjälper dig."]
    assert sent[0]["chat_id"] == CHAT and keyboard_of(sent[0])[0]["callback_data"] == "cmd:menu"


async def test_outbound_for_other_channels_is_ignored(channel, request_):
    from common.messages import Inbound

    await channel.engine.handle(Inbound(session="web-1", text="hej", channel="web"))
    await channel.engine.post("web-1", [Reply("till webben")], sender="agent")
    await asyncio.sleep(0.05)
    assert request_.sent() == []


async def test_polling_mode_starts_the_updater(make_engine, tmp_path):
    """Without a webhook URL the channel polls: it drops the webhook and calls getUpdates."""
    requests = RecordingRequest()
    updates = RecordingRequest()
    settings = tg.TelegramSettings(token=TOKEN)
    chan = tg.TelegramChannel(settings, tmp_path, request=requests, get_updates_request=updates)
    chan.bind(make_engine(listeners=[chan.on_outbound]))
    await chan.start()
    try:
        for _ in range(100):
            if updates.sent("getUpdates"):
                break
            await asyncio.sleep(0.01)
        assert updates.sent("getUpdates"), "the updater polls"
        assert requests.sent("deleteWebhook"), "polling removes a webhook first"
        assert chan.ready.is_set()
    finally:
        await chan.stop()
    assert not chan.application.running
