"""The knowledge page beyond editing: unanswered questions, review reminders (Maildir and real
SMTP), logins kept apart from the data-rights staff, the history's own git dir, the CLI, and a
real `serve` process answering a published entry within 5 s."""
from __future__ import annotations

import asyncio
import mailbox
import re
import signal
import subprocess
import time
from datetime import datetime
from email import message_from_bytes
from pathlib import Path

import aiohttp
import pytest
from aiosmtpd.controller import Controller

from backends.dsr.app import add_staff
from backends.mail import Mailer
from bot.clock import STOCKHOLM, make_clock
from bot.engine import Engine
from bot.holder import KnowledgeHolder
from bot.knowledge import default_knowledge_dir
from bot.staff_page.accounts import add_login
from bot.staff_page.history import SEPARATE_GIT_DIR
from bot.shared_redis.state import SharedState
from bot.staff_page.reviews import due, send_reminders
from common.redis_conn import RedisSettings
from bot.store.tinydb_store import TinyDBStore
from common.messages import Inbound
from flows.ports import Services
from flows.registry import all_flows
from tests.conftest import free_port
from tests.serving import Server
from tests.staff.staffkit import cli
from tests.staff_page.conftest import PASSWORDS, Browser, running

OWNERS = """
staff_page:
  review_needed: true
  owners:
    "Halmstad direkt": "direkt-owner@example.se"
    "Utbildningsförvaltningen": "utbildning-owner@example.se"
"""


# Unanswered questions ---------------------------------------------------------------------------


async def _guardians_asked(data_dir: Path, texts: list[str]) -> None:
    """Conversations stored as `serve` stores them (the store closed again, as after a restart)."""
    holder = KnowledgeHolder(default_knowledge_dir(), all_flows())
    store = TinyDBStore(data_dir / "sessions")
    engine = Engine(source=holder, store=store, flows=holder.flows, clock=make_clock("2026-11-30T10:00"),
                    services=Services())
    try:
        for n, text in enumerate(texts):
            await engine.handle(Inbound(session=f"gap-{n}", text=text))
    finally:
        await store.close()


async def test_gaps_are_masked_and_a_handled_group_is_hidden(tmp_path, kdir):
    await _guardians_asked(tmp_path / "data", [
        "ring mig på 070-123 45 67 om parkeringen", "min mejl är anna.svensson@example.com, parkeringen vid skolan?",
        "hur söker jag bygglov", "hur söker jag bygglov?"])
    async with running(tmp_path / "data", kdir) as srv:
        editor = Browser(srv.base)
        try:
            assert await editor.login("editor") == 303
            await _work_the_gaps(editor)
        finally:
            await editor.close()


@pytest.mark.parametrize("on_redis", [False, True], ids=["embedded", "redis"])
async def test_a_question_just_asked_is_in_the_gaps_with_its_time(tmp_path, kdir, request, on_redis):
    """The list reads the live store: a question asked a moment ago on the running server is
    there at once (the embedded store's files lag its journal by seconds; Redis has no files)."""
    more = {"redis_url": request.getfixturevalue("redis_server").url} if on_redis else {}
    async with running(tmp_path / "data", kdir, **more) as srv:
        editor = Browser(srv.base)
        try:
            assert await editor.login("editor") == 303
            async with aiohttp.ClientSession() as guardian:
                async with guardian.post(f"{srv.base}/api/chat",
                                         json={"session": "gap-live-1", "text": "var hämtar jag ut mitt pass?"}) as resp:
                    assert resp.status == 200
            status, body = await editor.call("GET", "/staff/api/gaps?days=30")
            assert status == 200, body
            [group] = [g for g in body["groups"] if "pass" in g["example"]]
            assert group["count"] == 1 and group["last"].startswith("2026-12-01T10:00")
        finally:
            await editor.close()


async def _work_the_gaps(editor: Browser) -> None:
    status, body = await editor.call("GET", "/staff/api/gaps?days=30")
    assert status == 200, body
    shown = str(body)
    for secret in ("070-123", "45 67", "anna.svensson", "example.com"):
        assert secret not in shown
    groups = {g["example"]: g for g in body["groups"]}
    bygglov = next(g for text, g in groups.items() if "bygglov" in text)
    assert bygglov["count"] == 2 and re.fullmatch(r"[0-9a-f]{16}", bygglov["key"])

    status, added = await editor.call("POST", f"/staff/api/gaps/{bygglov['key']}/phrasing",
                                      {"entry": "absence-wrong", "lang": "sv"})
    assert status == 200, added
    assert bygglov["example"] in added["entry"]["phrasings"]["sv"]
    assert (await editor.call("POST", f"/staff/api/gaps/{bygglov['key']}/handled", {}))[0] == 200
    keys = [g["key"] for g in (await editor.call("GET", "/staff/api/gaps"))[1]["groups"]]
    assert bygglov["key"] not in keys and keys
    assert (await editor.call("POST", "/staff/api/gaps/0000000000000000/handled", {}))[0] == 404


