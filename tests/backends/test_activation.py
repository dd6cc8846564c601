"""The activation backend end to end: real HTTP on loopback, a real SMTP server, real forms.

Each test starts the backend (mounted at /activation/ as `serve` does, or alone) on a free
loopback port and an aiosmtpd server the backend mails through, then drives it like the bot and a
guardian's browser would: the API with the bearer token, the e-mail's link, the HTML forms parsed
with html.parser, and app-login.
"""
from __future__ import annotations

import asyncio
import email
import email.policy
import json
import logging
import mailbox
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from backends.activation import (
    ActivationConfig, QuerylessAccessLogger, add_account, create_app, load_texts,
)
from backends.activation.store import read_tables
from backends.mail import DEFAULT_FROM, Mailer

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-backend-token-0123456789"
GUARDIAN = "guardian@example.se"
STRANGER = "nobody@example.se"
GOOD_PASSWORD = "Korvbrod-med-senap-7"
TEXTS = load_texts(ROOT / "knowledge")


# Test doubles and helpers ---------------------------------------------------------------------

class Clock:
    """A clock the test moves by hand (the backend's injected clock)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class MailCollector:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self._lock = threading.Lock()
        self.port = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"

    def count(self) -> int:
        with self._lock:
            return len(self.messages)


class LoopbackController(Controller):
    """An aiosmtpd controller that may bind port 0 (it learns its port before the self-check)."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class PageParser(HTMLParser):
    """Collect what a browser would use from a page: forms with their fields, links, lang."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang: str | None = None
        self.forms: list[dict] = []
        self.links: list[dict] = []
        self.labels: set[str] = set()
        self.ids: set[str] = set()
        self.h1: list[str] = []
        self.text: list[str] = []
        self._in_h1 = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"),
                               "fields": {}, "types": {}})
        elif tag == "input" and self.forms:
            name = a.get("name")
            if name:
                self.forms[-1]["fields"][name] = a.get("value", "")
                self.forms[-1]["types"][name] = a.get("type", "text")
        elif tag == "a":
            self.links.append(a)
        elif tag == "label" and "for" in a:
            self.labels.add(a["for"])
        elif tag == "h1":
            self._in_h1 = True

    def handle_endtag(self, tag):
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_h1:
            self.h1.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    return parser


@dataclass
class Reply:
    """A response read completely: status, headers, body, final URL and the parsed page."""

    status: int
    headers: dict
    body: bytes
    url: str
    history: list[int] = field(default_factory=list)

    @property
    def page(self) -> PageParser:
        return parse(self.body.decode("utf-8"))

    @property
    def json(self):
        return json.loads(self.body)


async def _reply(resp: aiohttp.ClientResponse) -> Reply:
    body = await resp.read()
    return Reply(resp.status, dict(resp.headers), body, str(resp.url),
                 [h.status for h in resp.history])


@dataclass
class Backend:
    """One running backend with its clock, data directory, SMTP inbox and a browser-like client."""

    base: str
    config: ActivationConfig
    clock: Clock
    data_dir: Path
    smtp: MailCollector
    http: aiohttp.ClientSession

    async def request_activation(self, address: object = GUARDIAN, *, token: str | None = TOKEN,
                                 **extra) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        payload = {"email": address, **extra}
        async with self.http.post(f"{self.base}/api/activation-requests", json=payload,
                                  headers=headers) as resp:
            return await _reply(resp)

    async def post_raw(self, path: str, data: bytes, *, token: str | None = TOKEN,
                       content_type: str = "application/json") -> Reply:
        headers = {"Content-Type": content_type}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.post(f"{self.base}{path}", data=data, headers=headers) as resp:
            return await _reply(resp)

    async def app_login(self, username: str, password: str) -> Reply:
        async with self.http.post(f"{self.base}/api/app-login",
                                  json={"username": username, "password": password}) as resp:
            return await _reply(resp)

    async def get(self, url: str, **kwargs) -> Reply:
        async with self.http.get(url, **kwargs) as resp:
            return await _reply(resp)

    async def submit(self, reply: Reply, form_index: int = 0, *, allow_redirects: bool = True,
                     **fields: str) -> Reply:
        """Submit a form of the page in `reply` as a browser would, overriding some fields."""
        form = reply.page.forms[form_index]
        data = dict(form["fields"])
        data.update(fields)
        async with self.http.post(urljoin(reply.url, form["action"]), data=data,
                                  allow_redirects=allow_redirects) as resp:
            return await _reply(resp)

    async def wait_for_mail(self, count: int = 1, timeout: float = 5.0) -> EmailMessage:
        """Wait until `count` messages have arrived; return the latest."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.smtp.count() < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {count} e-mails, got {self.smtp.count()}")
            await asyncio.sleep(0.02)
        return self.smtp.messages[count - 1][1]

    def stored(self) -> dict:
        """Read the backend's stored document as a restart would."""
        return read_tables(self.data_dir)

    def count(self, table: str) -> int:
        return len(self.stored().get(table, {}))


