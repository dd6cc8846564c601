"""The handoff with `serve --redis-url`: two whole apps (A and B) in this process on one real
redis-server, each with its own data dir (the agent logins file copied, as a deployment ships
one to every node). What one process does to the queue the other sees, and what each process's
sweeper does on its own happens once: a guardian whose agent vanished is told so once, not by
both; a left message taken on B is in the queue on A.
"""
from __future__ import annotations

import contextlib
import shutil

from aiohttp import web

from bot.app import ServeConfig, build_app
from bot.handoff.agents import AGENTS_FILE, add_agent
from bot.handoff.setup import HANDOFF_KEY
from tests.conftest import free_port
from tests.handoff.conftest import AGENT_PASSWORD, SUNDAY, TUESDAY, Guardian, Server, queued, ready_agent, wait_for


@contextlib.asynccontextmanager
async def two_running(tmp_path, redis_url: str, now: str):
    """Apps A and B on one Redis, with the agents `agent` and `agent2` in both data dirs."""
    dirs = [tmp_path / "a", tmp_path / "b"]
    dirs[0].mkdir()
    dirs[1].mkdir()
    add_agent(dirs[0], "agent", AGENT_PASSWORD, display_name="Alex Andersson")
    add_agent(dirs[0], "agent2", AGENT_PASSWORD, display_name="Bo Berg")
    shutil.copy2(dirs[0] / AGENTS_FILE, dirs[1] / AGENTS_FILE)
    runners, servers = [], []
    try:
        for data_dir in dirs:
            port = free_port()
            app = build_app(ServeConfig(port=port, data_dir=data_dir, now=now, rate_limit_per_address=0,
                                        rate_limit_per_session=0, redis_url=redis_url, redis_prefix="two:"))
            runner = web.AppRunner(app)
            runners.append(runner)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            servers.append(Server(f"http://127.0.0.1:{port}", app, data_dir))
        yield servers
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def count_sweeps(srv: Server) -> list[int]:
    """Count the sweeps of one process's sweeper from now on."""
    done = [0]
    sweep = srv.service.sweep_once

    async def counted() -> None:
        await sweep()
        done[0] += 1
    srv.service.sweep_once = counted
    return done


async def test_a_vanished_agent_is_noticed_once_though_both_processes_sweep(tmp_path, redis_server, people,
                                                                           monkeypatch):
    monkeypatch.setenv("HALMSTAD_AGENT_HEARTBEAT_SECONDS", "1.0")
    async with two_running(tmp_path, redis_server.url, TUESDAY) as (a, b):
        sweeps = [count_sweeps(a), count_sweeps(b)]
        vanishing = await ready_agent(a, people, "agent")
        guardian = await queued(b, people, "vanished-1")
        _, queue = await vanishing.call("GET", "/agent/api/queue")
        item_id = queue["waiting"][0]["id"]
        assert (await vanishing.call("POST", f"/agent/api/conversations/{item_id}/accept"))[0] == 200

        async def told_nobody_is_free():
            return any("ingen ledig handläggare" in m["text"] for m in await guardian.messages())
        await wait_for(told_nobody_is_free)
        since = [n[0] for n in sweeps]

        async def both_swept_again():
            return all(n[0] >= before + 3 for n, before in zip(sweeps, since))
        await wait_for(both_swept_again, timeout=20)
        for srv in (a, b):
            await srv.service.drain()
        texts = [m["text"] for m in await guardian.messages()]
        assert sum("tappade kontakten" in t for t in texts) == 1, texts
        assert sum("ingen ledig handläggare" in t for t in texts) == 1, texts
        assert a.service.queue.get(item_id)["status"] == b.service.queue.get(item_id)["status"] == "waiting"
        audit = await a.service.queue.storage.audit_records()
        assert [r["action"] for r in audit].count("requeue_after_timeout") == 1

        other = await ready_agent(b, people, "agent2")
        assert (await other.call("POST", f"/agent/api/conversations/{item_id}/accept"))[0] == 200
        assert (await other.call("GET", "/agent/api/queue"))[1]["assigned"][0]["agent"] == "agent2"


async def test_a_message_left_on_one_process_is_in_the_queue_on_the_other(tmp_path, redis_server, people):
    async with two_running(tmp_path, redis_server.url, SUNDAY) as (a, b):
        guardian = people(Guardian, b.base, "sunday-1")
        await guardian.say("jag vill prata med en människa")
        await guardian.say("ja")
        await guardian.say("Anna Andersson")
        await guardian.say("070-123 45 67")
        reply = await guardian.say("Jag kommer inte in i appen")
        assert "sparat" in reply["messages"][0]["text"]  # told only once it is stored
        agent = await ready_agent(a, people, "agent")
        _, queue = await agent.call("GET", "/agent/api/queue")
        [message] = queue["messages"]
        assert message["id"].upper() in reply["messages"][0]["text"]
        status, detail = await agent.call("GET", f"/agent/api/conversations/{message['id']}")
        assert detail["message"]["contact"] == "070-123 45 67"
        assert detail["message"]["text"] == "Jag kommer inte in i appen"
        assert a.app[HANDOFF_KEY].queue.open_messages()[0]["id"] == message["id"]
