"""Follow-through on data-rights cases (issue 15, item 13): the receipt e-mail a requester gets
in the Maildir outbox, and the daily reminder to the data-protection officer's mailbox, driven
by an injected clock; both as one round (`run_once`) and as the job that runs with the app."""
from __future__ import annotations

import asyncio
import mailbox
import os
import re
import signal
import subprocess
import sys
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.app import RUNTIME_KEY, ServeConfig, build_app
from backends.dsr import cases
from backends.dsr.app import DsrConfig, load_texts
from backends.dsr.config import REMINDER_ENV, STORE_KEY
from backends.dsr.followup import RECEIPT_ATTEMPTS, run_once
from backends.dsr.store import DsrStore
from backends.mail import Mailer
from tests.backends.test_dsr_staff import AUTH, ROOT, STHLM, Clock, start
from tests.backends.test_dsr_standalone import free_port, wait_until_healthy
from tests.browser import dsr_scenes as scenes

BODY = {"right": "access", "on_behalf_of": "self",
        "requester": {"name": "Anna Andersson", "email": "anna@example.com"},
        "description": "Jag vill se vad ni har sparat.", "language": "sv", "channel": "web"}
TEXTS = load_texts(ROOT / "knowledge")


def messages(outbox: Path) -> list:
    """The e-mails in the Maildir, oldest first, parsed with the modern policy."""
    if not outbox.exists():
        return []
    box = mailbox.Maildir(str(outbox), create=False)
    try:  # a Maildir name starts with the delivery time: "<seconds>.M<microseconds>P…"
        keys = sorted(box.keys(), key=lambda k: tuple(int(n) for n in re.findall(r"^(\d+)\.M(\d+)", k)[0]))
        found = [box.get_bytes(key) for key in keys]
    finally:
        box.close()
    return [message_from_bytes(raw, policy=policy.default) for raw in found]


async def wait_for_messages(outbox: Path, count: int, seconds: float = 5.0) -> list:
    for _ in range(int(seconds / 0.05)):
        found = messages(outbox)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    return messages(outbox)


async def test_a_filed_request_with_an_e_mail_gets_a_receipt_in_the_outbox(tmp_path):
    outbox = tmp_path / "outbox"
    s = await start(tmp_path, mailer=Mailer.maildir(outbox), job_interval=3600)
    try:
        resp = await s.client.post(s.url("api/requests"), json=BODY,
                                   headers={**AUTH, "Idempotency-Key": "k1"})
        assert resp.status == 201
        ref = (await resp.json())["reference"]
        [msg] = await wait_for_messages(outbox, 1)
        assert msg["To"] == "anna@example.com" and ref in msg["Subject"]
        text = msg.get_content()
        for field in ("Hej Anna Andersson!", ref, "Tillgång (registerutdrag, art. 15)",
                      "kom in 2026-11-24", "senast 2026-12-28", "BankID", "giltig legitimation",
                      "Vi ber aldrig om personnummer"):
            assert field in text, field
        for _ in range(100):
            if s.case(ref).get("receipt", {}).get("status") == "sent":
                break
            await asyncio.sleep(0.05)
        assert s.case(ref)["receipt"]["status"] == "sent"
        assert [e["action"] for e in s.audit(ref)] == ["created", "receipt_sent"]
        # The same request again (a retry) is no new case and no second receipt; a request
        # with a phone number only gets none; an English one gets English.
        again = await s.client.post(s.url("api/requests"), json=BODY,
                                    headers={**AUTH, "Idempotency-Key": "k1"})
        assert again.status == 200
        phone = {**BODY, "requester": {"name": "Bo Berg", "phone": "035-123456"}}
        assert (await s.client.post(s.url("api/requests"), json=phone,
                                    headers={**AUTH, "Idempotency-Key": "k2"})).status == 201
        english = {**BODY, "language": "en", "requester": {"name": "Eve Ek", "email": "eve@example.com"}}
        assert (await s.client.post(s.url("api/requests"), json=english,
                                    headers={**AUTH, "Idempotency-Key": "k3"})).status == 201
        found = await wait_for_messages(outbox, 2)
        await asyncio.sleep(0.2)
        found = messages(outbox)
        assert [m["To"] for m in found] == ["anna@example.com", "eve@example.com"]
        assert "by 2026-12-28 at the latest" in found[1].get_content()
    finally:
        await s.client.close()


def store_and_config(tmp_path: Path, clock: Clock, mailer: Mailer, **more) -> tuple[DsrStore, DsrConfig]:
    config = DsrConfig(data_dir=tmp_path, token="t", texts=TEXTS, clock=clock, mailer=mailer, **more)
    return DsrStore(tmp_path), config


