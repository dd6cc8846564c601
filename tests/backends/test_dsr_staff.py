"""The data-rights backend's staff pages over a real loopback server: login, the case list,
case details, status changes with audit, refusals, extensions, CSRF and escaping."""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from backends.dsr.app import DsrConfig, add_staff, create_app, load_texts
from backends.dsr.deadline import extended_due_date
from backends.dsr.store import read_tables

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "staff-test-token-abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STHLM = ZoneInfo("Europe/Stockholm")
PASSWORD = "correct horse battery"


class Clock:
    """A settable clock for the backend."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class Staff:
    """A running backend and a browser-like client (it keeps cookies)."""

    def __init__(self, client: TestClient, clock: Clock, data_dir: Path, prefix: str) -> None:
        self.client, self.clock, self.data_dir, self.prefix = client, clock, data_dir, prefix

    def url(self, path: str) -> str:
        return self.prefix + path

    async def file(self, key="k1", description="Jag vill se vad ni har sparat.", right="access"):
        body = {"right": right, "on_behalf_of": "self",
                "requester": {"name": "Anna Andersson", "email": "anna@example.com"},
                "description": description, "language": "sv", "channel": "web"}
        resp = await self.client.post(self.url("api/requests"), json=body,
                                      headers={**AUTH, "Idempotency-Key": key})
        assert resp.status == 201
        return (await resp.json())["reference"]

    async def login(self, username="handlaggare", password=PASSWORD):
        page = await self.client.get(self.url("login"))
        csrf = csrf_of(await page.text())
        return await self.client.post(self.url("login"), allow_redirects=False,
                                      data={"csrf": csrf, "username": username,
                                            "password": password})

    async def case_page(self, reference: str, lang="sv"):
        resp = await self.client.get(self.url(f"cases/{reference}?lang={lang}"))
        assert resp.status == 200
        return await resp.text()

    async def post_form(self, path: str, reference: str, **fields):
        csrf = csrf_of(await self.case_page(reference))
        return await self.client.post(self.url(path), allow_redirects=False,
                                      data={"csrf": csrf, **fields})

    def case(self, reference: str) -> dict:
        [case] = [c for c in read_tables(self.data_dir)["cases"].values() if c["reference"] == reference]
        return case

    def audit(self, reference: str) -> list[dict]:
        return [a for a in read_tables(self.data_dir)["audit"].values() if a["reference"] == reference]


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def start(tmp_path: Path, mount: str | None = None, secure: bool = False,
                **config) -> Staff:
    """Start the backend on loopback (`config`: more DsrConfig fields, e.g. a mailer)."""
    clock = Clock(datetime(2026, 11, 24, 10, 0, tzinfo=STHLM))
    add_staff(tmp_path, "handlaggare", PASSWORD)
    app = create_app(DsrConfig(data_dir=tmp_path, token=TOKEN,
                               texts=load_texts(ROOT / "knowledge"), clock=clock,
                               secure_cookies=secure, **config))
    if mount:
        root = web.Application()
        root.add_subapp(mount, app)
        app = root
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return Staff(client, clock, tmp_path, mount or "/")


@pytest.fixture
async def staff(tmp_path):
    s = await start(tmp_path)
    yield s
    await s.client.close()


async def test_staff_pages_without_login_redirect_to_login_and_the_api_answers_401(staff):
    ref = await staff.file()
    for path in ("cases", f"cases/{ref}", ""):
        resp = await staff.client.get(staff.url(path), allow_redirects=False)
        assert resp.status == 303, path
        assert resp.headers["Location"].split("?")[0] == "/login" or path == ""
    resp = await staff.client.post(staff.url(f"cases/{ref}/status"), allow_redirects=False,
                                   data={"status": "refused", "reason": "x"})
    assert resp.status == 303
    assert staff.case(ref)["status"] == "received"
    api = await staff.client.get(staff.url("api/staff/cases"))
    assert api.status == 401 and "error" in await api.json()


async def test_the_bearer_token_is_not_a_staff_login(staff):
    resp = await staff.client.get(staff.url("cases"), headers=AUTH, allow_redirects=False)
    assert resp.status == 303


async def test_a_wrong_password_or_unknown_user_is_refused(staff):
    for user, password in (("handlaggare", "wrong password!"), ("nobody", PASSWORD)):
        resp = await staff.login(user, password)
        assert resp.status == 401
        assert "Fel användarnamn eller lösenord" in await resp.text()
    resp = await staff.client.get(staff.url("cases"), allow_redirects=False)
    assert resp.status == 303


async def test_login_without_the_forms_token_is_refused(staff):
    resp = await staff.client.post(staff.url("login"), allow_redirects=False,
                                   data={"username": "handlaggare", "password": PASSWORD})
    assert resp.status == 400
    assert "dsr_session" not in resp.cookies


async def test_repeated_failed_logins_are_throttled(staff):
    for _ in range(5):
        assert (await staff.login(password="wrong password!")).status == 401
    resp = await staff.login()
    assert resp.status == 429


async def test_login_sets_a_strict_httponly_cookie_and_shows_the_case_list(staff):
    ref = await staff.file()
    resp = await staff.login()
    assert resp.status == 303
    assert resp.headers["Location"].startswith("/cases")
    cookie = resp.cookies["dsr_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert not cookie["secure"]
    page = await staff.client.get(staff.url("cases"))
    assert page.status == 200
    text = await page.text()
    assert ref in text
    assert '<html lang="sv">' in text
    assert 'scope="col"' in text and 'scope="row"' in text
    assert "Mottagen" in text
    api = await staff.client.get(staff.url("api/staff/cases"))
    assert [c["reference"] for c in (await api.json())["cases"]] == [ref]


async def test_secure_cookies_are_marked_secure(tmp_path):
    s = await start(tmp_path, secure=True)
    try:
        page = await s.client.get(s.url("login"))
        login_cookie = page.cookies["dsr_login"]
        assert login_cookie["secure"]
        # A client on plain http would not send a Secure cookie back; send it by hand.
        resp = await s.client.post(s.url("login"), allow_redirects=False,
                                   headers={"Cookie": f"dsr_login={login_cookie.value}"},
                                   data={"csrf": csrf_of(await page.text()),
                                         "username": "handlaggare", "password": PASSWORD})
        assert resp.status == 303
        assert resp.cookies["dsr_session"]["secure"]
    finally:
        await s.client.close()


async def test_the_list_is_sorted_by_due_date_and_marks_overdue_cases_in_words(staff):
    staff.clock.at = datetime(2026, 11, 24, 10, 0, tzinfo=STHLM)
    later = await staff.file("a")                        # due 2026-12-28
    staff.clock.at = datetime(2026, 10, 1, 10, 0, tzinfo=STHLM)
    earlier = await staff.file("b")                      # due 2026-11-02
    staff.clock.at = datetime(2026, 11, 30, 10, 0, tzinfo=STHLM)
    await staff.login()
    text = await (await staff.client.get(staff.url("cases"))).text()
    assert text.index(earlier) < text.index(later)
    row_earlier = text[text.index(earlier):text.index("</tr>", text.index(earlier))]
    row_later = text[text.index(later):text.index("</tr>", text.index(later))]
    assert "Försenad" in row_earlier
    assert "Försenad" not in row_later
    english = await (await staff.client.get(staff.url("cases?lang=en"))).text()
    assert '<html lang="en">' in english and "Overdue" in english
    accept = await staff.client.get(staff.url("cases"), headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Data-rights cases" in await accept.text()


async def test_a_closed_case_is_not_overdue(staff):
    ref = await staff.file()
    await staff.login()
    for status in ("identity_verified", "in_progress", "answered"):
        resp = await staff.post_form(f"cases/{ref}/status", ref, status=status, reason="")
        assert resp.status == 303
    staff.clock.at = datetime(2027, 3, 1, 10, 0, tzinfo=STHLM)
    text = await (await staff.client.get(staff.url("cases?filter=all"))).text()
    assert ref in text and "Försenad" not in text.split("<tbody>")[1]
    # The default list shows open cases only.
    assert ref not in await (await staff.client.get(staff.url("cases"))).text()


async def test_case_details_show_the_request_and_escape_the_description(staff):
    ref = await staff.file(description='<script>alert("x")</script> & <b>bold</b>')
    await staff.login()
    resp = await staff.client.get(staff.url(f"cases/{ref}"))
    text = await resp.text()
    assert "<script>" not in text and "<b>bold" not in text
    assert "&lt;script&gt;" in text and "&amp;" in text
    assert "anna@example.com" in text and "Anna Andersson" in text
    assert "2026-12-28" in text
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert resp.headers["Cache-Control"] == "no-store"
    for field_id in ("status", "reason", "extend-reason", "told-on"):
        assert f'<label for="{field_id}">' in text and f'id="{field_id}"' in text


async def test_a_status_change_is_saved_with_who_and_when_in_the_audit_log(staff):
    ref = await staff.file()
    await staff.login()
    staff.clock.at = datetime(2026, 11, 25, 9, 30, tzinfo=STHLM)
    resp = await staff.post_form(f"cases/{ref}/status", ref, status="identity_verified",
                                 reason="BankID i e-tjänsten")
    assert resp.status == 303
    assert staff.case(ref)["status"] == "identity_verified"
    entries = staff.audit(ref)
    change = [e for e in entries if e["action"] == "status"]
    assert change == [{"reference": ref, "at": "2026-11-25T09:30:00+01:00", "by": "handlaggare",
                       "action": "status", "from": "received", "to": "identity_verified",
                       "reason": "BankID i e-tjänsten"}]
    text = await staff.case_page(ref)
    assert "handlaggare" in text and "2026-11-25 09:30" in text
    assert "Identitet kontrollerad" in text
    public = await staff.client.get(staff.url(f"api/requests/{ref}"), headers=AUTH)
    assert (await public.json())["status"] == "identity_verified"


async def test_a_status_cannot_skip_steps(staff):
    ref = await staff.file()
    await staff.login()
    resp = await staff.post_form(f"cases/{ref}/status", ref, status="answered", reason="")
    assert resp.status == 400
    assert staff.case(ref)["status"] == "received"
    assert [e["action"] for e in staff.audit(ref) if e["action"] != "viewed"] == ["created"]


async def test_refusing_needs_a_reason(staff):
    ref = await staff.file(right="erasure")
    await staff.login()
    resp = await staff.post_form(f"cases/{ref}/status", ref, status="refused", reason="  ")
    assert resp.status == 400
    assert "Skriv en motivering" in await resp.text()
    assert staff.case(ref)["status"] == "received"
    resp = await staff.post_form(f"cases/{ref}/status", ref, status="refused",
                                 reason="Uppgifterna behövs för en rättslig förpliktelse (art. 17.3 b).")
    assert resp.status == 303
    case = staff.case(ref)
    assert case["status"] == "refused"
    assert case["history"][-1]["reason"].startswith("Uppgifterna behövs")
    assert case["history"][-1]["by"] == "handlaggare"
    # A refused case is closed.
    resp = await staff.client.post(staff.url(f"cases/{ref}/status"), allow_redirects=False,
                                   data={"csrf": csrf_of(await staff.case_page(ref)),
                                         "status": "in_progress"})
    assert resp.status == 400
    assert staff.case(ref)["status"] == "refused"


async def test_a_form_without_the_csrf_token_changes_nothing(staff):
    ref = await staff.file()
    await staff.login()
    resp = await staff.client.post(staff.url(f"cases/{ref}/status"), allow_redirects=False,
                                   data={"status": "identity_verified", "csrf": "forged"})
    assert resp.status == 403
    assert staff.case(ref)["status"] == "received"


async def test_the_extension_needs_a_reason_and_a_date_within_the_first_month(staff):
    ref = await staff.file()                    # received 2026-11-24, due 2026-12-28
    await staff.login()
    staff.clock.at = datetime(2026, 12, 28, 16, 0, tzinfo=STHLM)   # the last day: not overdue
    bad = [
        {"reason": "", "told_on": "2026-12-01"},
        {"reason": "Många begäranden", "told_on": ""},
        {"reason": "Många begäranden", "told_on": "1 december"},
        {"reason": "Många begäranden", "told_on": "2026-12-29"},   # after the first month
        {"reason": "Många begäranden", "told_on": "2026-11-23"},   # before receipt
    ]
    for fields in bad:
        resp = await staff.post_form(f"cases/{ref}/extend", ref, **fields)
        assert resp.status == 400, fields
        assert staff.case(ref)["due_date"] == "2026-12-28"
    resp = await staff.post_form(f"cases/{ref}/extend", ref, reason="Många begäranden",
                                 told_on="2026-12-15")
    assert resp.status == 303
    case = staff.case(ref)
    assert case["due_date"] == extended_due_date(datetime(2026, 11, 24).date()).isoformat()
    assert case["due_date"] == "2027-02-24"
    assert case["extension"]["told_on"] == "2026-12-15"
    assert case["extension"]["by"] == "handlaggare"
    [entry] = [e for e in staff.audit(ref) if e["action"] == "extended"]
    assert entry["by"] == "handlaggare" and entry["at"].startswith("2026-12-28")
    # Not overdue any more, and only one extension.
    text = await (await staff.client.get(staff.url("cases"))).text()
    assert "Försenad" not in text.split("<tbody>")[1]
    resp = await staff.post_form(f"cases/{ref}/extend", ref, reason="Igen", told_on="2026-12-16")
    assert resp.status == 400
    assert staff.case(ref)["extension"]["told_on"] == "2026-12-15"


async def test_the_requester_cannot_have_been_told_in_the_future(staff):
    ref = await staff.file()
    await staff.login()
    staff.clock.at = datetime(2026, 11, 30, 10, 0, tzinfo=STHLM)
    resp = await staff.post_form(f"cases/{ref}/extend", ref, reason="Komplicerat",
                                 told_on="2026-12-10")
    assert resp.status == 400
    assert staff.case(ref).get("extension") is None


async def test_an_unknown_case_is_a_404_page(staff):
    await staff.login()
    resp = await staff.client.get(staff.url("cases/DSR-2026-99999"))
    assert resp.status == 404
    assert "Ärendet finns inte" in await resp.text()


async def test_logout_ends_the_session(staff):
    login = await staff.login()
    old_token = login.cookies["dsr_session"].value
    text = await (await staff.client.get(staff.url("cases"))).text()
    resp = await staff.client.post(staff.url("logout"), allow_redirects=False,
                                   data={"csrf": csrf_of(text)})
    assert resp.status == 303
    # Replay the old cookie explicitly: the server must have forgotten the session.
    staff.client.session.cookie_jar.clear()
    resp = await staff.client.get(staff.url("cases"), allow_redirects=False,
                                  headers={"Cookie": f"dsr_session={old_token}"})
    assert resp.status == 303


async def test_mounted_under_dsr_redirects_and_cookies_stay_under_the_prefix(tmp_path):
    s = await start(tmp_path, mount="/dsr/")
    try:
        ref = await s.file()
        resp = await s.client.get("/dsr/cases", allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"].startswith("/dsr/login")
        login = await s.login()
        assert login.status == 303 and login.headers["Location"].startswith("/dsr/cases")
        assert login.cookies["dsr_session"]["path"] == "/dsr/"
        text = await (await s.client.get("/dsr/cases")).text()
        assert f'href="/dsr/cases/{ref}?lang=sv"' in text
    finally:
        await s.client.close()


def test_add_staff_refuses_bad_input_with_a_clear_message(tmp_path):
    with pytest.raises(ValueError, match="at least 10"):
        add_staff(tmp_path, "anna", "short")
    with pytest.raises(ValueError, match="username"):
        add_staff(tmp_path, "a b", PASSWORD)
    with pytest.raises(ValueError, match="username"):
        add_staff(tmp_path, "x", PASSWORD)
    assert not list(tmp_path.iterdir())  # nothing written


def test_add_staff_stores_an_argon2id_hash_not_the_password(tmp_path):
    add_staff(tmp_path, "anna", PASSWORD)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert PASSWORD.encode() not in raw
    assert b"$argon2id$" in raw
    add_staff(tmp_path, "anna", "another long password")
    assert len(read_tables(tmp_path)["staff"]) == 1
