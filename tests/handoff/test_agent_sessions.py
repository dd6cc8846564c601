"""Agent console sessions can be revoked (issue 13, item 7): a new password, `agents disable` and
`agents remove` end the sessions already open in a running server (the command runs in another
process, so the server learns it from agents.json), and a session has a configurable absolute
lifetime however busy it is."""
from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiohttp import web

from bot.app import ServeConfig, build_app
from bot.cli import main as cli
from bot.handoff.agents import add_agent
from tests.conftest import free_port
from tests.handoff.conftest import AGENT_PASSWORD, TUESDAY, Agent, running


@pytest.mark.parametrize("command", [
    ["agents", "disable", "agent"],
    ["agents", "remove", "agent"],
    None,  # a new password (`agents add` again)
])
async def test_an_open_console_session_ends_when_its_login_changes(tmp_path, people, command, monkeypatch, capsys):
    async with running(tmp_path, TUESDAY) as srv:
        console = people(Agent, srv.base)
        assert (await console.login()).status == 200
        assert (await console.call("GET", "/agent/api/me"))[0] == 200
        if command is None:
            add_agent(tmp_path, "agent", "a-brand-new-password", display_name="Alex Andersson")
        else:
            assert cli([*command, "--data-dir", str(tmp_path)]) == 0
            assert "ended" in capsys.readouterr().out
        status, body = await console.call("GET", "/agent/api/me")
        assert status == 401 and "error" in body
        status, _ = await console.call("GET", "/agent/api/queue")
        assert status == 401
        again = await console.login()  # the old password no longer opens a session either
        assert again.status == 401
        if command is None:
            assert (await console.login(password="a-brand-new-password")).status == 200


async def test_agents_add_enables_a_disabled_login_again(tmp_path, people):
    async with running(tmp_path, TUESDAY) as srv:
        assert cli(["agents", "disable", "agent", "--data-dir", str(tmp_path)]) == 0
        console = people(Agent, srv.base)
        assert (await console.login()).status == 401
        add_agent(tmp_path, "agent", AGENT_PASSWORD)
        assert (await console.login()).status == 200


def test_disabling_or_removing_an_unknown_agent_is_a_clear_error(tmp_path, capsys):
    add_agent(tmp_path, "agent", AGENT_PASSWORD)
    for command in ("disable", "remove"):
        assert cli(["agents", command, "nobody", "--data-dir", str(tmp_path)]) == 1
        assert "no agent 'nobody'" in capsys.readouterr().err


@contextlib.asynccontextmanager
async def with_session_hours(tmp_path, hours: float):
    add_agent(tmp_path, "agent", AGENT_PASSWORD)
    port = free_port()
    runner = web.AppRunner(build_app(ServeConfig(port=port, data_dir=tmp_path, now=TUESDAY,
                                                 rate_limit_per_address=0, rate_limit_per_session=0,
                                                 session_hours=hours)))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_busy_console_session_still_ends_at_its_absolute_lifetime(tmp_path, people):
    async with with_session_hours(tmp_path, 1.5 / 3600) as base:  # 1.5 seconds
        console = people(Agent, base)
        assert (await console.login()).status == 200
        statuses = []
        for _ in range(8):  # used every quarter second: activity does not extend it
            statuses.append((await console.call("GET", "/agent/api/me"))[0])
            await asyncio.sleep(0.25)
        await asyncio.sleep(0.2)
        assert statuses[0] == 200
        assert (await console.call("GET", "/agent/api/me"))[0] == 401
