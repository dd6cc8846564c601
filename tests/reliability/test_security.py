"""Security checks against a real `serve`: logins required, header injection refused, rate limits.

The HTML/JS payload test for the agent console is a browser test:
tests/browser/test_agent_console.py::test_console_login_accept_reply_close_with_inert_user_text.
Session ids are discussed in docs/RELIABILITY.md ("Session ids").
"""
from __future__ import annotations

import json
import mailbox
import urllib.error
import urllib.request

import pytest

from tests.reliability.hostile import TOKEN, prepare
from tests.serving import Server

pytestmark = pytest.mark.reliability

AGENT_API = [("GET", "/agent/api/me"), ("POST", "/agent/api/availability"), ("GET", "/agent/api/queue"),
             ("GET", "/agent/api/conversations/c-0000000000"),
             ("POST", "/agent/api/conversations/c-0000000000/accept"),
             ("POST", "/agent/api/conversations/c-0000000000/messages"),
             ("POST", "/agent/api/conversations/c-0000000000/close"),
             ("POST", "/agent/api/left-messages/m-0000000000/done"), ("GET", "/agent/api/canned"),
             ("GET", "/agent/api/texts"), ("GET", "/agent/api/ws"), ("POST", "/agent/api/logout")]
AGENT_PAGES = ["/agent/"]
STAFF_PAGES = [("GET", "/dsr/cases"), ("GET", "/dsr/cases/DSR-2026-00001"),
               ("POST", "/dsr/cases/DSR-2026-00001/status"), ("POST", "/dsr/cases/DSR-2026-00001/extend")]
FORGED = [None, "halmstad_agent=forged", "halmstad_agent=" + "A" * 43, "dsr_session=forged"]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def call(server: Server, method: str, path: str, body: dict | None = None, cookie: str | None = None,
         headers: dict | None = None) -> tuple[int, dict, str]:
    data = json.dumps(body).encode() if body is not None else (b"{}" if method == "POST" else None)
    req = urllib.request.Request(server.base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {}),
                                          **({"Cookie": cookie} if cookie else {})})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=20) as resp:
            return resp.status, dict(resp.headers), resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("security") / "data"
    data_dir.mkdir()
    prepare(data_dir)
    srv = Server(data_dir, "--demo", "--rate-limit-per-address", "0", "--rate-limit-per-session", "5",
                 env={"HALMSTAD_BACKEND_TOKEN": TOKEN}).start(timeout=120)  # a busy CI machine
    yield srv
    srv.kill()


@pytest.mark.parametrize("cookie", FORGED)
def test_agent_api_without_or_with_a_forged_cookie_is_401(server, cookie):
    for method, path in AGENT_API:
        status, _, body = call(server, method, path, {"available": True, "text": "x"}, cookie)
        assert status == 401, (method, path, status)
        assert "error" in json.loads(body)


