"""The shared parts of several serve processes on a real redis-server (bot/shared_redis/, issue 17).

Each test makes two `SharedState`s with their own clients on one Redis, standing for two
processes, and checks that what one changes the other sees, and that what must happen once
happens once: accepting a conversation, delivering a data-rights request, telling its outcome,
the last allowed chat message.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from bot.app import RUNTIME_KEY, ServeConfig, build_app
from bot.channels.push import PushHub
from bot.handoff.agents import Agent
from bot.handoff.queue import HandoffQueue, QueueError
from bot.pending import DeliveryWorker
from bot.shared_redis.bus import LockLost
from bot.shared_redis.state import SharedState
from bot.shared_redis.telegram_outbox import TelegramOutbox
from common.redis_conn import RedisSettings
from common.redis_sessions import RedisSessions
from common.locks import KeyedLocks
from common.messages import Outbound, Reply

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
ALEX = Agent("alex", "Alex Andersson")
BO = Agent("bo", "Bo Berg")


@pytest.fixture
async def two(redis_server):
    """Two processes' shared state on one Redis, started (following the change stream)."""
    made = []
    for _ in range(2):
        settings = RedisSettings(redis_server.url, "test:")
        shared = SharedState(settings.connect(), settings)
        await shared.start()
        made.append(shared)
    yield made
    for shared in made:
        await shared.close()
        await shared.redis.aclose()


def queue_on(shared: SharedState) -> HandoffQueue:
    return HandoffQueue(None, lambda: NOW, shared.items)


async def test_a_conversation_queued_on_one_process_is_seen_and_accepted_once(two):
    a, b = two
    qa, qb = queue_on(a), queue_on(b)
    item, is_new = await qa.join("guardian-1", lang="sv", channel="web", reason=None, context={})
    assert is_new
    await b.bus.catch_up()
    assert qb.open_for_session("guardian-1")["id"] == item["id"]
    assert (await qb.join("guardian-1", lang="sv", channel="web", reason=None, context={}))[1] is False

    results = await asyncio.gather(qa.accept(item["id"], "alex", "Alex"), qb.accept(item["id"], "bo", "Bo"),
                                   return_exceptions=True)
    winners = [r for r in results if isinstance(r, dict)]
    assert len(winners) == 1 and sum(isinstance(r, QueueError) for r in results) == 1
    await a.bus.catch_up()
    await b.bus.catch_up()
    assert qa.get(item["id"])["agent"] == qb.get(item["id"])["agent"] == winners[0]["agent"]


async def test_a_change_after_the_lock_lapsed_is_refused_and_writes_nothing(two):
    a, b = two
    a.items.lock_seconds = 0.2
    qa = queue_on(a)
    item, _ = await qa.join("guardian-2", lang="sv", channel="web", reason=None, context={})
    with pytest.raises(LockLost):
        async with qa.lock:
            await asyncio.sleep(0.5)  # the lock expires; another process may change the item now
            changed = dict(item, status="closed")
            await a.items.save(changed)
    await b.bus.catch_up()
    assert queue_on(b).get(item["id"])["status"] == "waiting"


async def test_items_counters_and_audit_are_read_back_by_a_new_process(two, redis_server):
    a, _ = two
    qa = queue_on(a)
    await qa.add_message("guardian-3", name="Kim", contact="kim@example.com", contact_kind="email",
                         text="Ring mig", lang="sv", channel="web", reason=None, context={})
    qa.count_conversation()
    qa.count_conversation()
    await qa.flush_counters()
    await qa.audit("alex", "login")
    settings = RedisSettings(redis_server.url, "test:")
    later = SharedState(settings.connect(), settings)
    await later.start()
    try:
        again = queue_on(later)
        assert [m["name"] for m in again.open_messages()] == ["Kim"]
        assert again.counters["conversations"] == 2
        assert [r["action"] for r in await later.items.audit_records()] == ["login"]
    finally:
        await later.close()
        await later.redis.aclose()


async def test_console_sessions_and_presence_are_shared(two):
    a, b = two
    sessions_a, sessions_b = a.agent_sessions(3600), b.agent_sessions(3600)
    presence_a, presence_b = a.presence(), b.presence()
    token = sessions_a.start(ALEX, "epoch-1")
    presence_a.set_available(ALEX, True)
    presence_a.touch(BO)
    await a.bus.flush()
    await b.bus.catch_up()
    found = sessions_b.get(token)
    assert found is not None and found.agent == ALEX and found.epoch == "epoch-1"
    assert presence_b.is_available("alex") and not presence_b.is_available("bo")
    assert [agent.username for agent in presence_b.available(60)] == ["alex"]
    assert sessions_b.logged_in("alex")

    sessions_b.end(token)
    presence_b.forget("alex")
    await b.bus.flush()
    await a.bus.catch_up()
    assert sessions_a.get(token) is None and not sessions_a.logged_in("alex")
    assert presence_a.available(60) == []


class Socket:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    async def send_json(self, event: dict) -> None:
        self.sent.append(event)


async def until(check, tries: int = 200) -> None:
    """Wait for the other process's follower (a few milliseconds), failing after ~2 s."""
    for _ in range(tries):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the other process never saw the change")


