"""Login throttles under concurrency, against a real `serve` app on loopback (issue 13, items 1, 8).

Every login (agent console, data-rights staff, app-login) counts an attempt before its argon2
verification, so requests sent together cannot all pass the check while the verifications run;
every login also limits failures per client address, whichever usernames they name.

The argon2 verifications are real; a gate around `PasswordHasher.verify` (the library's edge)
counts them and holds them until the test has sent the last request, so "sent together" is
deterministic: the right password is sent while the wrong ones are still being verified.
"""
from __future__ import annotations

import asyncio
import re
import threading
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
import pytest_asyncio
from argon2 import PasswordHasher

from backends.activation.security import hash_code
from backends.activation.store import ActivationStore
from backends.dsr.app import add_staff
from bot.handoff.agents import add_agent
from tests.test_activation_e2e import Served, config_for

pytestmark = [pytest.mark.reliability, pytest.mark.asyncio(loop_scope="module")]

AGENT_PASSWORD = "agent-password-123"
STAFF_PASSWORD = "staff-password-123"
APP_PASSWORD = "Sillsallad-med-dill-42"
PROXY = "127.0.0.1/32"  # the tests' loopback client plays a trusted reverse proxy…
# …so each test names its own client address in X-Forwarded-For and the tests share one server.


class Gate:
    """Count real argon2 verifications and hold them until released."""

    def __init__(self) -> None:
        self.started = 0
        self._lock = threading.Lock()
        self.open = threading.Event()

    def install(self, monkeypatch) -> None:
        real = PasswordHasher.verify
        gate = self

        def verify(hasher, hash_, password):
            with gate._lock:
                gate.started += 1
            gate.open.wait(20)
            return real(hasher, hash_, password)

        monkeypatch.setattr(PasswordHasher, "verify", verify)

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.started < count:
            assert loop.time() < deadline, f"only {self.started} verifications started"
            await asyncio.sleep(0.01)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(tmp_path_factory):
    config = config_for(tmp_path_factory.mktemp("logins"), trusted_proxies=PROXY)
    data_dir = config.data_dir
    store = ActivationStore(data_dir)
    now = datetime.now(timezone.utc)
    try:
        for suffix in ("", "-b"):  # one set of accounts for each test that needs a fresh account
            add_agent(data_dir, f"agent{suffix}", AGENT_PASSWORD)
            add_staff(data_dir, f"staff{suffix}", STAFF_PASSWORD)
            address, code = f"guardian{suffix}@example.com", hash_code(f"code{suffix}".ljust(43, "c"))
            store.add_account(address, now)
            store.issue_code(address, code, now, now + timedelta(hours=1))
            store.consume_code(code, f"familjen{suffix}", PasswordHasher().hash(APP_PASSWORD), now)
    finally:
        store.close()
    srv = await Served(config).start()
    yield srv
    await srv.stop()


def via(address: str) -> dict:
    return {"X-Forwarded-For": f"192.0.2.99, {address}"}  # the leftmost entry is the client's own claim


async def agent_login(srv: Served, http: aiohttp.ClientSession, username: str, password: str,
                      address: str) -> int:
    async with http.post(f"{srv.base}/agent/api/login", json={"username": username, "password": password},
                         headers=via(address)) as r:
        await r.read()
        return r.status


async def app_login(srv: Served, http: aiohttp.ClientSession, username: str, password: str,
                    address: str) -> int:
    async with http.post(f"{srv.base}/activation/api/app-login",
                         json={"username": username, "password": password}, headers=via(address)) as r:
        await r.read()
        return r.status


class StaffForm:
    """The staff login form's double-submit token, fetched once and sent with every attempt."""

    def __init__(self, csrf: str, cookie: str) -> None:
        self.csrf, self.cookie = csrf, cookie

    @classmethod
    async def fetch(cls, srv: Served, http: aiohttp.ClientSession) -> "StaffForm":
        async with http.get(f"{srv.base}/dsr/login") as r:
            page = await r.text()
            return cls(re.search(r'name="csrf" value="([^"]+)"', page).group(1), r.cookies["dsr_login"].value)


