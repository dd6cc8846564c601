"""The handoff queue keeps one small file per item: a change costs the same however many are stored."""
import json
from datetime import datetime
from zoneinfo import ZoneInfo

from tinydb import TinyDB

from bot.handoff.queue import HandoffQueue
from common.atomic import AtomicJSONStorage

NOW = datetime(2026, 12, 6, 11, 0, tzinfo=ZoneInfo("Europe/Stockholm"))


def clock():
    return NOW


async def leave(queue: HandoffQueue, n: int, tag: str = "s") -> None:
    for i in range(n):
        await queue.add_message(f"{tag}{i}", name="Anna", contact="anna@example.com", contact_kind="email",
                                text=f"Ring mig {i}", lang="sv", channel="web", reason="closed", context={})


async def test_items_survive_a_new_queue_and_are_separate_files(tmp_path):
    queue = HandoffQueue(tmp_path, clock)
    await leave(queue, 3)
    files = sorted((tmp_path / "handoff" / "items").glob("*.json"))
    assert len(files) == 3
    again = HandoffQueue(tmp_path, clock)
    assert len(again.open_messages()) == 3
    doc = json.loads(files[0].read_text())
    assert TinyDB(files[0], storage=AtomicJSONStorage).table("item").all()[0]["id"] == doc["item"]["1"]["id"]


def _files(root) -> dict:
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()}


async def bytes_written_by_one_change(queue: HandoffQueue, root, tag: str) -> int:
    """Add one left message; return the bytes of every file it created or rewrote."""
    before = _files(root)
    await leave(queue, 1, tag)
    after = _files(root)
    return sum(size for path, (mtime, size) in after.items() if before.get(path) != (mtime, size))


async def test_a_change_costs_the_same_with_many_stored_items(tmp_path):
    """What a change writes does not grow with the queue (one rewritten file for everything once
    made a change ~15x slower at 600 items). Measured in bytes written, not in time: the disk of
    a shared machine is too noisy for a timed test (speed is in bench/ and docs/BENCHMARKS.md)."""
    queue = HandoffQueue(tmp_path, clock)
    await leave(queue, 20, "a")
    few = await bytes_written_by_one_change(queue, tmp_path, "b")
    await leave(queue, 600, "c")
    many = await bytes_written_by_one_change(queue, tmp_path, "d")
    assert 0 < few and many <= few + 64, (few, many)


async def test_an_unreadable_item_file_is_moved_aside_not_fatal(tmp_path):
    queue = HandoffQueue(tmp_path, clock)
    await leave(queue, 2)
    victim = sorted((tmp_path / "handoff" / "items").glob("*.json"))[0]
    victim.write_text("{trunc")
    again = HandoffQueue(tmp_path, clock)
    assert len(again.open_messages()) == 1
    assert (tmp_path / "handoff" / "corrupt" / victim.name).exists()


async def test_an_older_single_file_queue_is_migrated(tmp_path):
    db = TinyDB(tmp_path / "handoff.json", storage=AtomicJSONStorage)
    db.table("items").insert({"id": "m-0123456789", "kind": "message", "status": "open", "session": "s1",
                              "created_at": NOW.isoformat(), "name": "Anna", "contact": "a@example.com",
                              "contact_kind": "email", "text": "Ring mig", "lang": "sv", "channel": "web"})
    db.table("counters").insert({"name": "totals", "conversations": 7})
    db.close()
    queue = HandoffQueue(tmp_path, clock)
    assert queue.get("m-0123456789")["status"] == "open"
    assert queue.counters["conversations"] == 7
    assert not (tmp_path / "handoff.json").exists() and (tmp_path / "handoff.json.migrated").exists()
    assert HandoffQueue(tmp_path, clock).get("m-0123456789") is not None
