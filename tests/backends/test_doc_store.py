"""The backends' documents kept in memory (`backends/cached_doc.py`): what the cache must not change.

The file stays the truth: a change by another process is seen, a refused change leaves nothing,
and what a read hands out cannot reach the stored document.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from backends.activation.store import ActivationStore
from backends.cached_doc import CachedDocument
from backends.dsr.store import DsrStore, upsert_staff_sync
from common.atomic import write_atomic

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)


def build(reference: str):
    def make(data: dict):
        case = {"reference": reference, "status": "received", "received_at": NOW.isoformat()}
        return case, {"reference": reference}, {"reference": reference, "action": "filed"}
    return make


async def test_a_change_by_another_process_is_seen_by_a_running_store(tmp_path):
    store = DsrStore(tmp_path)
    assert await store.staff("anna") is None  # read (and cached) before the change
    upsert_staff_sync(tmp_path, {"username": "anna", "password_hash": "x"})  # as `backend add-staff` does
    assert (await store.staff("anna"))["password_hash"] == "x"
    assert await store.staff_names() == ["anna"]
    store.close()


async def test_a_refused_change_leaves_neither_memory_nor_file_changed(tmp_path):
    store = DsrStore(tmp_path)
    await store.create_case("k1", "h1", build("DSR-2026-00001"))
    before = (tmp_path / "dsr.json").read_bytes()

    def half_then_refuse(case: dict):
        case["status"] = "closed"  # changed in place, then refused
        raise ValueError("not allowed")

    with pytest.raises(ValueError):
        await store.update_case("DSR-2026-00001", half_then_refuse)
    assert (await store.get_case("DSR-2026-00001"))["status"] == "received"
    assert (tmp_path / "dsr.json").read_bytes() == before
    store.close()


async def test_what_a_read_returns_is_a_copy(tmp_path):
    store = DsrStore(tmp_path)
    answer, created = await store.create_case("k1", "h1", build("DSR-2026-00001"))
    answer["reference"] = "changed by the caller"
    case = await store.get_case("DSR-2026-00001")
    case["status"] = "changed by the caller"
    (await store.cases())[0]["status"] = "changed again"

    assert (await store.get_case("DSR-2026-00001"))["status"] == "received"
    again, created_again = await store.create_case("k1", "h1", build("DSR-2026-00002"))
    assert created and not created_again and again == {"reference": "DSR-2026-00001"}
    assert json.loads((tmp_path / "dsr.json").read_text())["cases"]["1"]["status"] == "received"
    store.close()


def test_activation_sees_an_address_added_while_it_runs(tmp_path):
    store = ActivationStore(tmp_path)
    assert store.find_account("late@example.org") is None
    ActivationStore(tmp_path).add_account("late@example.org", NOW)  # another process's CLI
    assert store.find_account("late@example.org") == "late@example.org"
    store.issue_code("late@example.org", "hash-1", NOW, NOW + timedelta(hours=24))
    assert store.code_is_valid("hash-1", NOW)
    assert len(json.loads((tmp_path / "activation.json").read_text())["codes"]) == 1
    store.close()


def test_a_document_is_read_once_while_its_file_is_unchanged(tmp_path, monkeypatch):
    doc = CachedDocument(tmp_path / "d.json", ("t",))
    doc.transact(lambda data: (data["t"].update({"1": {"x": 1}}), True))
    reads = []
    real = doc._db.storage.read
    monkeypatch.setattr(doc._db.storage, "read", lambda: (reads.append(1), real())[1])
    for _ in range(5):
        assert doc.look(lambda data: data["t"]["1"]["x"]) == 1
    assert reads == []  # the write left the document in memory, matching the file
    write_atomic(tmp_path / "d.json", json.dumps({"t": {"1": {"x": 2}}}).encode())  # another writer
    assert doc.look(lambda data: data["t"]["1"]["x"]) == 2
    assert len(reads) == 1


def test_only_what_changed_is_encoded_again_and_the_file_is_the_whole_document(tmp_path, monkeypatch):
    store = ActivationStore(tmp_path)
    for i in range(3):
        store.add_account(f"g{i}@example.org", NOW)
    encoded = []
    real = json.dumps
    monkeypatch.setattr("backends.cached_doc.json.dumps", lambda obj, **kw: (encoded.append(obj), real(obj, **kw))[1])
    store.issue_code("g1@example.org", "hash-1", NOW, NOW + timedelta(hours=24))

    accounts = json.loads((tmp_path / "activation.json").read_text())["accounts"]
    assert [a["email"] for a in accounts.values()] == ["g0@example.org", "g1@example.org", "g2@example.org"]
    def holds_an_account(obj) -> bool:
        return isinstance(obj, dict) and ("email" in obj or any(holds_an_account(v) for v in obj.values()))

    assert encoded and not any(holds_an_account(o) for o in encoded), "an unchanged account was encoded again"
    on_disk = (tmp_path / "activation.json").read_bytes()
    whole = json.loads(on_disk)
    assert on_disk == real(whole, ensure_ascii=False, separators=(",", ":")).encode()
    store.close()


async def test_after_every_kind_of_change_the_file_is_exactly_the_document_in_memory(tmp_path):
    """What is written from kept JSON text must never fall behind what is in memory."""
    store = DsrStore(tmp_path)

    def on_disk_matches_memory() -> None:
        in_memory = store._doc.look(lambda data: json.dumps(data, ensure_ascii=False, separators=(",", ":")))
        assert (tmp_path / "dsr.json").read_text() == in_memory
        assert DsrStore(tmp_path)._doc.look(lambda data: data) == json.loads(in_memory)  # as a restart reads it

    for i in range(1, 6):
        await store.create_case(f"k{i}", "h", build(f"DSR-2026-{i:05d}"))
    on_disk_matches_memory()

    def close(case: dict) -> dict:
        case["status"] = "closed"
        case.setdefault("notes", []).append("done")
        return {"reference": case["reference"], "action": "closed"}

    await store.update_case("DSR-2026-00002", close)
    await store.update_case("DSR-2026-00004", lambda case: case.update(assignee="dpo"))
    on_disk_matches_memory()
    await store.add_audit({"reference": "DSR-2026-00003", "action": "viewed"})
    await store.set_job_state("reminder", {"last": "2026-12-01"})
    await store.set_job_state("reminder", {"last": "2026-12-02"})
    upsert_staff_sync(tmp_path, {"username": "anna", "password_hash": "x"})
    await store.update_case("DSR-2026-00005", close)  # after another writer's change: read again
    on_disk_matches_memory()
    assert (await store.get_case("DSR-2026-00002"))["notes"] == ["done"]
    assert (await store.job_state("reminder"))["last"] == "2026-12-02"
    store.close()


def test_lookups_follow_every_change_of_their_table(tmp_path):
    doc = CachedDocument(tmp_path / "d.json", ("t",))
    doc.transact(lambda data: (data["t"].update({"1": {"k": "a"}, "2": {"k": "b"}}), {"t": ()}))
    assert doc.find("t", "k", "a", lambda d: d["k"]) == "a"  # the index is built here

    def rename(data):
        data["t"]["1"]["k"] = "c"
        return None, {"t": ["1"]}

    doc.transact(rename)
    assert doc.find("t", "k", "a", lambda d: d) is None
    assert doc.find("t", "k", "c", lambda d: d["k"]) == "c"
    doc.transact(lambda data: (data["t"].pop("2"), {"t": ()}))
    assert doc.find("t", "k", "b", lambda d: d) is None
    write_atomic(tmp_path / "d.json", json.dumps({"t": {"7": {"k": "b"}}}).encode())  # another writer
    assert doc.find("t", "k", "b", lambda d: d["k"]) == "b"
    assert doc.find("t", "k", "c", lambda d: d) is None
