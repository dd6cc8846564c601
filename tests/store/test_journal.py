"""The journal under the session store: framing, torn tails, group commit, refused writes."""
from __future__ import annotations

import asyncio
import os

import pytest

from common.journal import Journal, frame, read_segment, replay, segments


def records(n: int) -> list[bytes]:
    return [f"record {i} ".encode() * (i % 7 + 1) for i in range(n)]


async def test_appended_records_replay_in_order_across_rotations(tmp_path):
    journal = Journal(tmp_path)
    first, second = records(10), records(5)
    await asyncio.gather(*(journal.append(r) for r in first))
    closed = journal.rotate()
    await asyncio.gather(*(journal.append(r) for r in second))
    journal.close()

    assert [n for n, _ in segments(tmp_path)] == [closed, closed + 1]
    assert list(replay(tmp_path)) == first + second


def test_a_record_cut_anywhere_is_never_replayed(tmp_path):
    """A power cut during a batch leaves its last record short: every cut point is tried."""
    whole = records(3)
    data = b"".join(frame(r) for r in whole)
    last = frame(b"the record being written when the power went")
    for cut in range(1, len(last)):
        path = tmp_path / "00000001.log"
        path.write_bytes(data + last[:cut])
        got, clean = read_segment(path)
        assert got == whole and not clean, cut


def test_a_damaged_record_ends_the_segment(tmp_path):
    path = tmp_path / "00000001.log"
    data = bytearray(b"".join(frame(r) for r in records(4)))
    data[len(frame(records(1)[0])) + 9] ^= 0xFF  # flip a byte in the second record's payload
    path.write_bytes(bytes(data))
    got, clean = read_segment(path)
    assert got == records(1) and not clean


async def test_records_arriving_together_share_one_write_and_fsync(tmp_path, monkeypatch):
    syncs = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (syncs.append(fd), real(fd))[1])
    journal = Journal(tmp_path)
    published: list[int] = []
    # 200 records queued without yielding: the writer finds most of them waiting after its first
    # fsync, so it needs far fewer fsyncs than records.
    waits = [journal.append(r, on_durable=lambda i=i: published.append(i)) for i, r in enumerate(records(200))]
    await asyncio.gather(*waits)
    journal.close()

    assert sorted(published) == list(range(200))  # every record was published as durable
    assert 1 <= len(syncs) < 100
    assert list(replay(tmp_path)) == records(200)


async def test_a_failed_write_is_refused_and_cut_off(tmp_path, monkeypatch):
    journal = Journal(tmp_path)
    await journal.append(b"kept")
    real = os.fdatasync

    def failing(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    with pytest.raises(OSError):
        await journal.append(b"refused")
    monkeypatch.setattr(os, "fdatasync", real)
    await journal.append(b"after")
    journal.close()

    assert list(replay(tmp_path)) == [b"kept", b"after"]  # the refused record is not on disk


def test_append_sync_blocks_until_durable_and_close_refuses_more(tmp_path):
    journal = Journal(tmp_path)
    journal.append_sync(b"one")
    journal.close()
    with pytest.raises(RuntimeError):
        journal.append_sync(b"two")
    assert list(replay(tmp_path)) == [b"one"]
    journal.drop()
    assert segments(tmp_path) == []
