"""The activation end to end: a real `serve` app, a real SMTP server, the link followed by HTTP.

Chat (POST /api/chat) → the activation backend mounted in the same app, reached over loopback HTTP
by the bot's client → the e-mail arrives at aiosmtpd (or in the Maildir outbox) → its link and
forms are followed like a browser without JavaScript would → `app-login` accepts the credentials.
Also: the backend unreachable, slow or failing → the chat answers within 2 s with the apology and
Halmstad direkt's contact details, and the conversation goes on; and the client on its own
against real loopback servers.
"""
from __future__ import annotations

import asyncio
import json
import signal
import email
import email.policy
import mailbox
import re
import threading
import time
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from backends.activation.app import add_account
from bot.app import ServeConfig, build_app
from bot.clients.activation import ActivationClient
from tests.conftest import free_port

GUARDIAN = "guardian@example.com"
PASSWORD = "Sillsallad-med-dill-42"
PHONE = "035-13 70 00"
CONTACT_EMAIL = "direkt@halmstad.se"


# Helpers --------------------------------------------------------------------------------------

class MailCollector:
    """An aiosmtpd handler keeping every message it receives (called from its own thread)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"

    def snapshot(self) -> list[tuple[list[str], EmailMessage]]:
        with self._lock:
            return list(self.messages)


@pytest.fixture
def smtp():
    handler = MailCollector()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.port = port
    try:
        yield handler
    finally:
        controller.stop()


class Forms(HTMLParser):
    """Collect a page's forms (action, method, named input values) as a browser would send them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action") or "", "method": (a.get("method") or "get").lower(),
                               "fields": {}})
        elif tag in ("input", "button") and self.forms and a.get("name"):
            if a.get("type") in ("submit",) and tag == "input" and "value" not in a:
                return
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""


def forms_of(html: str) -> list[dict]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


class Served:
    """One running `serve` app on loopback and an HTTP client for the chat API."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.base = f"http://127.0.0.1:{config.port}"
        self.runner: web.AppRunner | None = None
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> "Served":
        self.runner = web.AppRunner(build_app(self.config))
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.config.port).start()
        self.http = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        if self.http:
            await self.http.close()
        if self.runner:
            await self.runner.cleanup()

    async def chat(self, session: str, *, text: str | None = None, button: str | None = None) -> dict:
        body = {"session": session}
        body.update({"text": text} if text is not None else {"button": button})
        async with self.http.post(f"{self.base}/api/chat", json=body) as resp:
            payload = await resp.json()
            assert resp.status == 200, payload
            return payload


def said(reply: dict) -> str:
    return "\n".join(m["text"] for m in reply["messages"])


def payloads(reply: dict) -> list[str]:
    return [b["payload"] for m in reply["messages"] for b in m["buttons"]]


def config_for(tmp_path: Path, **overrides) -> ServeConfig:
    port = free_port()
    values = dict(port=port, data_dir=tmp_path / "data", now="2026-12-01T10:00",
                  public_url=f"http://127.0.0.1:{port}", rate_limit_per_address=0,
                  rate_limit_per_session=0)
    values.update(overrides)
    return ServeConfig(**values)


@pytest.fixture
async def serve():
    started: list[Served] = []

    async def start(config: ServeConfig) -> Served:
        served = await Served(config).start()
        started.append(served)
        return served

    yield start
    for served in reversed(started):
        await served.stop()


async def activate_by_chat(served: Served, session: str, address: str) -> dict:
    """Run the activation conversation up to the backend's answer; return that reply."""
    reply = await served.chat(session, text="jag vill aktivera appen")
    assert "e-legitimation" in said(reply) and "e-postadress" in said(reply)
    reply = await served.chat(session, text=address)
    assert address in said(reply) and "ans:send" in payloads(reply)
    return await served.chat(session, button="ans:send")