async def test_a_console_event_published_on_one_process_reaches_the_consoles_of_both(two):
    a, b = two
    hub_a, hub_b = a.hub(), b.hub()
    on_a, on_b = Socket(), Socket()
    hub_a.sockets.add(on_a)
    hub_b.sockets.add(on_b)
    await hub_a.publish({"type": "queue"})
    await until(lambda: on_a.sent and on_b.sent)
    assert on_a.sent == on_b.sent == [{"type": "queue"}]


async def test_a_post_on_one_process_wakes_the_widget_sockets_on_the_other(two):
    a, b = two

    async def transcript(session, after):
        return []
    push_a, push_b = PushHub(transcript), PushHub(transcript)
    a.connect_push(push_a)
    b.connect_push(push_b)
    woken: list[str] = []
    push_b.wake = woken.append
    await push_a.on_outbound(Outbound(session="guardian-4", replies=(), channel="web", reply_to={},
                                      sender="agent"))
    await until(lambda: woken)
    assert woken == ["guardian-4"]


async def test_the_rate_limit_counts_the_messages_of_every_process(two):
    a, b = two
    on_a, on_b = a.limiter("session", 3), b.limiter("session", 3)
    assert [await on_a.hit("s1"), await on_b.hit("s1"), await on_a.hit("s1")] == [0.0, 0.0, 0.0]
    wait = await on_b.hit("s1")
    assert 0 < wait <= 60
    assert await on_a.hit("s2") == 0.0  # another key is counted apart
    assert await a.limiter("off", 0).hit("s1") == 0.0


