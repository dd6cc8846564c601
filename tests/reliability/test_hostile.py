"""Hostile input against a real `serve` process: never a 5xx, never a traceback, still answering.

The CI subset of `python -m tests.reliability.hostile` (10,000 requests, docs/RELIABILITY.md):
300 seeded requests to every route, plus one test per fault the long run found, so each stays
fixed.
"""
from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

import pytest

from tests.reliability.hostile import TOKEN, logins, prepare, run, send_raw, still_answers
from tests.serving import Server

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("hostile") / "data"
    data_dir.mkdir()
    prepare(data_dir)
    srv = Server(data_dir, "--demo", "--rate-limit-per-address", "0", "--rate-limit-per-session", "0",
                 env={"HALMSTAD_BACKEND_TOKEN": TOKEN, "HALMSTAD_LOG_LEVEL": "INFO"}).start()
    yield srv
    srv.kill()


def raw(method: str, path: str, body: bytes = b"", **headers: bytes | str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    for name, value in headers.items():
        value = value if isinstance(value, bytes) else value.encode()
        lines.append(name.replace("_", "-").encode() + b": " + value)
    if body:
        lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def status_of(server: Server, data: bytes) -> tuple[int | None, bytes]:
    return asyncio.run(send_raw(server.port, data))


def test_300_hostile_requests_get_no_5xx_and_no_traceback_and_the_server_still_answers(server):
    auth = asyncio.run(logins(server.base))
    assert set(auth) == {"agent", "staff"}  # the fuzzer also reaches behind both logins
    report = asyncio.run(run(server.port, 300, seed=11, concurrency=8, auth=auth))
    assert report.server_errors == 0, report.failures[:5]
    assert report.failures == []
    assert report.statuses.get(200, 0) > 30 and report.statuses.get(400, 0) > 10  # it did reach handlers
    ok, detail = asyncio.run(still_answers(server.base))
    assert ok, detail
    log = server.log.read_text(errors="replace")
    # Refused requests are one INFO line each: no tracebacks to flood the log, no client address.
    assert "Traceback" not in log and "request from" not in log
    assert "http refused a malformed request" in log


@pytest.mark.parametrize("path,headers", [
    ("/api/chat", {"Content-Type": "application/json"}),
    ("/agent/api/login", {"Content-Type": "application/json"}),
    ("/activation/api/app-login", {"Content-Type": "application/json"}),
    ("/dsr/api/requests", {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}",
                           "Idempotency-Key": "deep-1"}),
])
def test_json_nested_thousands_deep_is_a_400_not_a_recursion_crash(server, path, headers):
    status, answer = status_of(server, raw("POST", path, b"[" * 5_000 + b"]" * 5_000, **headers))
    assert status == 400, answer[:300]


@pytest.mark.parametrize("path", ["/agent/api/queue", "/agent/api/me", "/agent/api/conversations/c-1"])
def test_agent_api_with_a_forged_cookie_of_raw_bytes_is_401(server, path):
    status, _ = status_of(server, raw("GET", path, Cookie=b"halmstad_agent=\xff\xc3forged"))
    assert status == 401


def test_an_expect_header_that_is_not_utf8_is_417(server):
    status, _ = status_of(server, raw("POST", "/api/chat", b"{}", Expect=b"\xff\xfe",
                                      Content_Type="application/json"))
    assert status == 417


def test_bearer_token_with_raw_bytes_is_401_on_both_backends(server):
    for path in ("/dsr/api/requests", "/activation/api/activation-requests"):
        status, _ = status_of(server, raw("POST", path, b"{}", Authorization=b"Bearer \xff\xfe",
                                          Content_Type="application/json", Idempotency_Key="k"))
        assert status == 401, path


def test_dsr_staff_forms_with_undecodable_or_non_ascii_fields_are_refused_not_crashed(server):
    status, _ = status_of(server, raw("POST", "/dsr/login", b"csrf=%FF%FE&username=\xff",
                                      Content_Type="application/x-www-form-urlencoded",
                                      Cookie="dsr_login=abc"))
    assert status == 400
    staff = asyncio.run(logins(server.base))["staff"]
    status, _ = status_of(server, raw("POST", "/dsr/cases/DSR-2026-00001/status", "csrf=åäö".encode(),
                                      Content_Type="application/x-www-form-urlencoded",
                                      Cookie=f"dsr_session={staff}"))
    assert status == 403  # the form's CSRF token is wrong: refused, not a TypeError


def test_activation_form_with_a_non_ascii_csrf_token_is_refused_not_crashed(server):
    status, answer = status_of(server, raw("POST", "/activation/activate", "code=abc&csrf=1.åäö".encode(),
                                           Content_Type="application/x-www-form-urlencoded",
                                           Cookie="activation_csrf=x"))
    assert status is not None and status < 500, answer[:300]


@pytest.mark.parametrize("path,extra", [
    ("/api/chat", {}),
    ("/activation/api/activation-requests", {"Authorization": f"Bearer {TOKEN}"}),
    ("/dsr/api/requests", {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "gz-1"}),
])
def test_a_body_that_claims_gzip_but_is_not_is_a_400(server, path, extra):
    status, answer = status_of(server, raw("POST", path, b"not gzip at all", Content_Type="application/json",
                                           Content_Encoding="gzip", **extra))
    assert status == 400, answer[:300]
    good = gzip.compress(b'{"session": "gz-ok", "text": "tack"}')
    if path == "/api/chat":  # real gzip still works
        status, _ = status_of(server, raw("POST", path, good, Content_Type="application/json",
                                          Content_Encoding="gzip"))
        assert status == 200