@pytest.mark.parametrize("cookie", FORGED)
def test_agent_pages_and_staff_pages_redirect_to_their_login(server, cookie):
    for path in AGENT_PAGES:
        status, headers, _ = call(server, "GET", path, cookie=cookie)
        assert status in (302, 303) and headers["Location"].startswith("/agent/login"), (path, status)
    assert call(server, "GET", "/agent/stats", cookie=cookie)[0] == 401  # the numbers are data, not a page
    for method, path in STAFF_PAGES:
        status, headers, _ = call(server, method, path, cookie=cookie, headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        assert status == 303 and "/dsr/login" in headers["Location"], (method, path, status)
    status, _, _ = call(server, "GET", "/dsr/api/staff/cases", cookie=cookie)
    assert status == 401


def test_machine_apis_need_the_bearer_token(server):
    for path in ("/activation/api/activation-requests", "/dsr/api/requests"):
        for auth in (None, "Bearer wrong", "Basic " + TOKEN, "Bearer " + TOKEN + "x"):
            status, _, _ = call(server, "POST", path, {"email": "guardian@example.org"},
                                headers={"Idempotency-Key": "k1", **({"Authorization": auth} if auth else {})})
            assert status == 401, (path, auth, status)


def test_header_injection_in_the_activation_address_is_refused_everywhere(server):
    injected = "guardian@example.org\r\nBcc: victim@example.com"
    # In the chat: the flow never takes it as an address, so nothing reaches the backend.
    for text in (injected, "guardian@example.org\nBcc: victim@example.com", "guardian@example.org%0ABcc:x@y.se"):
        session = f"inject-{abs(hash(text))}"
        assert server.chat(session, "jag vill aktivera appen")[0] == 200
        status, answer = server.chat(session, text)
        assert status == 200
        assert not any(b["payload"] == "ans:send" for m in answer["messages"] for b in m["buttons"])
    # At the backend's API itself: refused with 422, no mail written.
    status, _, body = call(server, "POST", "/activation/api/activation-requests", {"email": injected},
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 422 and "line breaks" in body
    outbox = server.data_dir / "outbox"
    mails = list(mailbox.Maildir(outbox)) if outbox.exists() else []
    assert not any("victim" in str(mail) for mail in mails)
    # The data-rights API and a left message refuse a contact with a line break too.
    status, _, _ = call(server, "POST", "/dsr/api/requests", {
        "right": "access", "on_behalf_of": "self", "requester": {"name": "Anna A", "email": injected},
        "description": "", "language": "sv", "channel": "web"},
        headers={"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "inject-1"})
    assert 400 <= status < 500


def test_chat_rate_limit_per_session_answers_429_in_the_users_language(server):
    statuses = [server.chat("limited", "tack")[0] for _ in range(5)]
    assert statuses == [200] * 5
    status, answer = server.chat("limited", "thanks a lot")
    assert status == 429 and "error" in answer
    assert server.chat("not-limited", "tack")[0] == 200  # another conversation is not affected


def test_chat_rate_limit_per_address(tmp_path):
    srv = Server(tmp_path / "data", "--rate-limit-per-address", "8", "--rate-limit-per-session", "0").start()
    try:
        statuses = [srv.chat(f"addr-{i}", "tack")[0] for i in range(10)]
        assert statuses[:8] == [200] * 8 and statuses[8:] == [429, 429]
    finally:
        srv.kill()


def test_activation_backend_limits_per_address_and_per_client(server):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    statuses = [call(server, "POST", "/activation/api/activation-requests",
                     {"email": "guardian@example.org", "client": f"c{i}"}, headers=auth)[0] for i in range(4)]
    assert statuses == [202, 202, 202, 429]  # 3 a window for one address
    statuses = [call(server, "POST", "/activation/api/activation-requests",
                     {"email": f"someone{i}@example.org", "client": "one-client"}, headers=auth)[0]
                for i in range(31)]
    assert statuses[:30] == [202] * 30 and statuses[30] == 429  # 30 a window for one client


def test_app_login_is_throttled_after_five_wrong_passwords(server):
    statuses = [call(server, "POST", "/activation/api/app-login",
                     {"username": "someone", "password": f"wrong-{i}"})[0] for i in range(6)]
    assert statuses == [401] * 5 + [429]


def test_staff_login_is_throttled_after_five_failures(server):
    import re

    def attempt(password: str) -> tuple[int, str]:
        status, headers, page = call(server, "GET", "/dsr/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        cookie = headers["Set-Cookie"].split(";")[0]
        form = f"csrf={csrf}&username=staff&password={password}".encode()
        req = urllib.request.Request(server.base + "/dsr/login", data=form, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        try:
            with urllib.request.build_opener(NoRedirect).open(req, timeout=20) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    results = [attempt(f"wrong-password-{i}")[0] for i in range(5)]
    assert all(s == 401 for s in results), results
    status, _ = attempt("staff-password-123")  # even the right password waits now
    assert status in (401, 429), status


def test_agent_login_is_limited_per_address(server):
    # Guesses spread over usernames: 20 failures a quarter of an hour from one address.
    statuses = [call(server, "POST", "/agent/api/login", {"username": f"agent{i}", "password": f"x{i}"})[0]
                for i in range(21)]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429


def test_the_chat_rate_limiter_forgets_idle_conversations_after_a_window():
    from bot.channels.web import RateLimiter

    limiter = RateLimiter(30, window=60.0)
    for i in range(1000):
        assert limiter.retry_after(f"conversation-{i}", now=float(i % 10)) == 0.0
    limiter.retry_after("a-minute-later", now=75.0)
    assert len(limiter._events) == 1  # not 1,001 kept until 200,000 keys (memory per conversation)


# --------------------------------------------------------------------------- masking (issue 13, item 3)

def _files_under(folder) -> str:
    """Everything the server wrote under its data dir, as one text (to look for leaks)."""
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in sorted(folder.rglob("*")) if p.is_file())


async def test_a_left_message_is_masked_for_the_agent_and_on_disk_but_its_phone_number_is_kept(tmp_path):
    from tests.handoff.conftest import SUNDAY, Agent, Guardian, running

    async with running(tmp_path, SUNDAY) as srv:
        agent, guardian = Agent(srv.base), Guardian(srv.base, "left-message-pnr")
        try:
            assert (await agent.login()).status == 200
            await guardian.say("jag vill prata med en människa")
            await guardian.say("ja")
            await guardian.say("Anna Andersson")
            await guardian.say("070-123 45 67")
            await guardian.say("Min son 2013-05-15-2389 och dottern 85 01 01\u20131234 syns inte, "
                               "lösenordet Sommar99xyz funkar inte")
            status, queue = await agent.call("GET", "/agent/api/queue")
            [item] = queue["messages"]
            status, detail = await agent.call("GET", f"/agent/api/conversations/{item['id']}")
            assert status == 200
            assert detail["message"]["contact"] == "070-123 45 67"  # a phone number, not a personnummer
            assert detail["message"]["text"] == ("Min son [PNR] och dottern [PNR] syns inte, "
                                                 "lösenordet [PASSWORD] funkar inte")
            shown = json.dumps(detail, ensure_ascii=False)
            assert "2389" not in shown and "Sommar99xyz" not in shown and "01\u20131234" not in shown
            assert "070-123 45 67" in shown
        finally:
            await agent.close()
            await guardian.close()
    on_disk = _files_under(tmp_path)
    assert "070-123 45 67" in on_disk
    assert "2013-05-15-2389" not in on_disk and "Sommar99xyz" not in on_disk and "1234" not in on_disk


async def test_an_agents_reply_and_a_data_rights_description_are_masked_where_stored(tmp_path):
    import aiohttp

    from bot.app import RUNTIME_KEY
    from tests.handoff.conftest import TUESDAY, Agent, Guardian, running

    async with running(tmp_path, TUESDAY) as srv:
        agent, guardian = Agent(srv.base), Guardian(srv.base, "agent-reply-pnr")
        try:
            assert (await agent.login()).status == 200
            await agent.call("POST", "/agent/api/availability", {"available": True})
            await guardian.say("jag vill prata med en människa")
            status, queue = await agent.call("GET", "/agent/api/queue")
            item_id = queue["waiting"][0]["id"]
            assert (await agent.call("POST", f"/agent/api/conversations/{item_id}/accept"))[0] == 200
            status, _ = await agent.call("POST", f"/agent/api/conversations/{item_id}/messages",
                                         {"text": "Gäller det 850101\u20131234? Ring 070-123 45 67."})
            assert status == 200
            lines = [m["text"] for m in await guardian.messages() if m["from"] == "agent"]
            assert lines == ["Gäller det [PNR]? Ring 070-123 45 67."]
            token = srv.app[RUNTIME_KEY].token
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{srv.base}/dsr/api/requests", headers={
                        "Authorization": f"Bearer {token}", "Idempotency-Key": "mask-1"}, json={
                        "right": "access", "on_behalf_of": "self",
                        "requester": {"name": "Anna A", "phone": "070-123 45 67"},
                        "description": "Mitt nummer är 19850101_1234, ring 070-123 45 67",
                        "language": "sv", "channel": "web"}) as resp:
                    assert resp.status in (200, 201), await resp.text()
        finally:
            await agent.close()
            await guardian.close()
    on_disk = _files_under(tmp_path)
    assert "Mitt nummer är [PNR], ring 070-123 45 67" in on_disk
    assert "850101" not in on_disk


async def test_the_agent_view_masks_what_was_stored_before_masking_knew_the_form(tmp_path):
    from tests.handoff.conftest import SUNDAY, Agent, running

    async with running(tmp_path, SUNDAY) as srv:
        agent = Agent(srv.base)
        try:
            assert (await agent.login()).status == 200
            # As an older version stored it: straight into the queue, unmasked.
            item = await srv.service.queue.add_message(
                "old-session", name="Bo Berg", contact="070-123 45 67", contact_kind="phone",
                text="Pnr 85 01 01\u20131234", lang="sv", channel="web", reason="asked", context={})
            status, detail = await agent.call("GET", f"/agent/api/conversations/{item['id']}")
            assert status == 200 and detail["message"]["text"] == "Pnr [PNR]"
            assert detail["message"]["contact"] == "070-123 45 67"
        finally:
            await agent.close()


# --------------------------------------------------------------------------- session ids (item 4)

BAD_SESSIONS = ["abc\n", "abc\r\n", "\nabc", "abc\x00", "a" * 65, "abc def", "ab/c", "äbc", "abc\u2028"]


@pytest.mark.parametrize("session", BAD_SESSIONS)
def test_a_malformed_session_id_is_a_400_on_every_route_never_a_500(server, session):
    from urllib.parse import quote

    status, _, body = call(server, "POST", "/api/chat", {"session": session, "text": "hej"})
    assert status == 400 and "session" in json.loads(body)["error"], (session, status, body)
    if "/" in session:
        return  # a slash is another path, not a session id
    path = quote(session, safe="")
    status, _, body = call(server, "GET", f"/api/chat/{path}/messages")
    assert status == 400 and "Traceback" not in body, (session, status, body)
    status, _, body = call(server, "GET", f"/api/chat/{path}/ws", headers={
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert status == 400, (session, status, body)  # the socket is never opened


def test_the_session_id_rule_is_one_full_match_used_by_every_channel():
    from bot.channels import push, telegram, web
    from common.session_ids import is_session_id, validate_session
    from bot.store import tinydb_store

    assert is_session_id("abc") and is_session_id("A-z_09" * 10) and is_session_id("x" * 64)
    for bad in BAD_SESSIONS + ["", None, 12, "x" * 65]:
        assert not is_session_id(bad)
        with pytest.raises(ValueError):
            validate_session(bad)
    assert tinydb_store.validate_session is validate_session
    assert web.is_session_id is is_session_id and push.is_session_id is is_session_id
    assert is_session_id(telegram.session_for(b"k" * 32, -1001234567890))


# --------------------------------------------------------------------------- cookies not UTF-8 (item 5)

COOKIE_ROUTES = [("GET", "/dsr/cases"), ("GET", "/dsr/cases/DSR-2026-00001"), ("POST", "/dsr/logout"),
                 ("GET", "/dsr/api/staff/cases"), ("GET", "/dsr/login"), ("POST", "/dsr/login"),
                 ("GET", "/agent/"), ("GET", "/agent/api/me"), ("POST", "/agent/api/logout"),
                 ("GET", "/agent/api/ws"), ("GET", "/agent/stats"), ("GET", "/activation/activate?code=x"),
                 ("POST", "/activation/activate"), ("POST", "/activation/credentials")]
RAW_COOKIES = [b"dsr_session=\xff\xfeabc", b"dsr_login=\xc3\x28", b"halmstad_agent=\xff" + b"A" * 42,
               b"activation_csrf=\xfe" + b"B" * 42, b"halmstad_agent_lang=\xe9",
               b"dsr_session=ok; dsr_login=\x80\x81; halmstad_agent=\xc0\xaf"]


@pytest.mark.parametrize("cookie", RAW_COOKIES)
async def test_a_cookie_that_is_not_utf8_is_never_a_500(server, cookie):
    from tests.reliability.hostile import TRACEBACK, send_raw

    for method, path in COOKIE_ROUTES:
        body = b"csrf=x&username=staff&password=y" if method == "POST" else b""
        request = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n".encode()
                   + b"Cookie: " + cookie + b"\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                   + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        status, answer = await send_raw(server.port, request)
        assert status is not None and status < 500, (method, path, cookie, status)
        assert not TRACEBACK.search(answer), (method, path, cookie)


# --------------------------------------------------------------------------- push sockets (item 6)

async def _upgrade(http, base: str, session: str) -> tuple[int, object]:
    import aiohttp

    try:
        ws = await http.ws_connect(f"{base}/api/chat/{session}/ws")
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status, None
    return 101, ws


@pytest.fixture
async def push_server():
    """Only the push WebSocket on a real loopback server (building all of `serve` takes seconds)."""
    from aiohttp import web

    from bot.channels.push import PushHub
    from bot.store.memory import MemoryStore
    from tests.conftest import free_port

    hub = PushHub(MemoryStore().transcript)
    app = web.Application()
    app.router.add_get("/api/chat/{session}/ws", hub.handle)
    app.on_shutdown.append(hub.close_all)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", hub
    await runner.cleanup()


async def test_refused_push_upgrades_leave_nothing_behind(push_server):
    import aiohttp

    base, hub = push_server
    hub.max_total = 1
    async with aiohttp.ClientSession() as http:
        status, ws = await _upgrade(http, base, "first")
        assert status == 101
        for i in range(50):
            assert (await _upgrade(http, base, f"refused-{i}"))[0] == 503
        assert list(hub.sessions) == ["first"]  # not 51 entries, one per refused upgrade
        await ws.close()


async def test_one_address_cannot_hold_every_push_socket(push_server):
    import aiohttp

    from bot.channels.push import MAX_PER_ADDRESS

    base, hub = push_server
    assert 1 < MAX_PER_ADDRESS < hub.max_total and hub.max_per_address == MAX_PER_ADDRESS
    hub.max_per_address = 4
    async with aiohttp.ClientSession() as http:
        sockets = []
        for i in range(4):
            status, ws = await _upgrade(http, base, f"tab-{i}")
            assert status == 101
            sockets.append(ws)
        assert (await _upgrade(http, base, "tab-5"))[0] == 429
        assert hub.total == 4 and "tab-5" not in hub.sessions
        # A reconnecting tab of a session this address already holds replaces its old socket.
        status, again = await _upgrade(http, base, "tab-0")
        assert status == 101
        await _until(lambda: hub.total == 4)
        await sockets[1].close()  # a tab closed frees a place
        await _until(lambda: hub.total == 3 and hub.per_address == {"127.0.0.1": 3})
        status, ws = await _upgrade(http, base, "tab-6")
        assert status == 101
        for s in sockets + [again, ws]:
            await s.close()
        await _until(lambda: hub.total == 0 and hub.per_address == {} and hub.sessions == {})


async def _until(predicate, timeout: float = 5.0) -> None:
    import asyncio

    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


# --------------------------------------------------------------------------- /metrics (item 9)

def test_metrics_are_not_served_without_a_configured_token(server):
    for auth in (None, "Bearer ", "Bearer x"):
        status, _, body = call(server, "GET", "/metrics", headers={"Authorization": auth} if auth else None)
        assert status == 404, (auth, status)
        assert "halmstad_agents_available" not in body


async def test_metrics_need_the_bearer_token(tmp_path, monkeypatch):
    import aiohttp

    from tests.handoff.conftest import TUESDAY, running

    token = "metrics-token-0123456789abcdef"
    monkeypatch.setenv("HALMSTAD_METRICS_TOKEN", token)
    async with running(tmp_path, TUESDAY) as srv, aiohttp.ClientSession() as http:
        for auth in (None, "Bearer", "Bearer wrong", f"Basic {token}", f"Bearer {token}x", "Bearer \udcff"):
            headers = {"Authorization": auth.encode("utf-8", "surrogateescape").decode("latin-1")} if auth else {}
            async with http.get(f"{srv.base}/metrics", headers=headers) as resp:
                assert resp.status == 401, (auth, resp.status)
                assert resp.headers["WWW-Authenticate"].startswith("Bearer")
                assert "halmstad_agents_available" not in await resp.text()
        async with http.get(f"{srv.base}/metrics", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200 and "halmstad_agents_available" in await resp.text()


# --------------------------------------------------------------------------- data dir (item 10)

async def test_every_folder_and_file_the_server_writes_is_private(tmp_path):
    import os
    import stat

    from tests.handoff.conftest import TUESDAY, Guardian, running

    data = tmp_path / "data"
    (data / "sessions").mkdir(parents=True)  # as an older version left them: 0755
    os.chmod(data, 0o755)
    os.chmod(data / "sessions", 0o755)
    old_umask = os.umask(0o022)
    try:
        async with running(data, TUESDAY) as srv:
            guardian = Guardian(srv.base, "private-files")
            try:
                await guardian.say("jag vill prata med en människa")
                await guardian.say("hur aktiverar jag appen")
            finally:
                await guardian.close()
    finally:
        os.umask(old_umask)
    seen = []
    for path in [data, *data.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        seen.append(path)
        assert mode & 0o077 == 0, f"{path.relative_to(tmp_path)} is {oct(mode)}"
    assert any(p.suffix == ".json" and p.parent.parent.name == "sessions" for p in seen)
    assert (data / "outbox").is_dir()


async def test_the_outbox_is_swept_after_the_activation_link_lifetime(tmp_path):
    import os
    import time
    from datetime import datetime, timedelta, timezone
    from email.message import EmailMessage

    from backends.activation.app import ActivationConfig
    from backends.mail import Mailer
    from common.privacy import RetentionPolicy
    from bot.retention import OUTBOX_MAX_AGE, sweep
    from bot.store.memory import MemoryStore

    assert OUTBOX_MAX_AGE == ActivationConfig.__dataclass_fields__["code_ttl"].default == timedelta(hours=24)
    outbox = tmp_path / "outbox"
    mailer = Mailer.maildir(outbox)
    for subject in ("old link", "fresh link"):
        msg = EmailMessage()
        msg["To"], msg["Subject"] = "guardian@example.org", subject
        msg.set_content("https://example.org/activation/activate?code=secret")
        await mailer.send(msg)
    files = sorted((outbox / "new").iterdir())
    assert len(files) == 2
    old = next(f for f in files if "old link" in f.read_text())
    a_day_ago = time.time() - OUTBOX_MAX_AGE.total_seconds() - 60
    os.utime(old, (a_day_ago, a_day_ago))
    policy = RetentionPolicy(days=90, decision={"sv": "Beslut", "en": "Decision"})
    await sweep(MemoryStore(), policy, datetime.now(timezone.utc), outbox=outbox)
    left = [f.read_text() for f in (outbox / "new").iterdir()]
    assert len(left) == 1 and "fresh link" in left[0]


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(tmp_path):
    srv = Server(tmp_path / "data", "--trusted-proxy", "10.9.0.0/16, 127.0.0.1",
                 "--rate-limit-per-address", "3", "--rate-limit-per-session", "0").start()
    try:
        def chat(session: str, forwarded: str) -> int:
            body = json.dumps({"session": session, "text": "tack"}).encode()
            return srv.request("POST", "/api/chat", body, {"Content-Type": "application/json",
                                                           "X-Forwarded-For": forwarded})[0]

        # Behind the proxy each client has its own budget…
        assert [chat(f"a{i}", "198.51.100.1") for i in range(4)] == [200, 200, 200, 429]
        assert chat("b0", "198.51.100.2") == 200
        # …and what the client writes left of the address the proxy saw changes nothing; trusted
        # hops (10.9.x.x) right of it are skipped.
        assert chat("a4", "203.0.113.9, 198.51.100.1") == 429
        assert chat("a5", "198.51.100.1, 10.9.0.4") == 429
    finally:
        srv.kill()


def test_serve_refuses_a_trusted_proxy_that_is_no_address(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--data-dir", str(tmp_path),
                           "--trusted-proxy", "10.0.0.300/8"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "10.0.0.300/8" in done.stderr and "CIDR" in done.stderr


# --------------------------------------------------------------------------- headers (item 11)

HEADER_PATHS = [("GET", "/"), ("GET", "/healthz"), ("GET", "/widget.js"), ("GET", "/no-such-page"),
                ("GET", "/api/chat"), ("POST", "/api/chat"), ("GET", "/dsr/login"), ("GET", "/dsr/cases"),
                ("POST", "/dsr/api/requests"), ("GET", "/activation/activate"),
                ("POST", "/activation/api/activation-requests"), ("GET", "/agent/login"),
                ("GET", "/agent/api/me"), ("GET", "/metrics"), ("GET", "/dsr/no-such-page")]


def _assert_neutral_server(headers: dict, where) -> None:
    server = {k.lower(): v for k, v in headers.items()}.get("server", "")
    assert "python" not in server.lower() and "aiohttp" not in server.lower(), (where, server)
    assert not any(ch.isdigit() for ch in server), (where, server)


async def test_no_response_names_the_server_software_or_its_version(server):
    from tests.reliability.hostile import send_raw

    for method, path in HEADER_PATHS:
        status, headers, _ = call(server, method, path, {"x": 1} if method == "POST" else None)
        _assert_neutral_server(headers, (method, path, status))
        assert "Strict-Transport-Security" not in headers  # plain http: HSTS means nothing here
    for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                b"GET /\x00 HTTP/1.1\r\n\r\n"):
        status, answer = await send_raw(server.port, raw)
        head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        lines = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        _assert_neutral_server(lines, raw)


async def test_hsts_is_sent_on_every_response_when_the_public_url_is_https(tmp_path):
    import aiohttp
    from aiohttp import web

    from bot.app import ServeConfig, build_app
    from tests.conftest import free_port

    port = free_port()
    app = build_app(ServeConfig(port=port, data_dir=tmp_path, public_url="https://chat.example.org",
                                rate_limit_per_address=0, rate_limit_per_session=0))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            for method, path in HEADER_PATHS:
                async with http.request(method, f"http://127.0.0.1:{port}{path}", allow_redirects=False) as resp:
                    hsts = resp.headers.get("Strict-Transport-Security", "")
                    assert hsts.startswith("max-age=") and int(hsts.split("=")[1].split(";")[0]) >= 15552000, \
                        (method, path, resp.status, hsts)
                    _assert_neutral_server(dict(resp.headers), (method, path))
    finally:
        await runner.cleanup()