def link_in(msg: EmailMessage) -> str:
    """Return the activation link in a message's plain-text body."""
    body = msg.get_body(preferencelist=("plain",)).get_content()
    links = [word for word in body.split() if word.startswith("http") and "/activate?code=" in word]
    assert len(set(links)) == 1, body
    return links[0]


async def create_credentials(backend: Backend, link: str, username: str,
                             password: str = GOOD_PASSWORD) -> Reply:
    """Follow the link, press Nästa and submit the credentials form; return the final reply."""
    start = await backend.get(link)
    assert start.status == 200
    step2 = await backend.submit(start)
    assert step2.status == 200, step2.page.all_text
    return await backend.submit(step2, username=username, password=password,
                                password_confirm=password)


# Fixtures ---------------------------------------------------------------------------------------

@pytest.fixture
def smtp_server():
    handler = MailCollector()
    controller = LoopbackController(handler, hostname="127.0.0.1", port=0)
    controller.start()
    handler.port = controller.port
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
async def make_backend(tmp_path, smtp_server):
    started: list[tuple[web.AppRunner, aiohttp.ClientSession]] = []

    async def make(*, mounted: bool = True, mailer: Mailer | None = None, **overrides) -> Backend:
        clock = Clock()
        data_dir = tmp_path / f"data{len(started)}"
        add_account(data_dir, GUARDIAN)
        config = ActivationConfig(
            data_dir=data_dir, token=TOKEN, public_url="http://unset.invalid",
            mailer=mailer or Mailer.smtp("127.0.0.1", smtp_server.port), texts=TEXTS,
            clock=clock, **overrides)
        app = create_app(config)
        served = app
        if mounted:
            served = web.Application()
            served.add_subapp("/activation/", app)
        runner = web.AppRunner(served, access_log_class=QuerylessAccessLogger)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        base = f"http://127.0.0.1:{port}" + ("/activation" if mounted else "")
        config.public_url = base
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        started.append((runner, http))
        return Backend(base, config, clock, data_dir, smtp_server, http)

    yield make
    for runner, http in started:
        await http.close()
        await runner.cleanup()


@pytest.fixture
async def backend(make_backend) -> Backend:
    return await make_backend()


# The whole activation -------------------------------------------------------------------------

@pytest.mark.parametrize("mounted", [True, False], ids=["mounted", "standalone"])
async def test_request_mail_link_forms_then_app_login(make_backend, mounted):
    backend = await make_backend(mounted=mounted)
    reply = await backend.request_activation(GUARDIAN)
    assert reply.status == 202

    msg = await backend.wait_for_mail()
    assert backend.smtp.messages[0][0] == [GUARDIAN]
    assert msg["From"] == DEFAULT_FROM
    assert "Aktivera" in msg["Subject"] and "Activate" in msg["Subject"]
    body = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Nästa" in body and "Next" in body and "24" in body
    link = link_in(msg)
    assert link.startswith(backend.base + "/activate?code=")
    code = parse_qs(urlparse(link).query)["code"][0]
    assert len(code) >= 43  # 32 random bytes, URL-safe
    assert code not in json.dumps(backend.stored())  # only the hash is stored

    start = await backend.get(link)
    page = start.page
    assert start.status == 200
    assert page.forms[0]["fields"]["code"] == code  # the code is filled in
    assert "code" in page.labels
    step2 = await backend.submit(start)
    assert step2.status == 200
    assert set(step2.page.forms[0]["fields"]) >= {"username", "password", "password_confirm"}
    assert {"username", "password", "password_confirm"} <= step2.page.labels

    done = await backend.submit(step2, username="familjen.berg", password=GOOD_PASSWORD,
                                password_confirm=GOOD_PASSWORD)
    assert done.status == 200 and done.history == [303]
    assert urlparse(done.url).path.endswith("/done")
    assert "Skola24-appen" in done.page.all_text

    assert (await backend.app_login("familjen.berg", GOOD_PASSWORD)).status == 200
    assert (await backend.app_login("familjen.berg", GOOD_PASSWORD)).json == {"status": "ok"}
    wrong = await backend.app_login("familjen.berg", "Fel-losenord-123")
    assert wrong.status == 401 and "error" in wrong.json
    assert (await backend.app_login("someone.else", GOOD_PASSWORD)).status == 401

    stored = backend.stored()
    assert GOOD_PASSWORD not in json.dumps(stored)
    creds = list(stored["credentials"].values())
    assert len(creds) == 1 and creds[0]["password_hash"].startswith("$argon2id$")
    assert stored["codes"] == {}  # the code was spent

    # The same link a second time: a clear page, and nothing changes.
    again = await backend.get(link)
    used = await backend.submit(again)
    assert used.status == 410
    assert "halmstad-mobil.skola24.se" in used.page.all_text
    assert backend.stored() == stored