async def staff_login(srv: Served, http: aiohttp.ClientSession, username: str, password: str,
                      address: str, form: StaffForm) -> int:
    async with http.post(f"{srv.base}/dsr/login", allow_redirects=False,
                         headers={"Cookie": f"dsr_login={form.cookie}", **via(address)},
                         data={"csrf": form.csrf, "username": username, "password": password}) as r:
        await r.read()
        return 200 if r.status == 303 else r.status  # 303 to the case list: logged in


async def _login_fn(kind: str, srv: Served, http: aiohttp.ClientSession, address: str, suffix: str = ""):
    """Return (login(username, password) → status, the account's username, its password)."""
    if kind == "agent":
        return lambda u, p: agent_login(srv, http, u, p, address), "agent" + suffix, AGENT_PASSWORD
    if kind == "staff":
        form = await StaffForm.fetch(srv, http)
        return lambda u, p: staff_login(srv, http, u, p, address, form), "staff" + suffix, STAFF_PASSWORD
    return lambda u, p: app_login(srv, http, u, p, address), "familjen" + suffix, APP_PASSWORD


KINDS = ["agent", "staff", "app"]


@pytest.mark.parametrize("kind", KINDS)
async def test_eleven_wrong_and_the_right_password_at_once_verify_at_most_five(served, monkeypatch, kind):
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        login, username, right = await _login_fn(kind, served, http, f"198.51.100.{KINDS.index(kind) + 1}")
        gate = Gate()
        gate.install(monkeypatch)
        try:
            wrong = [asyncio.create_task(login(username, f"wrong-password-{i}")) for i in range(11)]
            await gate.wait_for(5)  # five verifications are running (and held)
            right_task = asyncio.create_task(login(username, right))
            await asyncio.sleep(0.3)  # the right one has arrived while the wrong ones still run
        finally:
            gate.open.set()
        statuses = await asyncio.gather(*wrong)
        right_status = await right_task
    assert right_status == 429, "the twelfth guess was verified although the limit is five"
    assert gate.started <= 5
    assert sorted(statuses) == [401] * 5 + [429] * 6


@pytest.mark.parametrize("kind,limit", [("agent", 20), ("staff", 20), ("app", 50)])
async def test_guesses_spread_over_many_usernames_from_one_address_are_throttled(served, monkeypatch, kind,
                                                                              limit):
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        login, _, _ = await _login_fn(kind, served, http, f"198.51.100.{KINDS.index(kind) + 10}")
        gate = Gate()
        gate.open.set()
        gate.install(monkeypatch)
        statuses = await asyncio.gather(*[login(f"{kind}{i:02d}", "wrong-password-1")
                                          for i in range(limit + 20)])
    assert statuses.count(401) == limit and statuses.count(429) == 20
    assert gate.started <= limit


@pytest.mark.parametrize("kind", KINDS)
async def test_wrong_guesses_delay_the_right_password_but_never_lock_it_out(served, kind):
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        attacker, username, right = await _login_fn(kind, served, http, f"203.0.113.{KINDS.index(kind) + 1}",
                                                    "-b")
        owner, _, _ = await _login_fn(kind, served, http, f"203.0.113.{KINDS.index(kind) + 100}", "-b")
        for i in range(5):
            assert await attacker(username, f"stranger-guess-{i}") == 401
        started = asyncio.get_running_loop().time()
        assert await owner(username, right) == 429  # from another address too: the delay is the account's
        while await owner(username, right) == 429:  # …but only a delay: 2 s after five failures
            assert asyncio.get_running_loop().time() - started < 10, "the right password stayed locked out"
            await asyncio.sleep(0.5)
        assert asyncio.get_running_loop().time() - started >= 1.0
