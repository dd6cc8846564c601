"""The backends' documents (`backends/cached_doc.py`, `backends/docfile.py`): a snapshot and a journal.

What must hold: a change is one appended line whose size does not depend on how much is stored;
a torn last line (a crash mid-append) is ignored, so a change is there entirely or not at all; a
change by another process is seen; a refused change leaves nothing; compaction (also one cut short
by a crash) keeps the document; and a data directory of the single-file layout is carried over.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from tinydb import TinyDB

from backends.activation import store as activation_store
from backends.activation.store import ActivationStore
from backends.cached_doc import CachedDocument, Change
from backends.docfile import read_document
from backends.dsr import store as dsr_store
from backends.dsr.store import DsrStore, upsert_staff_sync

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parents[2]


def build(reference: str):
    def make(data: dict):
        case = {"reference": reference, "status": "received", "received_at": NOW.isoformat()}
        return case, {"reference": reference}, {"reference": reference, "action": "filed"}
    return make


def seed_single_file(data_dir: Path, cases: int) -> None:
    """Write `dsr.json` as the single-file versions did (TinyDB's layout), with `cases` cases."""
    refs = [f"DSR-2025-{i:05d}" for i in range(1, cases + 1)]
    doc = {"cases": {str(i): {"reference": r, "status": "received", "received_at": NOW.isoformat()}
                     for i, r in enumerate(refs, 1)},
           "idempotency": {str(i): {"key": f"old-{i}", "body_hash": "h", "reference": r,
                                    "response": {"reference": r}} for i, r in enumerate(refs, 1)},
           "audit": {str(i): {"reference": r, "action": "filed"} for i, r in enumerate(refs, 1)},
           "staff": {}, "jobs": {}}
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "dsr.json").write_text(json.dumps(doc, separators=(",", ":")))


def stored_files(data_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(data_dir.iterdir()) if p.is_file()}


def cli(*args: str, stdin: str = "") -> None:
    done = subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, text=True, cwd=ROOT,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr


# Another process ----------------------------------------------------------------------------------

async def test_a_change_by_another_process_is_seen_by_a_running_store(tmp_path):
    store = DsrStore(tmp_path)
    await store.create_case("k1", "h1", build("DSR-2026-00001"))
    assert await store.staff("anna") is None  # read (and kept in memory) before the change
    cli("backend", "add-staff", "anna", "--password-stdin", "--data-dir", str(tmp_path),
        stdin="a long enough password\n")
    assert (await store.staff("anna"))["password_hash"].startswith("$argon2id$")
    assert await store.staff_names() == ["anna"]
    await store.create_case("k2", "h2", build("DSR-2026-00002"))  # after the other writer's line
    stored = dsr_store.read_tables(tmp_path)
    assert sorted(c["reference"] for c in stored["cases"].values()) == ["DSR-2026-00001", "DSR-2026-00002"]
    assert [s["username"] for s in stored["staff"].values()] == ["anna"]
    store.close()


def test_activation_sees_an_address_added_by_the_cli_while_it_runs(tmp_path):
    store = ActivationStore(tmp_path)
    assert store.find_account("late@example.org") is None
    cli("backend", "add-account", "late@example.org", "--data-dir", str(tmp_path))
    assert store.find_account("late@example.org") == "late@example.org"
    store.issue_code("late@example.org", "hash-1", NOW, NOW + timedelta(hours=24))
    assert store.code_is_valid("hash-1", NOW)
    assert len(activation_store.read_tables(tmp_path)["codes"]) == 1
    store.close()


async def test_two_writers_on_one_directory_lose_nothing_of_each_other(tmp_path):
    first, second = DsrStore(tmp_path), DsrStore(tmp_path)
    for i in range(1, 11):
        writer = first if i % 2 else second
        await writer.create_case(f"k{i}", "h", build(f"DSR-2026-{i:05d}"))
    upsert_staff_sync(tmp_path, {"username": "anna", "password_hash": "x"})
    await first.update_case("DSR-2026-00002", lambda case: case.update(status="closed"))
    stored = dsr_store.read_tables(tmp_path)
    assert sorted(stored["cases"]) == sorted(str(i) for i in range(1, 11))  # ten ids, none reused
    assert len(stored["idempotency"]) == len(stored["audit"]) == 10
    assert (await second.get_case("DSR-2026-00002"))["status"] == "closed"
    first.close()
    second.close()
    assert dsr_store.read_tables(tmp_path) == stored