async def put_case(store: DsrStore, key: str, when: datetime, receipt: bool = True) -> str:
    """File a case straight in the store, received at `when` (a receipt pending, or none)."""
    return await scenes.put_case(store, key, when, BODY, receipt=receipt)


async def test_a_receipt_that_cannot_be_sent_is_retried_then_marked_failed(tmp_path):
    attempts = []

    async def broken(msg) -> None:
        attempts.append(msg["To"])
        raise ConnectionRefusedError("no SMTP server")

    clock = Clock(datetime(2026, 11, 24, 10, 0, tzinfo=STHLM))
    store, config = store_and_config(tmp_path, clock, Mailer(broken), reminder_to=None)
    ref = await put_case(store, "a", clock.at)
    for round_ in range(1, RECEIPT_ATTEMPTS):
        await run_once(store, config)
        case = await store.get_case(ref)
        assert case["receipt"] == {"status": "pending", "attempts": round_}
    assert [e["action"] for e in await store.audit_for(ref)] == ["created"]
    await run_once(store, config)
    case = await store.get_case(ref)
    assert case["receipt"]["status"] == "failed" and len(attempts) == RECEIPT_ATTEMPTS
    assert [e["action"] for e in await store.audit_for(ref)] == ["created", "receipt_failed"]
    await run_once(store, config)                      # given up: no more attempts
    assert len(attempts) == RECEIPT_ATTEMPTS
    store.close()


async def _reminder_cases(store: DsrStore) -> dict[str, str]:
    """Cases seen on Monday 2026-11-30: overdue, due in 3 days, due in 28, waiting, withdrawn."""
    received = {"overdue": (10, 1), "soon": (11, 3), "later": (11, 24), "waiting": (11, 2),
                "withdrawn": (10, 2)}                  # due 11-02, 12-03, 12-28, 12-02, 11-02
    refs = {name: await put_case(store, name, datetime(2026, *day, 10, tzinfo=STHLM), receipt=False)
            for name, day in received.items()}
    await store.update_case(refs["waiting"], lambda c: cases.change_status(
        c, "waiting_for_requester", "Bett om BankID", "dpo", "2026-11-20T10:00:00+01:00"))
    await store.update_case(refs["withdrawn"], lambda c: cases.change_status(
        c, "withdrawn", "Återkallad per telefon", "dpo", "2026-11-20T10:00:00+01:00"))
    await store.update_case(refs["soon"], lambda c: cases.assign(
        c, "dpo", ["dpo"], "dpo", "2026-11-20T10:00:00+01:00"))
    return refs


async def test_the_daily_reminder_goes_once_a_day_from_the_hour_on(tmp_path):
    outbox = tmp_path / "outbox"
    clock = Clock(datetime(2026, 11, 30, 6, 59, tzinfo=STHLM))
    store, config = store_and_config(tmp_path, clock, Mailer.maildir(outbox),
                                     reminder_to="dataskydd@halmstad.se",
                                     public_url="https://chat.halmstad.se/dsr/")
    refs = await _reminder_cases(store)
    await run_once(store, config)
    assert messages(outbox) == []                      # before seven
    clock.at = datetime(2026, 11, 30, 7, 0, tzinfo=STHLM)
    await run_once(store, config)
    [msg] = messages(outbox)
    assert msg["To"] == "dataskydd@halmstad.se" and "2 behöver svar snart" in msg["Subject"]
    text = msg.get_content()
    assert refs["overdue"] in text and refs["soon"] in text
    for absent in ("later", "waiting", "withdrawn"):
        assert refs[absent] not in text, absent
    assert "Anna Andersson" not in text and "anna@example.com" not in text   # no personal data
    overdue_part, soon_part = text.split("Sista svarsdag inom fem dagar:")
    assert refs["overdue"] in overdue_part and "28 dagar försenad" in overdue_part
    assert refs["soon"] in soon_part and "sista svarsdag 2026-12-03" in soon_part
    assert "3 dagar kvar" in soon_part and "handläggare: dpo" in soon_part
    assert f"https://chat.halmstad.se/dsr/cases/{refs['soon']}" in soon_part
    # Once a day, even across a restart.
    clock.at = datetime(2026, 11, 30, 16, 0, tzinfo=STHLM)
    await run_once(store, config)
    store.close()
    store = DsrStore(tmp_path)
    await run_once(store, config)
    assert len(messages(outbox)) == 1
    # The next morning, again (one day closer).
    clock.at = datetime(2026, 12, 1, 7, 30, tzinfo=STHLM)
    await run_once(store, config)
    found = messages(outbox)
    assert len(found) == 2 and "2 dagar kvar" in found[1].get_content()
    store.close()


