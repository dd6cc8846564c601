"""The Telegram channel end to end, in webhook mode, against telemelya on loopback.

Our `serve` app (build_app on a free port, in this process) registers its webhook with telemelya
(an in-process emulator of the Bot API, see emulator.py); a simulated user sends updates through
telemelya's control API and reads what the bot sent. Mail from the activation backend goes to a
real aiosmtpd server.
"""
from __future__ import annotations

import asyncio
import email
import email.policy
import re
import signal
import threading
from html.parser import HTMLParser
from urllib.parse import urljoin

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from backends.activation.app import add_account
from bot.app import RUNTIME_KEY, ServeConfig, build_app
from bot.channels import telegram as tg
from common.messages import Button, Reply
from tests.conftest import free_port
from tests.serving import Server
from tests.telegram.emulator import Telemelya, TelegramUser, buttons, texts

TOKEN = "123456789:ABCDefGhIjKlMnOpQrStUvWxYz"
GUARDIAN = "anna.andersson@example.se"
PASSWORD = "Korrekt-Häst-Batteri-9"


class MailCollector:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


class LoopbackController(Controller):
    """An aiosmtpd controller that may bind port 0 (it learns its port before the self-check)."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class Forms(HTMLParser):
    """The forms of an HTML page with their inputs, as a browser without JavaScript sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")


@pytest.fixture
def emulator():
    emu = Telemelya().start()
    yield emu
    emu.stop()


@pytest.fixture
def smtp():
    handler = MailCollector()
    controller = LoopbackController(handler, hostname="127.0.0.1", port=0)
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
async def served(tmp_path, monkeypatch, emulator, smtp):
    """Our serve app with Telegram on, in webhook mode, pointing at the emulator."""
    port = free_port()
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", f"{emulator.base}/bot")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", f"http://127.0.0.1:{port}/telegram/webhook")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "")  # telemelya does not send the header
    data_dir = tmp_path / "data"
    add_account(data_dir, GUARDIAN)
    config = ServeConfig(port=port, data_dir=data_dir, now="2026-12-01T10:00", rate_limit_per_address=0,
                         rate_limit_per_session=0, smtp_host="127.0.0.1", smtp_port=smtp.port)
    app = build_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    channel: tg.TelegramChannel = app[tg.TELEGRAM_KEY]
    await asyncio.wait_for(channel.ready.wait(), 15)
    async with aiohttp.ClientSession() as http:
        yield app, channel, http, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def user(served, emulator) -> TelegramUser:
    _, _, http, _ = served
    return TelegramUser(http, emulator, TOKEN, chat_id=700100200)


async def test_webhook_is_registered_with_the_emulator(served, emulator):
    _, _, http, base = served
    async with http.post(f"{emulator.base}/bot{TOKEN}/getWebhookInfo") as resp:
        info = await resp.json()
    assert info["result"]["url"] == f"{base}/telegram/webhook"


async def test_start_shows_greeting_and_menu_keyboard_then_a_press_continues(user):
    await user.say("/start")
    msgs = await user.expect(lambda m: any(buttons(x) for x in m))
    assert msgs[0]["text"].startswith("Hej!") and "allmän handling" in msgs[0]["text"]
    menu = msgs[-1]
    assert "Vad vill du ha hjälp med?" in menu["text"]
    labels = [b["text"] for b in buttons(menu)]
    assert labels[:3] == ["Ansöka om konto", "Aktivera mobilappen", "Öppettider"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons(menu))

    await user.press("Öppettider", msgs)
    msgs = await user.expect_text("035-13 70 00")
    assert "07.00" in texts(msgs) and "17.00" in texts(msgs)
    records = await user.records()
    assert any(r["method"] == "answerCallbackQuery" for r in records), "the press is acknowledged"
    edits = [r for r in records if r["method"] == "editMessageReplyMarkup"]
    assert edits and edits[-1]["message_id"] == menu["message_id"]
    # Telegram removes the keyboard on an edit without reply_markup (telemelya keeps its stored copy).
    assert "reply_markup" not in edits[-1]["raw"], "the pressed keyboard is removed"


async def test_opening_hours_question(user):
    await user.say("när har ni öppet?")
    msgs = await user.expect_text("035-13 70 00")
    text = texts(msgs)
    assert "måndag" in text and "07.00" in text and "16.00" in text


async def test_photo_gets_the_text_only_reply(user, served):
    _, channel, _, _ = served
    await user.send_photo()
    msgs = await user.expect(lambda m: True)
    assert [m["text"] for m in msgs] == [channel.engine.t("telegram.text_only", "sv")]