# Review reminders -------------------------------------------------------------------------------


def _owners_knowledge(kdir: Path, overdue: str = "2026-11-01") -> KnowledgeHolder:
    settings = kdir / "settings.yaml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text[:text.index("\n# The knowledge page /staff/")] + OWNERS, encoding="utf-8")
    for name in ("absence.yaml", "contact.yaml"):  # Utbildningsförvaltningen and Halmstad direkt
        path = kdir / "faq" / name
        path.write_text(path.read_text(encoding="utf-8").replace("review_by: 2027-06-30", f"review_by: {overdue}", 2),
                        encoding="utf-8")
    return KnowledgeHolder(kdir, all_flows())


def _mails(outbox: Path) -> list:
    box = mailbox.Maildir(str(outbox), create=False)
    return [box.get_message(key) for key in box.keys()]


async def test_one_reminder_per_owner_per_week_into_the_maildir(tmp_path, kdir):
    holder = _owners_knowledge(kdir)
    mailer, data = Mailer.maildir(tmp_path / "outbox"), tmp_path / "data"
    data.mkdir()
    monday = datetime(2026, 12, 7, 8, 30, tzinfo=STOCKHOLM)
    assert due(monday) and not due(datetime(2026, 12, 7, 7, 59, tzinfo=STOCKHOLM))
    sent = await send_reminders(holder.knowledge, mailer, data, monday)
    again = await send_reminders(holder.knowledge, mailer, data, datetime(2026, 12, 9, 12, 0, tzinfo=STOCKHOLM))
    mails = _mails(tmp_path / "outbox")
    assert (sent, again, len(mails)) == (len(mails), 0, len(mails)) and len(mails) >= 2
    assert len({m["To"] for m in mails}) == len(mails)
    raw = next(m for m in mails if m["To"] == "utbildning-owner@example.se")
    body = raw.get_payload(decode=True).decode(raw.get_content_charset() or "utf-8")
    assert "granskningsdatum" in body and "review date" in body and "2026-11-01" in body
    next_week = await send_reminders(holder.knowledge, mailer, data, datetime(2026, 12, 14, 8, 0, tzinfo=STOCKHOLM))
    assert next_week == len(mails) and len(_mails(tmp_path / "outbox")) == 2 * len(mails)


async def test_reminders_over_real_smtp(tmp_path, kdir):
    holder = _owners_knowledge(kdir)
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.content)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sent = await send_reminders(holder.knowledge, Mailer.smtp("127.0.0.1", port), tmp_path,
                                    datetime(2026, 12, 7, 9, 0, tzinfo=STOCKHOLM))
    finally:
        controller.stop()
    assert sent == len(received) >= 2
    subject = message_from_bytes(received[0])["Subject"]
    assert "granska" in str(subject)


def test_knowledge_remind_sends_now_and_once_a_week(tmp_path, kdir):
    _owners_knowledge(kdir)
    args = ("knowledge", "remind", "--data-dir", str(tmp_path / "data"), "--dir", str(kdir), "--now", "2026-12-08T10:00")
    first, second = cli(*args), cli(*args)
    assert first.returncode == 0, first.stderr
    count = int(first.stdout.split()[0])
    assert count >= 2 and second.stdout.startswith("0 ")
    assert len(_mails(tmp_path / "data" / "outbox")) == count


# Logins kept apart ------------------------------------------------------------------------------


async def _dsr_login(base: str, username: str, password: str) -> str | None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/dsr/login") as resp:
            csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text())[1]
        async with http.post(f"{base}/dsr/login", data={"csrf": csrf, "username": username, "password": password},
                             allow_redirects=False) as resp:
            return resp.headers.get("Location") if resp.status == 303 else None


async def test_knowledge_logins_and_data_rights_logins_are_apart(tmp_path, kdir):
    add_staff(tmp_path / "data", "dpo", "dpo-password-123")
    async with running(tmp_path / "data", kdir) as srv:
        assert await _dsr_login(srv.base, "dpo", "dpo-password-123") is not None  # the DPO's own login works
        assert await _dsr_login(srv.base, "editor", PASSWORDS["editor"]) is None
        assert await _dsr_login(srv.base, "publisher", PASSWORDS["publisher"]) is None
        dpo = Browser(srv.base)
        try:
            assert await dpo.login("dpo", "dpo-password-123") == 401
            assert (await dpo.call("GET", "/staff/api/entries"))[0] == 401
            editor = Browser(srv.base)
            assert await editor.login("editor") == 303
            async with editor.http.get(f"{srv.base}/dsr/cases", allow_redirects=False) as resp:
                assert resp.status == 303 and "/dsr/login" in resp.headers["Location"]
            await editor.close()
        finally:
            await dpo.close()