FILER = """
import asyncio, sys
from backends.dsr.store import DsrStore

async def main(directory, name):
    store = DsrStore(directory)
    for i in range(40):
        ref = f"{name}-{i}"
        await store.create_case(ref, "h", lambda data, ref=ref: (
            {"reference": ref, "received_at": "2026-12-01"}, {"reference": ref}, {"reference": ref}))
    store.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def test_processes_filing_at_the_same_time_each_get_every_case_in(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", FILER, str(tmp_path), name], cwd=ROOT)
             for name in ("a", "b", "c")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    stored = dsr_store.read_tables(tmp_path)
    refs = sorted(c["reference"] for c in stored["cases"].values())
    assert refs == sorted(f"{name}-{i}" for name in "abc" for i in range(40))
    assert sorted(int(k) for k in stored["cases"]) == list(range(1, 121))
    assert len(stored["idempotency"]) == len(stored["audit"]) == 120


# What a change costs ------------------------------------------------------------------------------

async def bytes_of_a_new_case(data_dir: Path, held: int) -> dict[str, int]:
    """File `held` cases the old way, then one through the store; return the bytes each file grew
    by (and fail if any file but the journal was rewritten)."""
    seed_single_file(data_dir, held)
    store = DsrStore(data_dir)
    assert await store.get_case("DSR-2025-00001")
    before = {p.name: os.stat(p) for p in data_dir.iterdir()}
    await store.create_case("new", "h", build("DSR-2026-00001"))
    await store.update_case("DSR-2026-00001", lambda case: {"reference": case["reference"], "action": "seen"})
    after = {p.name: os.stat(p) for p in data_dir.iterdir()}
    assert set(after) == set(before)
    assert after["dsr.json"].st_ino == before["dsr.json"].st_ino
    assert after["dsr.json"].st_mtime_ns == before["dsr.json"].st_mtime_ns  # not rewritten
    grown = {name: after[name].st_size - before[name].st_size for name in after}
    store.close()
    return grown


async def test_a_change_writes_the_same_bytes_however_many_cases_are_held(tmp_path):
    small = await bytes_of_a_new_case(tmp_path / "small", 1000)
    large = await bytes_of_a_new_case(tmp_path / "large", 9000)  # ids of the same length
    assert small == large and small["dsr.json"] == 0
    assert 0 < small["dsr.journal"] < 1000  # the new case, its idempotency record, two audit entries


def test_an_activation_code_writes_the_same_bytes_however_many_accounts_are_held(tmp_path):
    grown = []
    for held in (1000, 9000):
        store = ActivationStore(tmp_path / str(held))
        for i in range(held // 1000):  # a few through the store, the rest in the snapshot
            store.add_account(f"g{i}@example.org", NOW)
        store.close()
        doc = activation_store.read_tables(tmp_path / str(held))
        doc["accounts"].update({str(i): {"email": f"x{i}@example.org", "key": f"x{i}@example.org",
                                         "created_at": NOW.isoformat()} for i in range(100, 100 + held)})
        (tmp_path / str(held) / "activation.json").write_text(json.dumps(doc))
        store = ActivationStore(tmp_path / str(held))
        journal = tmp_path / str(held) / "activation.journal"
        size = journal.stat().st_size
        store.issue_code("g0@example.org", "hash-1", NOW, NOW + timedelta(hours=24))
        grown.append(journal.stat().st_size - size)
        store.close()
    assert grown[0] == grown[1] > 0


# Crashes ------------------------------------------------------------------------------------------

async def test_a_torn_last_line_leaves_the_case_entirely_there_or_not_at_all(tmp_path):
    store = DsrStore(tmp_path)
    await store.create_case("k1", "h1", build("DSR-2026-00001"))
    journal = tmp_path / "dsr.journal"
    whole_first = journal.read_bytes()
    await store.create_case("k2", "h2", build("DSR-2026-00002"))
    whole = journal.read_bytes()
    store._doc.close(compact=False)  # the process dies: nothing folded into the snapshot

    for cut in range(len(whole_first), len(whole) + 1, 7):
        journal.write_bytes(whole[:cut])  # the disk holds part of the second append
        stored = dsr_store.read_tables(tmp_path)
        refs = {c["reference"] for c in stored["cases"].values()}
        there = cut == len(whole)
        assert refs == ({"DSR-2026-00001", "DSR-2026-00002"} if there else {"DSR-2026-00001"})
        assert len(stored["idempotency"]) == len(stored["audit"]) == len(refs)


async def test_after_a_torn_line_a_retry_files_once_and_the_torn_bytes_are_kept(tmp_path):
    store = DsrStore(tmp_path)
    await store.create_case("k1", "h1", build("DSR-2026-00001"))
    journal = tmp_path / "dsr.journal"
    good = journal.stat().st_size
    await store.create_case("k2", "h2", build("DSR-2026-00002"))
    store._doc.close(compact=False)
    torn = journal.read_bytes()[good:-5]
    with open(journal, "r+b") as fh:
        fh.truncate(good + len(torn))

    again = DsrStore(tmp_path)  # the restart
    assert await again.get_case("DSR-2026-00002") is None
    answer, created = await again.create_case("k2", "h2", build("DSR-2026-00002"))  # the bot retries
    assert created and answer == {"reference": "DSR-2026-00002"}
    assert not (await again.create_case("k2", "h2", build("DSR-2026-00003")))[1]  # never twice
    assert (tmp_path / "dsr.journal.torn").read_bytes() == torn
    assert (tmp_path / "dsr.journal.torn").stat().st_mode & 0o077 == 0
    again.close()
    assert len(dsr_store.read_tables(tmp_path)["cases"]) == 2


def test_a_compaction_cut_short_after_the_new_snapshot_replays_to_the_same_document(tmp_path):
    store = ActivationStore(tmp_path)
    for i in range(5):
        store.add_account(f"g{i}@example.org", NOW)
        store.issue_code(f"g{i}@example.org", f"hash-{i}", NOW, NOW + timedelta(hours=24))
    assert store.consume_code("hash-1", "user.one", "ph1", NOW).outcome == "ok"
    store.issue_code("g1@example.org", "hash-again", NOW, NOW + timedelta(hours=24))
    assert store.consume_code("hash-again", "user.one", "ph2", NOW).outcome == "ok"  # a reset
    store.issue_code("g2@example.org", "late", NOW + timedelta(days=2), NOW + timedelta(days=3))  # drops expired
    journal = tmp_path / "activation.journal"
    lines = journal.read_bytes()
    expected = activation_store.read_tables(tmp_path)
    store.close()  # compaction: the snapshot is the document, the journal empty
    assert journal.read_bytes() == b"" and json.loads((tmp_path / "activation.json").read_text()) == expected

    journal.write_bytes(lines)  # as if the journal's truncation never reached the disk
    assert activation_store.read_tables(tmp_path) == expected
    again = ActivationStore(tmp_path)
    assert again.password_hash_for("USER.ONE") == "ph2" and not again.code_is_valid("hash-2", NOW)
    assert again.code_is_valid("late", NOW + timedelta(days=2))
    again.close()


def test_the_journal_is_folded_into_the_snapshot_when_it_outgrows_it_and_others_follow(tmp_path):
    path = tmp_path / "d.json"
    writer = CachedDocument(path, ("t",), compact_at=2000)
    reader = CachedDocument(path, ("t",))
    for i in range(100):
        writer.transact(lambda txn, i=i: txn.insert("t", {"n": i, "pad": "x" * 50}))
        assert reader.find("t", "n", i, lambda d: d["n"]) == i
    assert 0 < path.stat().st_size and (tmp_path / "d.journal").stat().st_size < path.stat().st_size + 200
    assert reader.look(lambda data: len(data["t"])) == 100 == len(read_document(path, ("t",))["t"])
    reader.transact(lambda txn: txn.delete("t", "1"))
    assert writer.find("t", "n", 0, lambda d: d) is None
    writer.close()
    reader.close()
    assert len(json.loads(path.read_text())["t"]) == 99


# Refused changes, copies, indexes -----------------------------------------------------------------

async def test_a_refused_change_leaves_neither_memory_nor_files_changed(tmp_path):
    store = DsrStore(tmp_path)
    await store.create_case("k1", "h1", build("DSR-2026-00001"))
    before = stored_files(tmp_path)

    def half_then_refuse(case: dict):
        case["status"] = "closed"  # changed in place, then refused
        raise ValueError("not allowed")

    with pytest.raises(ValueError):
        await store.update_case("DSR-2026-00001", half_then_refuse)
    assert (await store.get_case("DSR-2026-00001"))["status"] == "received"
    assert stored_files(tmp_path) == before
    store.close()


async def test_what_a_read_returns_is_a_copy(tmp_path):
    store = DsrStore(tmp_path)
    answer, created = await store.create_case("k1", "h1", build("DSR-2026-00001"))
    answer["reference"] = "changed by the caller"
    case = await store.get_case("DSR-2026-00001")
    case["status"] = "changed by the caller"
    (await store.cases())[0]["status"] = "changed again"
    (await store.audit_for("DSR-2026-00001"))[0]["action"] = "changed too"

    assert (await store.get_case("DSR-2026-00001"))["status"] == "received"
    assert (await store.audit_for("DSR-2026-00001"))[0]["action"] == "filed"
    again, created_again = await store.create_case("k1", "h1", build("DSR-2026-00002"))
    assert created and not created_again and again == {"reference": "DSR-2026-00001"}
    assert dsr_store.read_tables(tmp_path)["cases"]["1"]["status"] == "received"
    store.close()


async def test_after_every_kind_of_change_the_stored_document_is_the_one_in_memory(tmp_path):
    store = DsrStore(tmp_path)

    def stored_matches_memory() -> None:
        in_memory = store._doc.look(lambda data: json.loads(json.dumps(data)))
        assert dsr_store.read_tables(tmp_path) == in_memory  # as a restart reads it

    for i in range(1, 6):
        await store.create_case(f"k{i}", "h", build(f"DSR-2026-{i:05d}"))
    stored_matches_memory()

    def close(case: dict) -> dict:
        case["status"] = "closed"
        case.setdefault("notes", []).append("done")
        return {"reference": case["reference"], "action": "closed"}

    await store.update_case("DSR-2026-00002", close)
    await store.update_case("DSR-2026-00004", lambda case: case.update(assignee="dpo"))
    stored_matches_memory()
    await store.add_audit({"reference": "DSR-2026-00003", "action": "viewed"})
    await store.set_job_state("reminder", {"last": "2026-12-01"})
    await store.set_job_state("reminder", {"last": "2026-12-02"})
    upsert_staff_sync(tmp_path, {"username": "anna", "password_hash": "x"})
    await store.update_case("DSR-2026-00005", close)  # after another writer's change
    stored_matches_memory()
    assert (await store.get_case("DSR-2026-00002"))["notes"] == ["done"]
    assert (await store.job_state("reminder"))["last"] == "2026-12-02"
    assert [a["action"] for a in await store.audit_for("DSR-2026-00005")] == ["filed", "closed"]
    store.close()


def test_lookups_follow_every_change_of_their_table(tmp_path):
    doc = CachedDocument(tmp_path / "d.json", ("t",))

    def add_two(txn: Change) -> None:
        txn.insert("t", {"k": "a"})
        txn.insert("t", {"k": "b"})

    doc.transact(add_two)
    assert doc.find("t", "k", "a", lambda d: d["k"]) == "a"  # the index is built here

    def rename(txn: Change) -> None:
        txn.data["t"]["1"]["k"] = "c"
        txn.changed("t", "1")

    doc.transact(rename)
    assert doc.find("t", "k", "a", lambda d: d) is None
    assert doc.find("t", "k", "c", lambda d: d["k"]) == "c"
    doc.transact(lambda txn: txn.insert("t", {"k": "c"}))
    assert doc.select("t", "k", "c", lambda found: [i for i, _ in found]) == ["1", "3"]
    doc.transact(lambda txn: txn.delete("t", "1"))
    assert doc.find("t", "k", "c", lambda d: d) == {"k": "c"}
    doc.transact(lambda txn: txn.delete("t", "2"))
    assert doc.find("t", "k", "b", lambda d: d) is None
    other = CachedDocument(tmp_path / "d.json", ("t",))  # another writer
    other.transact(lambda txn: txn.insert("t", {"k": "b"}))
    assert doc.find("t", "k", "b", lambda d: d["k"]) == "b"
    assert doc.look(lambda data: sorted(data["t"])) == ["3", "4"]
    other.close()
    doc.close()


# Older data directories ---------------------------------------------------------------------------

async def test_a_single_file_data_directory_is_read_and_carried_over(tmp_path):
    seed_single_file(tmp_path, 3)
    store = DsrStore(tmp_path)
    assert (await store.get_case("DSR-2025-00002"))["status"] == "received"
    replay, created = await store.create_case("old-2", "h", build("DSR-2026-00009"))
    assert not created and replay == {"reference": "DSR-2025-00002"}  # its key still counts
    await store.create_case("new", "h", build("DSR-2026-00001"))
    store.close()
    db = TinyDB(tmp_path / "dsr.json")  # the snapshot keeps TinyDB's layout
    assert [c["reference"] for c in db.table("cases").all()][-2:] == ["DSR-2025-00003", "DSR-2026-00001"]
    db.close()
    assert (tmp_path / "dsr.journal").read_bytes() == b""
