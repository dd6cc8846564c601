"""Data-rights staff sessions can be revoked and end (issue 13, items 7 and 8), over a real
loopback server: a new password, `backend disable-staff` and `backend remove-staff` end the
sessions already open; a session ends at its absolute lifetime however busy; wrong guesses delay
the right password (429 with Retry-After) but never lock it out."""
from __future__ import annotations

from datetime import datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer

from backends.dsr.app import DsrConfig, add_staff, create_app, load_texts
from bot.cli import main as cli
from tests.backends.test_dsr_staff import PASSWORD, ROOT, STHLM, TOKEN, Clock, Staff, csrf_of


class Timer:
    """Settable seconds for sessions and login throttles."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def staff(tmp_path):
    add_staff(tmp_path, "handlaggare", PASSWORD)
    timer = Timer()
    app = create_app(DsrConfig(data_dir=tmp_path, token=TOKEN, texts=load_texts(ROOT / "knowledge"),
                               clock=Clock(datetime(2026, 11, 24, 10, 0, tzinfo=STHLM)),
                               session_lifetime=12 * 3600, timer=timer))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    s = Staff(client, app, tmp_path, "/")
    s.timer = timer
    yield s
    await client.close()


async def signed_in(staff) -> bool:
    resp = await staff.client.get(staff.url("cases"), allow_redirects=False)
    return resp.status == 200


@pytest.mark.parametrize("command", [
    ["backend", "disable-staff", "handlaggare"],
    ["backend", "remove-staff", "handlaggare"],
    None,  # a new password (`backend add-staff` again)
])
async def test_an_open_staff_session_ends_when_its_login_changes(staff, tmp_path, command, capsys):
    assert (await staff.login()).status == 303
    assert await signed_in(staff)
    if command is None:
        add_staff(tmp_path, "handlaggare", "a brand new password")
    else:
        assert cli([*command, "--data-dir", str(tmp_path)]) == 0
        assert "ended" in capsys.readouterr().out
    assert not await signed_in(staff)
    api = await staff.client.get(staff.url("api/staff/cases"))
    assert api.status == 401
    assert (await staff.login()).status == 401  # the old password opens nothing either
    if command is None:
        assert (await staff.login(password="a brand new password")).status == 303


async def test_add_staff_enables_a_disabled_login_again(staff, tmp_path):
    assert cli(["backend", "disable-staff", "handlaggare", "--data-dir", str(tmp_path)]) == 0
    assert (await staff.login()).status == 401
    add_staff(tmp_path, "handlaggare", PASSWORD)
    assert (await staff.login()).status == 303


def test_disabling_or_removing_unknown_staff_is_a_clear_error(tmp_path, capsys):
    add_staff(tmp_path, "handlaggare", PASSWORD)
    for command in ("disable-staff", "remove-staff"):
        assert cli(["backend", command, "nobody", "--data-dir", str(tmp_path)]) == 1
        assert "no staff login 'nobody'" in capsys.readouterr().err


async def test_a_busy_staff_session_ends_at_its_absolute_lifetime(staff):
    assert (await staff.login()).status == 303
    for _ in range(3):  # used every 3.5 hours: well within the 8-hour idle limit each time
        assert await signed_in(staff)
        staff.timer.now += 3.5 * 3600
    assert await signed_in(staff)  # 10.5 hours after the login
    staff.timer.now += 2 * 3600
    assert not await signed_in(staff)  # 12.5 hours: over, however busy


async def test_wrong_guesses_delay_the_right_password_with_retry_after_never_a_lock(staff):
    for i in range(5):
        assert (await staff.login(password=f"wrong password {i}")).status == 401
    held = await staff.login()
    assert held.status == 429 and int(held.headers["Retry-After"]) == 2
    staff.timer.now += 2
    assert (await staff.login(password="wrong password 6")).status == 401
    held = await staff.login()
    assert held.status == 429 and int(held.headers["Retry-After"]) == 4  # it grows: 2, 4, 8 …
    staff.timer.now += 4
    assert (await staff.login()).status == 303  # the right password, after the delay


async def test_a_throttled_login_page_says_how_many_seconds_to_wait_in_an_alert(staff):
    for i in range(5):
        assert (await staff.login(password=f"wrong password {i}")).status == 401
    held = await staff.login()  # the right password, during the delay
    assert held.status == 429 and held.headers["Retry-After"] == "2"
    page = await held.text()
    assert ('<p class="error" role="alert" id="login-error">'
            "För många försök. Vänta 2 sekunder och försök igen.</p>") in page
    assert "Fel användarnamn eller lösenord." not in page
    assert 'aria-describedby="login-error"' in page and 'value="handlaggare"' in page

    staff.timer.now += 2
    assert (await staff.login(password="wrong password 6")).status == 401
    form = await staff.client.get(staff.url("login?lang=en"))
    csrf = csrf_of(await form.text())
    held = await staff.client.post(staff.url("login?lang=en"), allow_redirects=False,
                                   data={"csrf": csrf, "username": "handlaggare", "password": PASSWORD})
    assert held.status == 429 and held.headers["Retry-After"] == "4"
    assert "Too many attempts. Wait 4 seconds and try again." in await held.text()