async def test_same_code_cannot_create_credentials_twice(backend):
    await backend.request_activation(GUARDIAN)
    link = link_in(await backend.wait_for_mail())
    start = await backend.get(link)
    step2 = await backend.submit(start)
    first = await backend.submit(step2, username="forsta", password=GOOD_PASSWORD,
                                 password_confirm=GOOD_PASSWORD)
    assert first.status == 200
    # Re-posting the already-rendered credentials form (e.g. the back button) is refused.
    second = await backend.submit(step2, username="andra", password="Annat-langt-losen-9",
                                  password_confirm="Annat-langt-losen-9")
    assert second.status == 410
    assert (await backend.app_login("andra", "Annat-langt-losen-9")).status == 401
    assert (await backend.app_login("forsta", GOOD_PASSWORD)).status == 200


async def test_two_simultaneous_submits_of_one_code_only_one_wins(backend):
    await backend.request_activation(GUARDIAN)
    link = link_in(await backend.wait_for_mail())
    step2 = await backend.submit(await backend.get(link))
    results = await asyncio.gather(
        backend.submit(step2, allow_redirects=False, username="vinnare.ett",
                       password=GOOD_PASSWORD, password_confirm=GOOD_PASSWORD),
        backend.submit(step2, allow_redirects=False, username="vinnare.tva",
                       password=GOOD_PASSWORD, password_confirm=GOOD_PASSWORD),
    )
    assert sorted(r.status for r in results) == [303, 410]
    assert backend.count("credentials") == 1


async def test_expired_code_is_refused(backend):
    await backend.request_activation(GUARDIAN)
    link = link_in(await backend.wait_for_mail())
    backend.clock.advance(hours=24, seconds=1)
    start = await backend.get(link)
    expired = await backend.submit(start)
    assert expired.status == 410
    assert "24" in expired.page.all_text  # says how long a code lasts
    assert backend.count("credentials") == 0


async def test_code_expiring_between_the_two_steps_is_refused(make_backend):
    backend = await make_backend(code_ttl=timedelta(hours=1))
    await backend.request_activation(GUARDIAN)
    link = link_in(await backend.wait_for_mail())
    step2 = await backend.submit(await backend.get(link))
    assert step2.status == 200
    backend.clock.advance(minutes=61)
    late = await backend.submit(step2, username="sen.anvandare", password=GOOD_PASSWORD,
                                password_confirm=GOOD_PASSWORD)
    assert late.status == 410
    assert backend.count("credentials") == 0


async def test_code_still_valid_just_before_expiry(make_backend):
    backend = await make_backend(code_ttl=timedelta(hours=2))
    await backend.request_activation(GUARDIAN)
    link = link_in(await backend.wait_for_mail())
    backend.clock.advance(hours=1, minutes=59)
    done = await create_credentials(backend, link, "snabb.anvandare")
    assert done.status == 200


async def test_nobodys_request_cancels_a_link_already_sent_and_using_one_spends_the_others(backend):
    await backend.request_activation(GUARDIAN, client="the-guardian")
    first_link = link_in(await backend.wait_for_mail(1))
    # A stranger asks for the guardian's address until the per-address cap refuses more mail.
    assert (await backend.request_activation(GUARDIAN, client="a-stranger")).status == 202
    assert (await backend.request_activation(GUARDIAN, client="a-stranger")).status == 202
    assert (await backend.request_activation(GUARDIAN, client="a-stranger")).status == 429
    later_link = link_in(await backend.wait_for_mail(3))
    assert first_link != later_link
    assert backend.count("codes") == 3  # the cap limits mails; it never removes a code
    done = await create_credentials(backend, first_link, "forsta.lanken")  # the guardian's own link works
    assert done.status == 200
    assert backend.count("codes") == 0  # using one link spends the account's others
    spent = await backend.submit(await backend.get(later_link))
    assert spent.status == 410


async def test_activating_again_replaces_the_credentials(backend):
    await backend.request_activation(GUARDIAN)
    await create_credentials(backend, link_in(await backend.wait_for_mail(1)), "gammalt.namn")
    await backend.request_activation(GUARDIAN)
    new_password = "Nytt-och-langt-losen-4"
    done = await create_credentials(backend, link_in(await backend.wait_for_mail(2)), "nytt.namn",
                                    new_password)
    assert done.status == 200
    assert (await backend.app_login("gammalt.namn", GOOD_PASSWORD)).status == 401
    assert (await backend.app_login("nytt.namn", new_password)).status == 200
    assert backend.count("credentials") == 1


async def test_reactivation_may_keep_the_same_username(backend):
    await backend.request_activation(GUARDIAN)
    await create_credentials(backend, link_in(await backend.wait_for_mail(1)), "samma.namn")
    await backend.request_activation(GUARDIAN)
    done = await create_credentials(backend, link_in(await backend.wait_for_mail(2)), "Samma.Namn",
                                    "Glomt-losenordet-igen-1")
    assert done.status == 200
    assert (await backend.app_login("samma.namn", "Glomt-losenordet-igen-1")).status == 200


