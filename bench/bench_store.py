"""Measure whether a message's storage cost grows with the number of stored conversations.

Seeds N conversations straight into TinyDBStore's on-disk layout (same file format, written in a
thread pool, no fsync, so 100k take seconds), then times against a fresh store:

- commit: `commit` to a random existing conversation with the cache off, so every commit reads
  the file and then waits for its journal record's fsync (the worst case: one commit at a time,
  so no group commit; the files themselves are written by the store's compaction thread);
- turn: `load` then `commit` of a random conversation with the default cache, as the engine does
  for each message;
- open: constructing the store (it sweeps stale temp files) and one `sessions()` walk.

Run: python bench/bench_store.py [--sizes 1000,100000] [--commits 500] [--dir PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.store.tinydb_store import TinyDBStore, build_document, shard_path  # noqa: E402


def session_id(i: int) -> str:
    return f"bench-{i:07d}"


def seed_document(i: int, entries: int) -> bytes:
    """Build a conversation of realistic size (~2 KB): a small state and a short transcript."""
    state = {"v": 1, "lang": "sv", "flow": "activation", "step": "activation:ask_email",
             "answers": {"school": "Exempelskolan", "email": "m***@example.org"}, "turn": entries // 2}
    transcript = []
    for seq in range(1, entries + 1):
        who = "user" if seq % 2 else "bot"
        transcript.append({"seq": seq, "from": who, "text": f"message {seq} of conversation {i} " * 3,
                           "at": "2025-03-03T08:00:00+01:00"})
    doc = build_document(state, transcript)
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def seed(root: Path, n: int, entries: int) -> float:
    """Write n conversation files directly; return seconds taken."""
    started = time.perf_counter()
    for shard in range(256):
        (root / f"{shard:02x}").mkdir(parents=True, exist_ok=True)

    def write(i: int) -> None:
        shard_path(root, session_id(i)).write_bytes(seed_document(i, entries))

    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in pool.map(write, range(n), chunksize=256):
            pass
    # Flush the seeded files now: on ext4 an fsync commits the journal, and would otherwise pay
    # for the seed's pending writeback during the timed commits.
    os.sync()
    return time.perf_counter() - started


def pct(samples: list[float], q: float) -> float:
    """Return the q-th percentile in milliseconds (nearest rank)."""
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))
    return ordered[k] * 1000


async def measure(root: Path, n: int, commits: int, rng: random.Random) -> dict:
    started = time.perf_counter()
    store = TinyDBStore(root, cache_size=0)
    open_s = time.perf_counter() - started
    started = time.perf_counter()
    listed = len(await store.sessions())
    sessions_s = time.perf_counter() - started
    assert listed == n, (listed, n)

    for _ in range(20):  # warm-up: thread pool, first directory lookups
        await store.commit(session_id(rng.randrange(n)), {"v": 1}, [])
    commit_lat = []
    for _ in range(commits):
        sid = session_id(rng.randrange(n))
        t0 = time.perf_counter()
        await store.commit(sid, {"v": 1, "step": "x"}, [{"from": "user", "text": "hej"},
                                                        {"from": "bot", "text": "Hej! Vad gäller det?"}])
        commit_lat.append(time.perf_counter() - t0)
    await store.close()

    store = TinyDBStore(root)  # default cache, as the server runs it
    turn_lat = []
    for _ in range(commits):
        sid = session_id(rng.randrange(n))
        t0 = time.perf_counter()
        conv = await store.load(sid)
        await store.commit(sid, conv.state, [{"from": "user", "text": "hej"}, {"from": "bot", "text": "Hej!"}])
        turn_lat.append(time.perf_counter() - t0)
    await store.close()

    return {
        "n": n, "open_s": open_s, "sessions_s": sessions_s,
        "commit_p50": pct(commit_lat, 50), "commit_p99": pct(commit_lat, 99),
        "commit_mean": statistics.fmean(commit_lat) * 1000,
        "turn_p50": pct(turn_lat, 50), "turn_p99": pct(turn_lat, 99),
    }


def filesystem_of(path: Path) -> str:
    """Name the file system under `path` (fsync cost depends on it), best effort."""
    try:
        best = ("", "?")
        with open("/proc/mounts") as fh:
            for line in fh:
                _dev, mnt, fstype, *_ = line.split()
                if str(path.resolve()).startswith(mnt) and len(mnt) > len(best[0]):
                    best = (mnt, fstype)
        return best[1]
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000", help="comma-separated conversation counts")
    parser.add_argument("--commits", type=int, default=500, help="timed commits (and turns) per size")
    parser.add_argument("--entries", type=int, default=10, help="transcript entries per seeded conversation")
    parser.add_argument("--dir", default=None, help="where to create the stores (default: system temp)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rng = random.Random(args.seed)

    base = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.dir))
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"store dir: {base} ({filesystem_of(base)}); {args.commits} timed ops per size; "
          f"seeded conversations have {args.entries} entries (~{len(seed_document(0, args.entries))} B)")
    results = []
    try:
        for n in sizes:
            root = base / f"n{n}"
            seeded = seed(root, n, args.entries)
            res = asyncio.run(measure(root, n, args.commits, rng))
            res["seed_s"] = seeded
            results.append(res)
            shutil.rmtree(root, ignore_errors=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print()
    print(f"{'conversations':>13} | {'commit p50':>10} {'p99':>8} {'mean':>8} | {'turn p50':>8} {'p99':>8} | "
          f"{'open':>7} {'sessions()':>10} | {'seed':>6}")
    print("-" * 102)
    for r in results:
        print(f"{r['n']:>13,} | {r['commit_p50']:>8.2f}ms {r['commit_p99']:>6.2f}ms {r['commit_mean']:>6.2f}ms | "
              f"{r['turn_p50']:>6.2f}ms {r['turn_p99']:>6.2f}ms | {r['open_s']:>6.2f}s {r['sessions_s']:>9.2f}s | "
              f"{r['seed_s']:>5.1f}s")
    if len(results) >= 2:
        lo, hi = results[0], results[-1]
        print()
        print(f"ratio {hi['n']:,}/{lo['n']:,}: commit p50 x{hi['commit_p50'] / lo['commit_p50']:.2f}, "
              f"p99 x{hi['commit_p99'] / lo['commit_p99']:.2f}; "
              f"turn p50 x{hi['turn_p50'] / lo['turn_p50']:.2f}, p99 x{hi['turn_p99'] / lo['turn_p99']:.2f}")
    print("commit: cache off, each commit reads one file and fsyncs its journal record; "
          "turn: load + commit with the default cache (256).")


if __name__ == "__main__":
    main()