# History in its own git dir ---------------------------------------------------------------------


async def test_inside_another_repository_the_history_has_its_own_git_dir(tmp_path, kdir):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    async with running(tmp_path / "data", kdir) as srv:
        publisher = Browser(srv.base)
        try:
            assert await publisher.login("publisher") == 303
            status, body = await publisher.call("GET", "/staff/api/history")
            assert status == 200 and body["versions"][0]["message"] == "Starting point"
        finally:
            await publisher.close()
    assert (tmp_path / "data" / SEPARATE_GIT_DIR / "HEAD").exists()
    assert not (kdir / ".git").exists()
    outer = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "--verify", "-q", "HEAD"],
                           capture_output=True, text=True)
    assert outer.stdout.strip() == ""  # the project's repository got no commit


# The command line -------------------------------------------------------------------------------


def test_staff_page_logins_on_the_command_line(tmp_path):
    def run(*args: str, password: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["python", "-m", "bot.cli", "staff-page", *args, "--data-dir", str(tmp_path)],
                              input=password, capture_output=True, text=True, timeout=60)

    made = run("add", "anna", "--role", "publisher", "--password-stdin", password="a-long-password\n")
    assert made.returncode == 0 and "anna" in made.stdout
    assert run("add", "bo", "--password-stdin", password="short\n").returncode == 2
    assert run("disable", "anna").returncode == 0
    assert run("remove", "nobody").returncode == 1
    assert run("remove", "anna").returncode == 0
    assert "password" not in (tmp_path / "staff_page_logins.json").read_text().replace("password_hash", "")


# A real serve process ---------------------------------------------------------------------------


def test_a_published_entry_is_answered_by_the_running_server_within_5_seconds(tmp_path, kdir):
    data = tmp_path / "data"
    for role, password in PASSWORDS.items():
        add_login(data, role, password, role=role)
    server = Server(data, "--knowledge-dir", str(kdir), "--now", "2026-12-01T10:00",
                    "--rate-limit-per-address", "0", "--rate-limit-per-session", "0").start()
    try:
        asyncio.run(_publish_and_ask(server))
    finally:
        server.kill(signal.SIGTERM)


async def _publish_and_ask(server: Server) -> None:
    editor, publisher = Browser(server.base), Browser(server.base)
    question = "när är det studiedag på skolan"
    entry = {"id": "staff-day", "topic": "school",
             "phrasings": {"sv": [question, "studiedag", "lärarna har studiedag"],
                           "en": ["when is the staff day", "staff day", "inset day"]},
             "answer": {"sv": "Studiedagarna står i skolans läsårskalender.",
                        "en": "The staff days are in the school's calendar."},
             "owner": "Utbildningsförvaltningen", "review_by": "2027-06-30"}
    try:
        assert await editor.login("editor") == 303 and await publisher.login("publisher") == 303
        assert "läsårskalender" not in await editor.chat("guardian-before", question)
        status, body = await editor.call("POST", "/staff/api/entries", {"entry": entry, "file": "school.yaml"})
        assert status == 201, body
        status, body = await publisher.call("POST", "/staff/api/publish", {"message": "Studiedagar"})
        assert status == 200, body
        start, n = time.monotonic(), 0
        while "läsårskalender" not in await editor.chat(f"guardian-after-{n}", question):
            assert time.monotonic() - start < 5.0
            n += 1
            await asyncio.sleep(0.2)
    finally:
        await editor.close()
        await publisher.close()


async def test_processes_on_one_redis_send_each_owner_one_reminder_a_week(tmp_path, kdir, redis_server):
    """Every serve process runs the reminder loop with its own data dir; on one Redis the first to
    claim an owner's week sends and the others skip it."""
    holder = _owners_knowledge(kdir)
    mailer = Mailer.maildir(tmp_path / "outbox")
    monday = datetime(2026, 12, 7, 8, 30, tzinfo=STOCKHOLM)
    settings = RedisSettings(redis_server.url, "remind:")
    clients = [settings.connect(), settings.connect()]
    try:
        claims = [SharedState(client, settings).claims(days=8) for client in clients]
        counts = []
        for n, claim in enumerate(claims):
            data = tmp_path / f"node{n}"
            data.mkdir()
            counts.append(await send_reminders(holder.knowledge, mailer, data, monday, claim))
        mails = _mails(tmp_path / "outbox")
        assert counts[0] == len(mails) >= 2 and counts[1] == 0
        assert len({m["To"] for m in mails}) == len(mails)
    finally:
        for client in clients:
            await client.aclose()
