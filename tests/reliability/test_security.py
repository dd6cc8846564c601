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
                 env={"HALMSTAD_BACKEND_TOKEN": TOKEN}).start()
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
    statuses = [call(server, "POST", "/agent/api/login", {"username": "agent", "password": f"x{i}"})[0]
                for i in range(31)]
    assert statuses[:30] == [401] * 30 and statuses[30] == 429


def test_the_chat_rate_limiter_forgets_idle_conversations_after_a_window():
    from bot.channels.web import RateLimiter

    limiter = RateLimiter(30, window=60.0)
    for i in range(1000):
        assert limiter.retry_after(f"conversation-{i}", now=float(i % 10)) == 0.0
    limiter.retry_after("a-minute-later", now=75.0)
    assert len(limiter._events) == 1  # not 1,001 kept until 200,000 keys (memory per conversation)