class CountingBackend:
    """A data-rights backend that takes its time and counts the requests it is sent."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def file_request(self, body: dict, key: str, timeout: float | None = None) -> dict:
        self.calls.append(key)
        await asyncio.sleep(0.05)
        return {"reference": "DSR-2026-00001", "due_date": "2027-01-01", "received_at": NOW.isoformat()}


async def test_two_workers_deliver_a_request_once_and_tell_the_guardian_once(two):
    a, b = two
    pa, pb = a.pending(lambda: NOW), b.pending(lambda: NOW)
    item = await pa.enqueue(session="guardian-5", channel="web", body={"right": "access", "language": "sv"})
    assert [i["id"] for i in await pb.open_items()] == [item["id"]]
    assert (await pb.enqueue(session="guardian-5", channel="web",
                             body={"right": "access", "language": "sv"}))["id"] == item["id"]  # the same request
    backend, told = CountingBackend(), []

    async def announce(found: dict) -> None:
        told.append(found["id"])
    for queue in (pa, pb):  # due now, not after the grace the filing turn has
        stored = await queue.get(item["id"])
        stored["next_attempt_at"] = 0
        await queue._store(stored)
    workers = [DeliveryWorker(q, backend, announce=announce) for q in (pa, pb)]
    await asyncio.gather(*(w.run_once() for w in workers))
    await asyncio.gather(*(w.run_once() for w in workers))
    assert backend.calls == [item["idempotency_key"]]
    assert told == [item["id"]]
    assert await pa.open_items() == [] and (await pb.for_session("guardian-5"))[0]["delivered"]["reference"]
    assert await pa.prune(datetime(2027, 6, 1, tzinfo=timezone.utc)) == 1
    assert await pb.for_session("guardian-5") == []


async def test_staff_sessions_in_redis_are_seen_by_every_process_and_expire(two):
    a, b = two
    on_a, on_b = a.staff_sessions("dsr"), RedisSessions(b.redis, b.settings, "dsr")
    await on_a.put("digest-1", {"username": "dpo", "csrf": "x", "expires": 1.0}, ttl=0.3)
    assert (await on_b.get("digest-1"))["username"] == "dpo"
    await on_b.drop("digest-1")
    assert await on_a.get("digest-1") is None
    await on_a.put("digest-2", {"username": "dpo"}, ttl=0.1)
    await asyncio.sleep(0.3)
    assert await on_b.get("digest-2") is None


async def test_ended_console_sessions_are_swept_from_the_shared_map(two):
    a, b = two
    sessions = a.agent_sessions(3600)
    kept = sessions.start(ALEX)
    ended = sessions.start(BO)
    record = a.maps["agent_sessions"].get(sessions._hash(ended))
    a.maps["agent_sessions"].set(sessions._hash(ended), {**record, "started": record["started"] - 7200})
    sessions.sweep()
    await a.bus.flush()
    await b.bus.catch_up()
    assert list(dict(b.maps["agent_sessions"].items())) == [sessions._hash(kept)]
    assert list(await b.redis.hkeys(b.maps["agent_sessions"].hash_key)) == [sessions._hash(kept).encode()]


async def test_an_acknowledged_left_message_and_request_survive_a_redis_sigkill(redis_server):
    """What the guardian was told is saved is on Redis's disk (AOF, appendfsync always) when the
    call returns: a SIGKILL of redis-server right after loses neither."""
    settings = RedisSettings(redis_server.url, "test:")
    shared = SharedState(settings.connect(), settings)
    await shared.start()
    message = await queue_on(shared).add_message(
        "guardian-6", name="Kim", contact="070-123 45 67", contact_kind="phone", text="Ring mig",
        lang="sv", channel="web", reason=None, context={})
    request = await shared.pending(lambda: NOW).enqueue(session="guardian-6", channel="web",
                                                        body={"right": "erasure", "language": "sv"})
    await shared.close()
    await shared.redis.aclose()
    redis_server.kill()
    redis_server.start()
    again = SharedState(settings.connect(), settings)
    await again.start()
    try:
        assert queue_on(again).get(message["id"])["text"] == "Ring mig"
        assert (await again.pending(lambda: NOW).get(request["id"]))["body"]["right"] == "erasure"
    finally:
        await again.close()
        await again.redis.aclose()


async def test_an_outcome_whose_telling_failed_is_told_by_the_next_round(two):
    a, _ = two
    queue = a.pending(lambda: NOW)
    item = await queue.enqueue(session="guardian-7", channel="web", body={"right": "access", "language": "sv"})
    await queue.deliver(item["id"], CountingBackend())
    told: list[str] = []

    async def announce(found: dict) -> None:
        if not told:
            told.append("failed")
            raise RuntimeError("the conversation's store is down")
        told.append(found["id"])
    worker = DeliveryWorker(queue, CountingBackend(), announce=announce)
    await worker.run_once()
    await worker.run_once()
    assert told == ["failed", item["id"]] and await queue.open_items() == []


class FakeTelegram:
    """What the outbox uses of a TelegramChannel; `hold` keeps a send from finishing."""

    def __init__(self) -> None:
        self._locks = KeyedLocks()
        self.sent: list[tuple[int, list[str]]] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.ready = asyncio.Event()
        self.ready.set()

        class Engine:
            async def peek(self, session):
                return None
        self.engine = Engine()

    def locks(self, chat_id: int):
        return self._locks.lock(chat_id)

    async def send(self, chat_id: int, replies, lang: str = "sv") -> None:
        await self.hold.wait()
        self.sent.append((chat_id, [r.text for r in replies]))


def telegram_post(text: str) -> Outbound:
    return Outbound(session="tg-1", channel="telegram", replies=[Reply(text)], sender="agent",
                    reply_to={"telegram_chat_id": 42})


async def test_a_telegram_message_is_sent_once_by_its_process_and_recovered_if_that_process_dies(two):
    a, b = two
    bot_a, bot_b = FakeTelegram(), FakeTelegram()
    outbox_a = TelegramOutbox(a.redis, a.settings, bot_a, lease=0.5)
    outbox_b = TelegramOutbox(b.redis, b.settings, bot_b, lease=0.5)
    await outbox_a.on_outbound(telegram_post("Hej från Alex"))
    await outbox_a.close()
    assert bot_a.sent == [(42, ["Hej från Alex"])]
    assert await outbox_b.recover_once() == 0 and bot_b.sent == []  # nothing left to recover

    bot_a.hold.clear()  # A takes the next one and dies before sending it
    await outbox_a.on_outbound(telegram_post("Jag är kvar"))
    assert await outbox_b.recover_once() == 0  # A's lease still holds: B does not send it too
    for task in list(outbox_a._tasks):
        task.cancel()
    await asyncio.sleep(0.7)  # A's lease lapses
    assert await outbox_b.recover_once() == 1
    await outbox_b.close()
    assert bot_b.sent == [(42, ["Jag är kvar"])] and bot_a.sent == [(42, ["Hej från Alex"])]
    assert await outbox_b.recover_once() == 0 and await b.redis.hlen(outbox_b.hash_key) == 0


def test_serve_on_redis_sends_telegram_posts_through_the_outbox(redis_server, tmp_path, monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:test")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9/bot")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://bot.example.org/telegram/webhook")  # no polling on Redis
    app = build_app(ServeConfig(data_dir=tmp_path / "data", redis_url=redis_server.url))
    listeners = [getattr(listener, "__self__", None) for listener in app[RUNTIME_KEY].engine.listeners]
    assert [type(part).__name__ for part in listeners] == ["PushHub", "TelegramOutbox"]
    assert listeners[1].channel is app[RUNTIME_KEY].telegram
    plain = build_app(ServeConfig(data_dir=tmp_path / "plain"))
    listeners = [getattr(listener, "__self__", None) for listener in plain[RUNTIME_KEY].engine.listeners]
    assert [type(part).__name__ for part in listeners] == ["PushHub", "TelegramChannel"]


async def test_a_process_that_missed_trimmed_entries_reads_the_shared_state_again(two):
    a, b = two
    b._follower.cancel()  # B stops following (a long pause) while A writes a lot
    a.bus.maxlen = 10
    qa = queue_on(a)
    item, _ = await qa.join("guardian-8", lang="sv", channel="web", reason=None, context={})
    for n in range(400):
        await a.bus.publish("noise", {"n": n})
    assert await b.bus.check_gap() is True
    assert queue_on(b).get(item["id"])["session"] == "guardian-8"
    assert await b.bus.check_gap() is False