async def test_agent_message_arrives_in_the_chat(user, served):
    app, channel, _, _ = served
    await user.say("när har ni öppet?")
    await user.expect_text("035-13 70 00")
    session = tg.session_for(channel.key, user.chat_id)
    runtime = app[RUNTIME_KEY]
    await runtime.engine.post(session, [Reply("Hej! Jag heter Alex och tar över härifrån.",
                                              (Button("Meny", "cmd:menu"),))], sender="agent")
    msgs = await user.expect_text("Alex")
    assert msgs[0]["text"] == "Hej! Jag heter Alex och tar över härifrån."
    assert [b["text"] for b in buttons(msgs[0])] == ["Meny"]
    assert msgs[0]["chat_id"] == user.chat_id


async def test_whole_activation_flow_with_the_mail(user, served, smtp):
    _, _, http, base = served
    await user.say("/start")
    menu = await user.expect(lambda m: any(buttons(x) for x in m))
    await user.press("Aktivera mobilappen", menu)
    msgs = await user.expect(lambda m: "e-postadress" in texts(m))
    assert "e-legitimation" in texts(msgs)

    await user.say(GUARDIAN)
    msgs = await user.expect(lambda m: any(buttons(x) for x in m))
    assert GUARDIAN in texts(msgs)
    assert smtp.messages == [], "nothing is sent before the guardian confirms"
    await user.press("Ja, skicka", msgs)
    msgs = await user.expect_text("inkorgen")

    for _ in range(200):
        if smtp.messages:
            break
        await asyncio.sleep(0.05)
    assert smtp.messages, "the activation e-mail arrived"
    recipients, mail = smtp.messages[0]
    assert recipients == [GUARDIAN]
    body = mail.get_body(preferencelist=("plain",)).get_content()
    link = next(w for w in body.split() if w.startswith("http") and "/activate?code=" in w)
    assert link.startswith(f"{base}/activation/")

    # The guardian follows the link in a browser (cookies on a loopback IP allowed), presses Nästa
    # and chooses credentials, then logs in to the app with them.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        page_url, html = await _get(browser, link)
        page_url, html = await _submit(browser, page_url, html, {})
        username = "anna_a"
        await _submit(browser, page_url, html, {"username": username, "password": PASSWORD,
                                                "password_confirm": PASSWORD})
    async with http.post(f"{base}/activation/api/app-login",
                         json={"username": username, "password": PASSWORD}) as resp:
        assert resp.status == 200, await resp.text()

    await user.press("Klart, tack", msgs)
    msgs = await user.expect_text("halmstad-mobil.skola24.se")


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[str, str]:
    async with http.get(url) as resp:
        assert resp.status == 200
        return str(resp.url), await resp.text()


async def _submit(http: aiohttp.ClientSession, url: str, html: str, fields: dict) -> tuple[str, str]:
    parser = Forms()
    parser.feed(html)
    form = parser.forms[0]
    async with http.post(urljoin(url, form["action"]), data={**form["fields"], **fields}) as resp:
        assert resp.status == 200, await resp.text()
        return str(resp.url), await resp.text()


async def test_two_chats_are_kept_apart(served, emulator):
    _, _, http, _ = served
    anna = TelegramUser(http, emulator, TOKEN, chat_id=811)
    bert = TelegramUser(http, emulator, TOKEN, chat_id=822, name="Bert")
    await asyncio.gather(anna.say("/start"), bert.say("what are your opening hours?"))
    a = await anna.expect(lambda m: any(buttons(x) for x in m))
    b = await bert.expect_text("035-13 70 00")
    assert "Vad vill du ha hjälp med?" in texts(a) and "035-13 70 00" not in texts(a)
    assert "Monday" in texts(b) and all(m["chat_id"] == 822 for m in b)


async def test_webhook_rejects_bad_bodies(served):
    _, _, http, base = served
    async with http.post(f"{base}/telegram/webhook", data=b"not json",
                         headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 400 and "error" in await resp.json()
    async with http.post(f"{base}/telegram/webhook", json={"hello": 1}) as resp:
        assert resp.status == 400 and "error" in await resp.json()


async def test_webhook_secret_is_checked_when_configured(tmp_path, monkeypatch, emulator):
    port = free_port()
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", f"{emulator.base}/bot")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", f"http://127.0.0.1:{port}/tg/hook")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s3cret-value")
    app = build_app(ServeConfig(port=port, data_dir=tmp_path / "data", now="2026-12-01T10:00"))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.wait_for(app[tg.TELEGRAM_KEY].ready.wait(), 15)
        update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"},
                                              "from": {"id": 1, "is_bot": False, "first_name": "A"}, "text": "hej"}}
        url = f"http://127.0.0.1:{port}/tg/hook"
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=update) as resp:
                assert resp.status == 403
            async with http.post(url, json=update, headers={tg.SECRET_HEADER: "wrong"}) as resp:
                assert resp.status == 403
            async with http.post(url, json=update, headers={tg.SECRET_HEADER: "s3cret-value"}) as resp:
                assert resp.status == 200
    finally:
        await runner.cleanup()