async def test_username_taken_by_another_account_is_a_form_error(backend):
    add_account(backend.data_dir, "other@example.se")
    await backend.request_activation(GUARDIAN)
    await create_credentials(backend, link_in(await backend.wait_for_mail(1)), "familjen.berg")
    await backend.request_activation("other@example.se")
    taken = await create_credentials(backend, link_in(await backend.wait_for_mail(2)),
                                     "Familjen.Berg", "Helt-annat-losen-55")
    assert taken.status == 422
    assert "upptaget" in taken.page.all_text
    assert backend.count("credentials") == 1
    assert (await backend.app_login("familjen.berg", GOOD_PASSWORD)).status == 200


# No account enumeration -----------------------------------------------------------------------

async def test_registered_and_unregistered_addresses_get_identical_responses(backend):
    registered = await backend.request_activation(GUARDIAN)
    unregistered = await backend.request_activation(STRANGER)
    assert registered.status == unregistered.status == 202
    assert registered.body == unregistered.body

    def comparable(headers: dict) -> dict:
        return {k: v for k, v in headers.items() if k not in ("Date",)}

    assert comparable(registered.headers) == comparable(unregistered.headers)
    await backend.wait_for_mail(1)
    await asyncio.sleep(0.3)
    assert backend.smtp.count() == 1  # only the registered address got mail
    assert backend.count("codes") == 1


async def test_rate_limit_per_address_is_the_same_for_unregistered_addresses(backend):
    replies = {}
    for address in (GUARDIAN, STRANGER):
        for _ in range(3):
            assert (await backend.request_activation(address)).status == 202
        replies[address] = await backend.request_activation(address)
    limited_registered, limited_unregistered = replies[GUARDIAN], replies[STRANGER]
    assert limited_registered.status == limited_unregistered.status == 429
    assert limited_registered.body == limited_unregistered.body
    assert limited_registered.headers["Retry-After"] == limited_unregistered.headers["Retry-After"]
    assert 0 < int(limited_registered.headers["Retry-After"]) <= 3600
    assert "error" in limited_registered.json

    # Case and surrounding spaces do not get around the limit.
    assert (await backend.request_activation("  GUARDIAN@Example.SE ")).status == 429
    await backend.wait_for_mail(3)
    await asyncio.sleep(0.2)
    assert backend.smtp.count() == 3

    backend.clock.advance(hours=1, seconds=1)
    assert (await backend.request_activation(GUARDIAN)).status == 202


async def test_rate_limit_per_client(make_backend):
    backend = await make_backend(per_client_limit=2)
    assert (await backend.request_activation("a@example.se", client="chat-1")).status == 202
    assert (await backend.request_activation("b@example.se", client="chat-1")).status == 202
    limited = await backend.request_activation("c@example.se", client="chat-1")
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0
    assert (await backend.request_activation("c@example.se", client="chat-2")).status == 202


async def test_rate_limit_per_client_defaults_to_the_remote_address(make_backend):
    backend = await make_backend(per_client_limit=1)
    assert (await backend.request_activation("a@example.se")).status == 202
    assert (await backend.request_activation("b@example.se")).status == 429


# Authorisation and bad input ------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "wrong-token", TOKEN + "x", ""])
async def test_activation_request_without_the_right_token_is_401(backend, token):
    reply = await backend.request_activation(GUARDIAN, token=token)
    assert reply.status == 401 and "error" in reply.json
    await asyncio.sleep(0.2)
    assert backend.smtp.count() == 0 and backend.count("codes") == 0