async def wait_for(predicate, timeout: float = 10.0):
    """Poll until `predicate()` returns something truthy (mail is sent after the 202)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("timed out waiting")


def maildir_messages(outbox: Path) -> list[EmailMessage] | None:
    """Return the messages in the Maildir outbox (None while it does not exist yet)."""
    if not (outbox / "new").exists():
        return None
    box = mailbox.Maildir(str(outbox), factory=None, create=False)
    try:
        return [email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
                for key in box.keys()]
    finally:
        box.close()


def link_in(msg: EmailMessage) -> str:
    body = msg.get_body(preferencelist=("plain",)).get_content()
    links = set(re.findall(r"https?://\S+/activate\?code=[A-Za-z0-9_-]+", body))
    assert len(links) == 1, "exactly one activation link"
    return links.pop()


async def submit(browser: aiohttp.ClientSession, url: str, html: str, **fields: str):
    """Submit the page's form like a browser: its hidden fields (code, CSRF) plus `fields`."""
    (form,) = forms_of(html)
    assert form["method"] == "post"
    data = {**form["fields"], **fields}
    async with browser.post(urljoin(url, form["action"]), data=data) as resp:
        return resp.status, str(resp.url), await resp.text()


async def create_credentials(link: str, username: str, password: str = PASSWORD) -> tuple[int, str]:
    """Follow the e-mail's link, press "Nästa", fill in the credentials form; return the end."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(link) as resp:
            assert resp.status == 200
            page_url, html = str(resp.url), await resp.text()
        assert "csrf" in forms_of(html)[0]["fields"], "the form carries a CSRF token"
        status, url, html = await submit(browser, page_url, html)
        assert status == 200, html
        assert {"username", "password", "password_confirm"} <= set(forms_of(html)[0]["fields"])
        status, url, html = await submit(browser, url, html, username=username, password=password,
                                         password_confirm=password)
        return status, url


async def app_login(served: Served, username: str, password: str) -> int:
    async with served.http.post(f"{served.base}/activation/api/app-login",
                                json={"username": username, "password": password}) as resp:
        await resp.read()
        return resp.status


# The whole activation --------------------------------------------------------------------------

async def test_chat_mail_link_credentials_app_login_over_smtp(tmp_path, smtp, serve):
    config = config_for(tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port)
    add_account(config.data_dir, GUARDIAN)
    served = await serve(config)

    reply = await activate_by_chat(served, "e2e-smtp", GUARDIAN)
    text = said(reply)
    assert "skräpposten" in text and "24 timmar" in text
    assert "ans:no_email" in payloads(reply)

    messages = await wait_for(smtp.snapshot)
    assert len(messages) == 1
    recipients, msg = messages[0]
    assert recipients == [GUARDIAN] and msg["To"] == GUARDIAN
    link = link_in(msg)
    assert link.startswith(f"{served.base}/activation/activate?code=")

    status, url = await create_credentials(link, "guardian1")
    assert status == 200 and urlparse(url).path.endswith("/done")
    assert await app_login(served, "guardian1", PASSWORD) == 200
    assert await app_login(served, "guardian1", PASSWORD + "x") == 401
    assert await app_login(served, "nobody", PASSWORD) == 401

    # The same code a second time is refused.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(link) as resp:
            page_url, html = str(resp.url), await resp.text()
        status, _, _ = await submit(browser, page_url, html)
        assert status == 410

    # The conversation goes on after the activation.
    reply = await served.chat("e2e-smtp", text="när har ni öppet?")
    assert PHONE in said(reply)


async def test_no_email_resend_sends_a_new_link_that_replaces_the_old(tmp_path, smtp, serve):
    config = config_for(tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port)
    add_account(config.data_dir, GUARDIAN)
    served = await serve(config)
    await activate_by_chat(served, "e2e-resend", GUARDIAN)
    first = link_in((await wait_for(smtp.snapshot))[0][1])

    await served.chat("e2e-resend", button="ans:no_email")
    reply = await served.chat("e2e-resend", button="ans:resend")
    assert "ersätter den gamla" in said(reply)
    messages = await wait_for(lambda: smtp.snapshot() if len(smtp.snapshot()) >= 2 else None)
    second = link_in(messages[1][1])
    assert second != first

    status, _ = await create_credentials(second, "guardian2")
    assert status == 200
    assert await app_login(served, "guardian2", PASSWORD) == 200


async def test_unregistered_address_gets_the_same_chat_answer_and_no_mail(tmp_path, smtp, serve):
    config = config_for(tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port)
    add_account(config.data_dir, GUARDIAN)
    served = await serve(config)
    registered = said(await activate_by_chat(served, "e2e-a", GUARDIAN))
    stranger = said(await activate_by_chat(served, "e2e-b", "stranger@example.com"))
    assert registered.replace(GUARDIAN, "X") == stranger.replace("stranger@example.com", "X")
    await wait_for(smtp.snapshot)
    await asyncio.sleep(0.3)
    assert [r for r, _ in smtp.snapshot()] == [[GUARDIAN]]


async def test_expired_link_is_refused(tmp_path, smtp):
    """The clock is injected: a second run of the app 25 hours later finds the code expired."""
    config = config_for(tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port)
    add_account(config.data_dir, GUARDIAN)
    served = await Served(config).start()
    try:
        await activate_by_chat(served, "e2e-expiry", GUARDIAN)
        link = link_in((await wait_for(smtp.snapshot))[0][1])
    finally:
        await served.stop()
    later = config_for(tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port, port=config.port,
                       public_url=config.public_url, now="2026-12-02T11:00")
    served = await Served(later).start()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            async with browser.get(link) as resp:
                page_url, html = str(resp.url), await resp.text()
            status, _, _ = await submit(browser, page_url, html)
        assert status == 410
    finally:
        await served.stop()


async def test_demo_path_maildir_outbox(tmp_path, serve):
    config = config_for(tmp_path)  # no SMTP server: e-mails go to DATA_DIR/outbox
    add_account(config.data_dir, "demo@example.com")
    served = await serve(config)
    reply = await activate_by_chat(served, "e2e-demo", "demo@example.com")
    assert "skräpposten" in said(reply)

    (msg,) = await wait_for(lambda: maildir_messages(config.data_dir / "outbox"))
    assert msg["To"] == "demo@example.com"
    status, _ = await create_credentials(link_in(msg), "demouser")
    assert status == 200
    assert await app_login(served, "demouser", PASSWORD) == 200
    assert await app_login(served, "demouser", "Fel-losenord-123") == 401


# The backend unreachable, slow or failing -------------------------------------------------------

async def test_unreachable_backend_answers_within_two_seconds_and_goes_on(tmp_path, serve):
    closed = free_port()
    served = await serve(config_for(tmp_path, activation_url=f"http://127.0.0.1:{closed}/activation"))
    await served.chat("e2e-down", text="jag vill aktivera appen")
    await served.chat("e2e-down", text=GUARDIAN)
    began = time.monotonic()
    reply = await served.chat("e2e-down", button="ans:send")
    assert time.monotonic() - began < 2.0
    text = said(reply)
    assert "Förlåt" in text and PHONE in text and CONTACT_EMAIL in text
    assert "cmd:human" in payloads(reply)
    reply = await served.chat("e2e-down", text="när har ni öppet?")
    assert PHONE in said(reply) and "07.00" in said(reply)


@pytest.fixture
async def fake_backend():
    """A stand-in activation backend on loopback whose behaviour a test scripts."""
    state = {"hits": 0, "behaviour": "ok", "requests": []}

    async def handler(request: web.Request) -> web.Response:
        state["hits"] += 1
        state["requests"].append({"auth": request.headers.get("Authorization"),
                                  "body": await request.json()})
        behaviour = state["behaviour"]
        if callable(behaviour):
            behaviour = behaviour(state["hits"])
        if behaviour == "slow":
            await asyncio.sleep(5)
            return web.json_response({"status": "accepted"}, status=202)
        if behaviour == "ok":
            return web.json_response({"status": "accepted"}, status=202)
        if behaviour == "limited":
            return web.json_response({"error": "too many"}, status=429, headers={"Retry-After": "120"})
        if behaviour == "limited-date":
            return web.json_response({"error": "too many"}, status=429,
                                     headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})
        return web.json_response({"error": "x"}, status=int(behaviour))

    app = web.Application()
    app.router.add_post("/activation/api/activation-requests", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    state["url"] = f"http://127.0.0.1:{port}/activation"
    yield state
    await runner.cleanup()


@pytest.mark.parametrize("behaviour", ["slow", "503"])
async def test_slow_or_failing_backend_answers_within_two_seconds(tmp_path, serve, fake_backend, behaviour):
    fake_backend["behaviour"] = behaviour
    served = await serve(config_for(tmp_path, activation_url=fake_backend["url"]))
    await served.chat("e2e-slow", text="activate the app")
    await served.chat("e2e-slow", text=GUARDIAN)
    began = time.monotonic()
    reply = await served.chat("e2e-slow", button="ans:send")
    assert time.monotonic() - began < 2.0
    text = said(reply)
    assert "Sorry" in text and PHONE in text and CONTACT_EMAIL in text
    assert (await served.chat("e2e-slow", text="which domain should i choose"))["messages"]


# The client on its own ----------------------------------------------------------------------------

async def test_client_sends_token_address_and_client_key(fake_backend):
    client = ActivationClient(fake_backend["url"], "s3cret")
    try:
        result = await client.request_activation(GUARDIAN, client="conv-key")
    finally:
        await client.close()
    assert result.status == "ok" and result.ok
    (req,) = fake_backend["requests"]
    assert req["auth"] == "Bearer s3cret"
    assert req["body"] == {"email": GUARDIAN, "client": "conv-key"}


@pytest.mark.parametrize("behaviour, status, retry_after, hits", [
    ("ok", "ok", None, 1),
    ("limited", "rate_limited", 120, 1),
    ("limited-date", "rate_limited", None, 1),
    ("422", "invalid", None, 1),
    ("400", "invalid", None, 1),
    ("401", "unavailable", None, 1),
    ("404", "unavailable", None, 1),
    ("503", "unavailable", None, 2),
    ("500", "unavailable", None, 2),
])
async def test_client_maps_backend_answers(fake_backend, behaviour, status, retry_after, hits):
    fake_backend["behaviour"] = behaviour
    client = ActivationClient(fake_backend["url"], "t")
    try:
        result = await client.request_activation(GUARDIAN)
    finally:
        await client.close()
    assert (result.status, result.retry_after) == (status, retry_after)
    assert fake_backend["hits"] == hits, "only connection errors and 5xx are retried, once"


async def test_client_retries_a_5xx_once_and_succeeds(fake_backend):
    fake_backend["behaviour"] = lambda hit: "503" if hit == 1 else "ok"
    client = ActivationClient(fake_backend["url"], "t")
    try:
        assert (await client.request_activation(GUARDIAN)).status == "ok"
    finally:
        await client.close()
    assert fake_backend["hits"] == 2


async def test_client_slow_backend_gives_up_within_its_budget(fake_backend):
    fake_backend["behaviour"] = "slow"
    client = ActivationClient(fake_backend["url"], "t", timeout=0.5)
    began = time.monotonic()
    try:
        result = await client.request_activation(GUARDIAN)
    finally:
        await client.close()
    assert result.status == "unavailable"
    assert time.monotonic() - began < 0.8
    assert fake_backend["hits"] == 1, "a timeout is not retried"


async def test_client_refused_connection_is_unavailable_fast():
    client = ActivationClient(f"http://127.0.0.1:{free_port()}/activation", "t")
    began = time.monotonic()
    try:
        result = await client.request_activation(GUARDIAN)
    finally:
        await client.close()
    assert result.status == "unavailable"
    assert time.monotonic() - began < 1.0


async def test_client_reuses_one_session_and_closes_it(fake_backend):
    client = ActivationClient(fake_backend["url"], "t")
    await client.request_activation(GUARDIAN)
    session = client._session
    await client.request_activation(GUARDIAN)
    assert client._session is session and not session.closed
    await client.close()
    assert session.closed
    await client.close()  # closing twice is harmless


# `serve --demo` as a real process ----------------------------------------------------------------

async def test_serve_demo_process_chat_to_app_login(tmp_path):
    """The acceptance as an operator runs it: `halmstad-bot serve --demo`, then the chat API."""
    from tests.serving import Server

    data_dir = tmp_path / "var"
    server = Server(data_dir, "--demo", "--now", "2026-12-01T10:00",
                    "--rate-limit-per-address", "0", "--rate-limit-per-session", "0")
    await asyncio.to_thread(server.start)
    try:
        for text in ("jag vill aktivera appen", "demo@example.com"):
            status, answer = await asyncio.to_thread(server.chat, "demo-proc", text)
            assert status == 200, answer
        status, answer = await asyncio.to_thread(server.chat, "demo-proc", button="ans:send")
        assert status == 200 and "skräpposten" in Server.texts(answer)

        (msg,) = await wait_for(lambda: maildir_messages(data_dir / "outbox"))
        assert msg["To"] == "demo@example.com"
        status, _ = await create_credentials(link_in(msg), "demoproc")
        assert status == 200
        for password, expected in ((PASSWORD, 200), ("Fel-losenord-123", 401)):
            status, _ = await asyncio.to_thread(
                server.request, "POST", "/activation/api/app-login",
                json.dumps({"username": "demoproc", "password": password}).encode(),
                {"Content-Type": "application/json"})
            assert status == expected
    finally:
        await asyncio.to_thread(server.kill, signal.SIGTERM)