async def test_no_reminder_without_a_mailbox_or_without_cases_due(tmp_path, monkeypatch):
    outbox = tmp_path / "outbox"
    monkeypatch.delenv(REMINDER_ENV, raising=False)
    clock = Clock(datetime(2026, 11, 30, 8, 0, tzinfo=STHLM))
    store, config = store_and_config(tmp_path, clock, Mailer.maildir(outbox))
    assert config.reminder_to is None
    await _reminder_cases(store)
    await run_once(store, config)
    assert messages(outbox) == []
    # Only a case due in four weeks: the round runs, records the day, sends nothing.
    other = tmp_path / "other"
    other.mkdir()
    store2, config2 = store_and_config(other, clock, Mailer.maildir(outbox), reminder_to="dpo@halmstad.se")
    await put_case(store2, "x", datetime(2026, 11, 27, 10, tzinfo=STHLM), receipt=False)
    await run_once(store2, config2)
    assert messages(outbox) == []
    assert (await store2.job_state("reminder"))["last"] == "2026-11-30"
    store.close()
    store2.close()


def test_the_reminder_address_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(REMINDER_ENV, " dataskydd@halmstad.se ")
    assert DsrConfig(data_dir=tmp_path, token="t", texts=TEXTS).reminder_to == "dataskydd@halmstad.se"


async def test_the_reminder_job_runs_with_the_app(tmp_path):
    outbox = tmp_path / "outbox"
    s = await start(tmp_path, mailer=Mailer.maildir(outbox), job_interval=0.05,
                    reminder_to="dataskydd@halmstad.se")
    try:
        store = s.client.server.app[STORE_KEY]
        for _ in range(100):   # the first round ran on the start day (no cases: no mail)
            if (await store.job_state("reminder")).get("last") == "2026-11-24":
                break
            await asyncio.sleep(0.05)
        ref = await put_case(store, "k", datetime(2026, 10, 1, 10, tzinfo=STHLM), receipt=False)
        s.clock.at = datetime(2026, 11, 30, 7, 1, tzinfo=STHLM)   # the job runs every 0.05 s
        [msg] = await wait_for_messages(outbox, 1)
        assert msg["To"] == "dataskydd@halmstad.se" and ref in msg.get_content()
        assert "28 dagar försenad" in msg.get_content()
        await asyncio.sleep(0.3)                       # more rounds, the same day: no more mail
        assert len(messages(outbox)) == 1
    finally:
        await s.client.close()


async def test_without_a_mailer_nothing_is_marked_for_sending(tmp_path):
    s = await start(tmp_path)
    try:
        resp = await s.client.post(s.url("api/requests"), json=BODY,
                                   headers={**AUTH, "Idempotency-Key": "k"})
        ref = (await resp.json())["reference"]
        assert "receipt" not in s.case(ref)
    finally:
        await s.client.close()


async def test_the_backend_run_alone_mails_the_receipt_into_its_outbox(tmp_path):
    port = free_port()
    env = {**os.environ, "HALMSTAD_BACKEND_TOKEN": "alone-token"}
    env.pop("HALMSTAD_SMTP_HOST", None)
    proc = subprocess.Popen([sys.executable, "-m", "backends.dsr", "--port", str(port),
                             "--data-dir", str(tmp_path), "--reminder-to", "dpo@halmstad.se"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await wait_until_healthy(http, base)
            async with http.post(f"{base}/api/requests", json=BODY, headers={
                    "Authorization": "Bearer alone-token", "Idempotency-Key": "alone"}) as resp:
                assert resp.status == 201
                ref = (await resp.json())["reference"]
        found = await wait_for_messages(tmp_path / "outbox", 1, seconds=10)
        assert [m["To"] for m in found] == ["anna@example.com"] and ref in found[0]["Subject"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert b"mail: maildir:" in out


async def test_serve_mails_the_receipt_of_a_request_filed_through_it(tmp_path):
    """`serve` gives the mounted data-rights backend its mailer: a filed request's receipt lands
    in serve's outbox (DATA_DIR/outbox)."""
    config = ServeConfig(port=free_port(), data_dir=tmp_path / "data", now="2026-11-24T10:00")
    app = build_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", config.port).start()
    try:
        async with aiohttp.ClientSession() as http:
            resp = await http.post(f"http://127.0.0.1:{config.port}/dsr/api/requests", json=BODY, headers={
                "Authorization": f"Bearer {app[RUNTIME_KEY].token}", "Idempotency-Key": "serve-1"})
            assert resp.status == 201
            ref = (await resp.json())["reference"]
        [msg] = await wait_for_messages(config.data_dir / "outbox", 1)
        assert msg["To"] == "anna@example.com" and ref in msg["Subject"]
    finally:
        await runner.cleanup()