async def test_undecodable_authorization_header_is_401_not_500(backend):
    url = urlparse(backend.base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(b"POST /activation/api/activation-requests HTTP/1.1\r\nHost: x\r\n"
                 b"Authorization: Bearer \xff\xfe\r\nContent-Length: 2\r\n"
                 b"Connection: close\r\n\r\n{}")
    await writer.drain()
    status_line = (await reader.readline()).decode()
    writer.close()
    assert status_line.split()[1] == "401"


async def test_basic_auth_scheme_is_not_accepted(backend):
    async with backend.http.post(f"{backend.base}/api/activation-requests", json={"email": GUARDIAN},
                                 headers={"Authorization": f"Basic {TOKEN}"}) as resp:
        assert resp.status == 401


BAD_BODIES = [
    (b"not json", 400),
    (b"\xff\xfe{", 400),
    (b"[\"guardian@example.se\"]", 400),
    (b"{}", 400),
    (json.dumps({"mail": GUARDIAN}).encode(), 400),
    (json.dumps({"email": 5}).encode(), 422),
    (json.dumps({"email": None}).encode(), 422),
    (json.dumps({"email": GUARDIAN + "\n"}).encode(), 422),
    (json.dumps({"email": GUARDIAN + "\r\nBcc: victim@example.org"}).encode(), 422),
    (json.dumps({"email": GUARDIAN + ", other@example.se"}).encode(), 422),
    (json.dumps({"email": GUARDIAN + ";other@example.se"}).encode(), 422),
    (json.dumps({"email": "guardian@example.se other@example.se"}).encode(), 422),
    (json.dumps({"email": "a" * 250 + "@example.se"}).encode(), 422),
    (json.dumps({"email": "x@" + "a" * 260 + ".se"}).encode(), 422),
    (json.dumps({"email": "no-at-sign.example.se"}).encode(), 422),
    (json.dumps({"email": "two@@example.se"}).encode(), 422),
    (json.dumps({"email": "guardian@example"}).encode(), 422),
    (json.dumps({"email": ""}).encode(), 422),
    (json.dumps({"email": GUARDIAN, "client": 7}).encode(), 400),
    (json.dumps({"email": GUARDIAN, "pad": "x" * 70_000}).encode(), 413),
]


@pytest.mark.parametrize("body,status", BAD_BODIES, ids=[str(i) for i in range(len(BAD_BODIES))])
async def test_bad_activation_requests_are_refused_and_store_nothing(backend, body, status):
    reply = await backend.post_raw("/api/activation-requests", body)
    assert reply.status == status
    assert isinstance(reply.json["error"], str) and reply.json["error"]
    await asyncio.sleep(0.1)
    assert backend.count("codes") == 0 and backend.smtp.count() == 0


async def test_bad_input_does_not_use_up_the_address_budget(backend):
    for _ in range(5):
        assert (await backend.request_activation(GUARDIAN + "\n")).status == 422
    assert (await backend.request_activation(GUARDIAN)).status == 202


@pytest.mark.parametrize("body", [
    b"nope", b"[]", b"{}", json.dumps({"username": "a"}).encode(),
    json.dumps({"username": 1, "password": 2}).encode(),
    json.dumps({"username": "a" * 300, "password": "b"}).encode(),
    json.dumps({"username": "abcd", "password": ""}).encode(),
])
async def test_bad_app_login_bodies_are_400(backend, body):
    reply = await backend.post_raw("/api/app-login", body, token=None)
    assert reply.status == 400 and "error" in reply.json


async def test_wrong_method_and_unknown_path_are_clear_4xx(backend):
    reply = await backend.get(f"{backend.base}/api/app-login")
    assert reply.status == 405 and "error" in reply.json
    missing = await backend.get(f"{backend.base}/no-such-page")
    assert missing.status == 404 and missing.page.lang in ("sv", "en")


async def test_app_login_is_throttled_against_guessing(make_backend):
    backend = await make_backend(login_attempt_limit=3)
    await backend.request_activation(GUARDIAN)
    await create_credentials(backend, link_in(await backend.wait_for_mail()), "gissa.mig")
    for _ in range(3):
        assert (await backend.app_login("gissa.mig", "Fel-losenord-123")).status == 401
    blocked = await backend.app_login("gissa.mig", GOOD_PASSWORD)
    assert blocked.status == 429 and int(blocked.headers["Retry-After"]) > 0
    assert (await backend.app_login("GISSA.MIG", GOOD_PASSWORD)).status == 429
    backend.clock.advance(minutes=15, seconds=1)
    assert (await backend.app_login("gissa.mig", GOOD_PASSWORD)).status == 200


async def test_app_login_is_throttled_per_client_across_usernames(make_backend):
    backend = await make_backend(login_client_limit=4)
    for i in range(4):
        assert (await backend.app_login(f"user{i}", "Fel-losenord-123")).status == 401
    assert (await backend.app_login("user9", "Fel-losenord-123")).status == 429


# The forms ------------------------------------------------------------------------------------

@pytest.mark.parametrize("username,password,confirm,expected", [
    ("abc", GOOD_PASSWORD, GOOD_PASSWORD, "4–32"),
    ("x" * 33, GOOD_PASSWORD, GOOD_PASSWORD, "4–32"),
    ("bad name!", GOOD_PASSWORD, GOOD_PASSWORD, "bara innehålla"),
    ("familjen", "kort-1", "kort-1", "minst 10"),
    ("familjen", "MinFAMILJEN-2026", "MinFAMILJEN-2026", "innehålla användarnamnet"),
    ("familjen", "Password123", "Password123", "vanligt"),
    ("familjen", GOOD_PASSWORD, GOOD_PASSWORD + "x", "inte likadana"),
])
async def test_credential_rules_reshow_the_form_and_store_nothing(backend, username, password,
                                                                  confirm, expected):
    await backend.request_activation(GUARDIAN)
    link = link_in(await backend.wait_for_mail())
    step2 = await backend.submit(await backend.get(link))
    again = await backend.submit(step2, username=username, password=password,
                                 password_confirm=confirm)
    assert again.status == 422
    page = again.page
    assert expected in page.all_text
    fields = page.forms[0]["fields"]
    assert fields["username"] == username  # kept
    assert fields["password"] == "" and fields["password_confirm"] == ""  # never echoed
    assert password.encode() not in again.body
    assert backend.count("credentials") == 0
    # The code is still good: fixing the form succeeds.
    fixed = await backend.submit(again, username="ratt.namn", password=GOOD_PASSWORD,
                                 password_confirm=GOOD_PASSWORD)
    assert fixed.status == 200 and urlparse(fixed.url).path.endswith("/done")


async def test_empty_code_reshows_the_first_form(backend):
    start = await backend.get(f"{backend.base}/activate")
    assert start.status == 200 and start.page.forms[0]["fields"]["code"] == ""
    again = await backend.submit(start, code="")
    assert again.status == 422 and "Fyll i aktiveringskoden" in again.page.all_text


async def test_unknown_or_malformed_code_gets_the_new_code_page(backend):
    for code in ("A" * 43, "not a code!", "x" * 500):
        start = await backend.get(f"{backend.base}/activate")
        reply = await backend.submit(start, code=code)
        assert reply.status == 410
        assert "halmstad-mobil.skola24.se" in reply.page.all_text


async def test_forged_csrf_token_is_refused_and_nothing_is_stored(backend):
    await backend.request_activation(GUARDIAN)
    link = link_in(await backend.wait_for_mail())
    start = await backend.get(link)
    token = start.page.forms[0]["fields"]["csrf"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = await backend.submit(start, csrf=forged)
    assert refused.status == 403
    assert "Inget har sparats" in refused.page.all_text

    step2 = await backend.submit(start)
    # A token made for the first step does not work on the second.
    wrong_purpose = await backend.submit(step2, csrf=token, username="falsk.form",
                                         password=GOOD_PASSWORD, password_confirm=GOOD_PASSWORD)
    assert wrong_purpose.status == 403
    missing = await backend.submit(step2, csrf="", username="falsk.form",
                                   password=GOOD_PASSWORD, password_confirm=GOOD_PASSWORD)
    assert missing.status == 403
    assert backend.count("credentials") == 0


async def test_form_posted_without_the_browser_cookie_is_refused(backend):
    await backend.request_activation(GUARDIAN)
    link = link_in(await backend.wait_for_mail())
    step2 = await backend.submit(await backend.get(link))
    form = step2.page.forms[0]
    data = dict(form["fields"], username="annan.sajt", password=GOOD_PASSWORD,
                password_confirm=GOOD_PASSWORD)
    # Another site's page can copy a token but cannot make the browser send our cookie along.
    async with aiohttp.ClientSession() as stranger:
        async with stranger.post(urljoin(step2.url, form["action"]), data=data) as resp:
            assert resp.status == 403
    assert backend.count("credentials") == 0


async def test_stale_csrf_token_is_refused(backend):
    await backend.request_activation(GUARDIAN)
    link = link_in(await backend.wait_for_mail())
    start = await backend.get(link)
    backend.clock.advance(hours=3)
    assert (await backend.submit(start)).status == 403


async def test_malformed_form_posts_get_a_clear_page(backend):
    await backend.request_activation(GUARDIAN)
    link = link_in(await backend.wait_for_mail())
    step2 = await backend.submit(await backend.get(link))
    url = urljoin(step2.url, step2.page.forms[0]["action"])
    fields = step2.page.forms[0]["fields"]
    cases = [
        (json.dumps(fields).encode(), "application/json", 415),
        (b"code=a&code=b&csrf=x", "application/x-www-form-urlencoded", 400),
        (b"username=%ff%fe&password=x", "application/x-www-form-urlencoded", 400),
        (("username=" + "u" * 5000).encode(), "application/x-www-form-urlencoded", 400),
        (b"a=" + b"x" * 70_000, "application/x-www-form-urlencoded", 413),
    ]
    for body, content_type, status in cases:
        async with backend.http.post(url, data=body, headers={"Content-Type": content_type}) as resp:
            assert resp.status == status, body[:40]
            assert "text/html" in resp.headers["Content-Type"]
            assert parse(await resp.text()).h1
    assert backend.count("credentials") == 0


# Language, accessibility, headers -------------------------------------------------------------

async def test_pages_follow_lang_parameter_and_accept_language(backend):
    sv = await backend.get(f"{backend.base}/activate?code=abc")
    assert sv.page.lang == "sv" and "Nästa" in sv.page.all_text
    switch = [link for link in sv.page.links if link.get("hreflang") == "en"]
    assert switch and switch[0]["lang"] == "en"
    en = await backend.get(urljoin(sv.url, switch[0]["href"]))
    assert en.page.lang == "en" and "Next" in en.page.all_text
    assert en.page.forms[0]["fields"]["code"] == "abc"  # the switch keeps the code

    negotiated = await backend.get(f"{backend.base}/activate",
                                   headers={"Accept-Language": "de-DE, en-GB;q=0.8, sv;q=0.5"})
    assert negotiated.page.lang == "en"
    swedish = await backend.get(f"{backend.base}/activate",
                                headers={"Accept-Language": "sv-SE,sv;q=0.9,en;q=0.8"})
    assert swedish.page.lang == "sv"


async def test_english_flow_keeps_english_through_the_forms(backend):
    await backend.request_activation(GUARDIAN)
    link = link_in(await backend.wait_for_mail()) + "&lang=en"
    step2 = await backend.submit(await backend.get(link))
    assert step2.page.lang == "en"
    errors = await backend.submit(step2, username="ab", password="x", password_confirm="y")
    assert errors.page.lang == "en" and "at least 10" in errors.page.all_text
    done = await backend.submit(errors, username="english.user", password=GOOD_PASSWORD,
                                password_confirm=GOOD_PASSWORD)
    assert done.page.lang == "en" and "only in the Skola24 app" in done.page.all_text


async def test_pages_are_accessible_by_construction(backend):
    await backend.request_activation(GUARDIAN)
    link = link_in(await backend.wait_for_mail())
    start = await backend.get(link)
    step2 = await backend.submit(start)
    errors = await backend.submit(step2, username="ab", password="x", password_confirm="y")
    for reply in (start, step2, errors):
        page = reply.page
        assert page.lang in ("sv", "en") and len(page.h1) == 1
        visible = [n for n, t in page.forms[0]["types"].items() if t != "hidden"]
        assert visible and all(name in page.labels and name in page.ids for name in visible)
        assert b'name="viewport"' in reply.body
    assert b'aria-invalid="true"' in errors.body and b'role="alert"' in errors.body
    css = await backend.get(f"{backend.base}/style.css")
    assert css.status == 200 and b"focus-visible" in css.body and b"max-width" in css.body
    assert b"<script" not in start.body + step2.body + errors.body


async def test_security_headers_on_pages_and_api(backend):
    page = await backend.get(f"{backend.base}/activate?code=abc")
    api = await backend.request_activation(GUARDIAN)
    for reply in (page, api):
        assert "default-src 'self'" in reply.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in reply.headers["Content-Security-Policy"]
        assert reply.headers["X-Frame-Options"] == "DENY"
        assert reply.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/activation" in cookie


async def test_logs_hold_no_address_username_or_code(backend, caplog):
    caplog.set_level(logging.DEBUG)
    await backend.request_activation(GUARDIAN)
    await backend.request_activation(STRANGER)
    link = link_in(await backend.wait_for_mail())
    await create_credentials(backend, link, "hemlig.anvandare")
    await backend.app_login("hemlig.anvandare", "Fel-losenord-123")
    code = parse_qs(urlparse(link).query)["code"][0]
    # Everything but the test's own SMTP server (which logs what it receives).
    logged = "\n".join(record.getMessage() for record in caplog.records
                       if not record.name.startswith("mail.log"))
    assert "activation_request accepted" in logged
    assert "POST /activation/api/activation-requests 202" in logged  # the access log is on
    for secret in (GUARDIAN, STRANGER, "guardian", "hemlig.anvandare", code, GOOD_PASSWORD):
        assert secret not in logged


# Mail and accounts ----------------------------------------------------------------------------

async def test_maildir_mailer_delivers_into_the_outbox(tmp_path):
    outbox = tmp_path / "var" / "outbox"
    mailer = Mailer.maildir(outbox)
    msg = EmailMessage()
    msg["To"] = GUARDIAN
    msg["Subject"] = "Aktivera Skola24-appen"
    msg.set_content("Hej! Länk: http://example.invalid/activate?code=abc")
    await mailer.send(msg)
    box = mailbox.Maildir(str(outbox), create=False)
    stored = [email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
              for key in box.keys()]
    assert len(stored) == 1
    assert stored[0]["To"] == GUARDIAN and stored[0]["From"] == DEFAULT_FROM
    assert stored[0]["Message-ID"] and stored[0]["Date"]
    assert "Länk" in stored[0].get_content()


async def test_activation_through_the_maildir_outbox(make_backend, tmp_path):
    outbox = tmp_path / "outbox"
    backend = await make_backend(mailer=Mailer.maildir(outbox, sender="Test <t@example.se>"))
    assert (await backend.request_activation(GUARDIAN)).status == 202
    for _ in range(250):
        if outbox.exists() and len(mailbox.Maildir(str(outbox), create=False)) == 1:
            break
        await asyncio.sleep(0.02)
    box = mailbox.Maildir(str(outbox), create=False)
    msg = email.message_from_bytes(box.get_bytes(next(iter(box.keys()))), policy=email.policy.default)
    assert msg["From"] == "Test <t@example.se>"
    done = await create_credentials(backend, link_in(msg), "maildir.user")
    assert done.status == 200
    assert (await backend.app_login("maildir.user", GOOD_PASSWORD)).status == 200


def test_add_account_is_idempotent_and_validates(tmp_path):
    add_account(tmp_path, "Guardian@EXAMPLE.se")
    add_account(tmp_path, " guardian@example.se ")
    stored = read_tables(tmp_path)
    assert [doc["email"] for doc in stored["accounts"].values()] == ["Guardian@example.se"]
    for bad in ("not-an-address", "a@b.se\nBcc: c@d.se", "a@b.se, c@d.se", "x" * 300 + "@b.se"):
        with pytest.raises(ValueError, match="invalid e-mail address"):
            add_account(tmp_path, bad)
    assert len(read_tables(tmp_path)["accounts"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["activation.journal", "activation.json"]


async def test_mail_to_a_registered_address_matches_case_insensitively(backend):
    assert (await backend.request_activation("GUARDIAN@EXAMPLE.SE")).status == 202
    await backend.wait_for_mail()
    assert backend.smtp.messages[0][0] == [GUARDIAN]


async def test_smtp_failure_is_logged_without_the_address_and_changes_no_answer(make_backend, caplog):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    backend = await make_backend(mailer=Mailer.smtp("127.0.0.1", port, timeout=2))
    caplog.set_level(logging.INFO)
    reply = await backend.request_activation(GUARDIAN)
    assert reply.status == 202
    for _ in range(200):
        if any("failed" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.02)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "activation_request failed" in logged and GUARDIAN not in logged


# Running alone --------------------------------------------------------------------------------

def test_module_refuses_to_start_without_a_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HALMSTAD_BACKEND_TOKEN"}
    result = subprocess.run([sys.executable, "-m", "backends.activation", "--port", "0",
                             "--data-dir", str(tmp_path)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "HALMSTAD_BACKEND_TOKEN" in result.stderr


async def test_module_runs_alone_with_a_maildir_outbox(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = dict(os.environ, HALMSTAD_BACKEND_TOKEN=TOKEN)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "backends.activation", "--port", str(port), "--data-dir",
        str(tmp_path), "--add-account", GUARDIAN, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"{base}/api/health") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            async with http.post(f"{base}/api/activation-requests", json={"email": GUARDIAN},
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                assert resp.status == 202
            outbox = tmp_path / "outbox"
            for _ in range(200):
                if outbox.exists() and len(mailbox.Maildir(str(outbox), create=False)):
                    break
                await asyncio.sleep(0.05)
            box = mailbox.Maildir(str(outbox), create=False)
            msg = email.message_from_bytes(box.get_bytes(next(iter(box.keys()))),
                                           policy=email.policy.default)
            assert link_in(msg).startswith(f"{base}/activate?code=")
    finally:
        proc.terminate()
        await proc.wait()


# In a real browser ----------------------------------------------------------------------------

AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_RULES = "{runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}"


@pytest.mark.browser
@pytest.mark.skipif(not (Path("/usr/bin/chromium").exists() and AXE_JS.exists()),
                    reason="needs Debian chromium and node_modules/axe-core")
async def test_pages_in_chromium_at_320px_without_javascript_pass_axe(backend):
    from playwright.async_api import async_playwright

    await backend.request_activation(GUARDIAN)
    link = link_in(await backend.wait_for_mail())
    axe = AXE_JS.read_text()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium")
        try:
            # JavaScript off for the guardian's side: the forms must work without it. A second
            # context with JavaScript runs axe on the same HTML.
            nojs = await browser.new_context(java_script_enabled=False, locale="sv-SE",
                                             viewport={"width": 320, "height": 640})
            checker = await browser.new_context(bypass_csp=True, viewport={"width": 320, "height": 640})
            page = await nojs.new_page()
            audit = await checker.new_page()
            seen = []

            async def check() -> None:
                html = await page.content()
                await audit.set_content(html)
                await audit.evaluate(axe)
                result = await audit.evaluate(f"axe.run(document, {AXE_RULES})")
                assert result["violations"] == [], [v["id"] for v in result["violations"]]
                width = await audit.evaluate("document.documentElement.scrollWidth")
                assert width <= 320  # reflows, no horizontal scrolling
                seen.append(await page.title())

            await page.goto(link)
            await check()
            await page.get_by_role("button", name="Nästa").click()
            await page.get_by_label("Användarnamn").fill("ab")
            await page.get_by_label("Lösenord", exact=True).fill("kort")
            await page.get_by_label("Upprepa lösenordet").fill("annat")
            await page.get_by_role("button", name="Skapa").click()
            await check()
            assert await page.get_by_label("Användarnamn").input_value() == "ab"
            await page.get_by_label("Användarnamn").fill("webblasare")
            await page.get_by_label("Lösenord", exact=True).fill(GOOD_PASSWORD)
            await page.get_by_label("Upprepa lösenordet").fill(GOOD_PASSWORD)
            await page.get_by_role("button", name="Skapa").click()
            await check()
            assert "/done" in page.url
            assert len(seen) == 3
        finally:
            await browser.close()
    assert (await backend.app_login("webblasare", GOOD_PASSWORD)).status == 200