async def test_without_a_token_telegram_is_off(tmp_path, monkeypatch):
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_URL", "TELEGRAM_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    app = build_app(ServeConfig(port=port, data_dir=tmp_path / "data", now="2026-12-01T10:00"))
    assert tg.TELEGRAM_KEY not in app
    assert app[RUNTIME_KEY].telegram is None and tg.TelegramSettings.from_env() is None
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 200
            async with http.post(f"http://127.0.0.1:{port}/api/chat",
                                 json={"session": "web-1", "text": "när har ni öppet?"}) as resp:
                assert resp.status == 200 and "035-13 70 00" in str(await resp.json())
            async with http.post(f"http://127.0.0.1:{port}/telegram/webhook", json={}) as resp:
                assert resp.status in (404, 405)
        assert not (tmp_path / "data" / "telegram").exists()
    finally:
        await runner.cleanup()


@pytest.mark.slow
async def test_serve_process_answers_through_the_emulator(tmp_path, emulator):
    """`halmstad-bot serve` as a process, with the TELEGRAM_* variables pointing at telemelya."""
    port = free_port()
    server = Server(tmp_path / "data", "--now", "2026-12-01T10:00", port=port, env={
        "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": f"{emulator.base}/bot",
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook", "TELEGRAM_WEBHOOK_SECRET": ""})
    await asyncio.to_thread(server.start)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(150):  # the channel connects in the background after startup
                async with http.post(f"{emulator.base}/bot{TOKEN}/getWebhookInfo") as resp:
                    if (await resp.json())["result"]["url"]:
                        break
                await asyncio.sleep(0.1)
            user = TelegramUser(http, emulator, TOKEN, chat_id=4711)
            await user.say("/start")
            msgs = await user.expect(lambda m: any(buttons(x) for x in m), timeout=15)
            assert "Vad vill du ha hjälp med?" in texts(msgs)
            await user.say("när har ni öppet?")
            msgs = await user.expect_text("035-13 70 00", timeout=15)
            assert "07.00" in texts(msgs)
    finally:
        await asyncio.to_thread(server.kill, signal.SIGTERM)
    log = server.log.read_text()
    assert re.search(r"telegram:\s+on", log)
    assert "när har ni öppet" not in log and "Vad vill du" not in log, "no message text in the log"


async def test_agent_reply_through_the_agent_api_reaches_telegram(tmp_path, monkeypatch, emulator):
    """Handoff: the guardian asks for a person in Telegram; an agent accepts in the console API and
    writes; the message arrives in the chat, and the guardian's answer reaches the agent."""
    from bot.handoff.agents import add_agent

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", f"{emulator.base}/bot")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", f"{base}/telegram/webhook")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "")
    data_dir = tmp_path / "data"
    add_agent(data_dir, "alex", "agent-password-123", display_name="Alex")
    app = build_app(ServeConfig(port=port, data_dir=data_dir, now="2026-12-01T10:00",
                                rate_limit_per_address=0, rate_limit_per_session=0))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.wait_for(app[tg.TELEGRAM_KEY].ready.wait(), 15)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as agent, \
                aiohttp.ClientSession() as http:
            async with agent.post(f"{base}/agent/api/login",
                                  json={"username": "alex", "password": "agent-password-123"}) as resp:
                assert resp.status == 200, await resp.text()
            async with agent.post(f"{base}/agent/api/availability", json={"available": True}) as resp:
                assert resp.status == 200, await resp.text()

            user = TelegramUser(http, emulator, TOKEN, chat_id=9_000_001)
            await user.say("/start")
            menu = await user.expect(lambda m: any(buttons(x) for x in m))
            await user.press("Prata med en person", menu)
            await user.expect(lambda m: len(m) >= 1)  # queued: position and expected wait

            async with agent.get(f"{base}/agent/api/queue") as resp:
                queue = await resp.json()
            assert len(queue["waiting"]) == 1, queue
            item_id = queue["waiting"][0]["id"]
            async with agent.post(f"{base}/agent/api/conversations/{item_id}/accept", json={}) as resp:
                assert resp.status == 200, await resp.text()
            await user.expect(lambda m: True)  # e.g. "Alex is here"
            async with agent.post(f"{base}/agent/api/conversations/{item_id}/messages",
                                  json={"text": "Hej, det är Alex. Vad gäller det?"}) as resp:
                assert resp.status == 200, await resp.text()
            msgs = await user.expect_text("Vad gäller det?")
            assert msgs[-1]["chat_id"] == user.chat_id

            await user.say("Min son kommer inte in i appen")
            for _ in range(100):
                async with agent.get(f"{base}/agent/api/conversations/{item_id}") as resp:
                    conversation = await resp.text()
                if "kommer inte in i appen" in conversation:
                    break
                await asyncio.sleep(0.05)
            assert "kommer inte in i appen" in conversation, "the guardian's answer reaches the agent"
    finally:
        await runner.cleanup()
