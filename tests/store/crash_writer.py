"""Commit to many conversations forever, for `test_tinydb_store.py` to SIGKILL at random moments.

Each turn loads a conversation and commits `count` = its transcript length after the turn, so the
test can check that state and transcript were always written together. Eight turns of distinct
conversations run at once, so the journal commits them in shared batches (group commit), and the
padding makes a batch large enough that a kill often lands while it is being written. After each
acknowledged commit it prints "ack <session> <count>"; it prints "ready" once the first batch is on
disk. `compact_interval` (third argument, seconds) sets how often the files are written back.
"""
from __future__ import annotations

import asyncio
import random
import sys

from bot.store.tinydb_store import TinyDBStore


async def turn(store: TinyDBStore, rng: random.Random, session: str) -> None:
    conv = await store.load(session)
    count = conv.state["count"] if conv else 0
    n = rng.randint(1, 3)
    entries = [{"from": "user", "text": "x" * rng.randint(10, 3000)} for _ in range(n)]
    await store.commit(session, {"v": 1, "count": count + n, "pad": "y" * rng.randint(0, 20000)}, entries)
    sys.stdout.write(f"ack {session} {count + n}\n")


async def main(root: str, sessions: int, compact_interval: float) -> None:
    store = TinyDBStore(root, cache_size=8, compact_interval=compact_interval)
    rng = random.Random()
    announced = False
    while True:
        picks = rng.sample(range(sessions), 8)  # distinct: load+commit of one session never overlap
        await asyncio.gather(*(turn(store, rng, f"crash-{i}") for i in picks))
        sys.stdout.flush()
        if not announced:
            print("ready", flush=True)
            announced = True


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 1.0))
