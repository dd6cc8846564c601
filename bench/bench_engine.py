"""Per-message latency through the engine with 1k, 10k and 100k stored conversations, the
engine's CPU per turn for realistic mixed conversations (file store vs memory store), and
understanding time per query (shipped knowledge, and synthetic 500 / 5,000 / 50,000 phrasings).

    python bench/bench_engine.py [--sizes 1000,10000,100000] [--repeat 3] [--messages 1000]
                                 [--mixed 300] [--phrasings 500,5000,50000]

Each message goes through Engine.handle with the product's TinyDBStore (one file per
conversation; a journal record and its fsync per turn) to a random stored conversation, so the
cache rarely helps: what is measured is the cost a real turn pays when many conversations exist.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_store import pct, seed, session_id  # noqa: E402

from bot.clock import make_clock  # noqa: E402
from bot.holder import KnowledgeHolder  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.knowledge import default_knowledge_dir  # noqa: E402
from common.messages import Inbound  # noqa: E402
from bot.store.tinydb_store import TinyDBStore  # noqa: E402
from bot.understanding import Understanding  # noqa: E402
from flows.registry import all_flows  # noqa: E402

QUESTIONS = ["när har ni öppet?", "vad är ert telefonnummer?", "glömt lösenordet till appen",
             "what are your opening hours?", "hur ansöker jag om bygglov?", "tack!"]


async def engine_latency(holder, root: Path, n: int, messages: int, rng: random.Random) -> list[float]:
    store = TinyDBStore(root, cache_size=256)
    engine = Engine(source=holder, store=store, flows=all_flows(), clock=make_clock(None))
    samples = []
    for i in range(messages):
        session = session_id(rng.randrange(n))
        t0 = time.perf_counter()
        await engine.handle(Inbound(session=session, text=QUESTIONS[i % len(QUESTIONS)]))
        samples.append(time.perf_counter() - t0)
    await store.close()
    return samples


async def mixed_turns(kind: str, conversations: int) -> tuple[int, float, float]:
    """Run realistic mixed conversations straight through Engine.handle_turn of a built app.

    `kind`: "memory" (MemoryStore), "tinydb" (the product's store) or "nofsync" (the product's
    store with fsync skipped). Returns (turns, wall ms per turn, process CPU ms per turn).
    """
    import secrets

    from aiohttp import web

    from backends.activation.app import add_account
    from bench_chat import WEIGHTS, addresses, scenario
    from bot.app import RUNTIME_KEY, ServeConfig, build_app
    import functools

    from bot.store import tinydb_store
    from common.journal import Journal
    from bot.store.memory import MemoryStore

    data = Path(tempfile.mkdtemp(prefix="bench-mixed-"))
    pool = addresses(300)
    for address in pool:
        add_account(data, address)
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    original = tinydb_store.Journal
    if kind == "nofsync":  # the journal without fdatasync (files are still written by compaction)
        tinydb_store.Journal = functools.partial(Journal, fsync=False)
    try:
        app = build_app(ServeConfig(port=port, data_dir=data, now="2026-12-06T20:00", backend_token="bench",
                                    rate_limit_per_address=0, rate_limit_per_session=0))
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        engine = app[RUNTIME_KEY].engine
        if kind == "memory":
            engine.store = MemoryStore()
        rnd = random.Random(1)
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        plan = [(secrets.token_urlsafe(16), scenario(k, rnd, rnd.choice(pool)))
                for k in rnd.choices(kinds, weights, k=conversations + 30)]
        for session, steps in plan[:30]:  # warm-up
            for key, value in steps:
                await engine.handle_turn(Inbound(session=session, channel="web", **{key: value}))
        turns = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for session, steps in plan[30:]:
            for key, value in steps:
                await engine.handle_turn(Inbound(session=session, channel="web", **{key: value}))
                turns += 1
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        await runner.cleanup()
    finally:
        tinydb_store.Journal = original
        shutil.rmtree(data, ignore_errors=True)
    return turns, wall / turns * 1000, cpu / turns * 1000


def synthetic_understanding(holder, n_phrasings: int) -> Understanding:
    """Build an understanding over exactly `n_phrasings` made-up phrasings (5 per language and
    entry) drawn from the shipped vocabulary, so the matcher's cost at that size is measured."""
    import copy

    knowledge = copy.copy(holder.knowledge)
    rng = random.Random(n_phrasings)
    words = sorted({w for e in knowledge.entries.values() for l in ("sv", "en") for p in e.phrasings[l]
                    for w in p.lower().split()})
    proto = next(iter(knowledge.entries.values()))
    entries = {}
    for i in range(max(1, n_phrasings // 10)):
        entry = copy.copy(proto)
        entry.id = f"synthetic-{i}"
        entry.phrasings = {l: [" ".join(rng.sample(words, rng.randint(3, 7))) for _ in range(5)]
                           for l in ("sv", "en")}
        entries[entry.id] = entry
    knowledge.entries = entries
    return Understanding(knowledge)


def time_queries(understanding: Understanding, queries: list[str], repeat_cache: bool) -> float:
    if not repeat_cache:
        understanding._scored.cache_clear()
    t0 = time.perf_counter()
    for q in queries:
        understanding.match(q)
        if not repeat_cache:
            understanding._scored.cache_clear()
    return (time.perf_counter() - t0) / len(queries) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (the spread is printed)")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--mixed", type=int, default=300, help="mixed conversations per store (0: skip)")
    parser.add_argument("--phrasings", default="500,5000,50000")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    holder = KnowledgeHolder(default_knowledge_dir(), all_flows())
    rng = random.Random(7)

    print("\nper-message latency through Engine.handle + TinyDBStore (random stored conversation each time)")
    print(f"{'stored':>9} {'run':>4} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    results: dict[int, list[list[float]]] = {}
    sizes = [int(x) for x in args.sizes.split(",")]
    for n in sizes:
        root = Path(tempfile.mkdtemp(prefix="bench-engine-"))
        try:
            seed(root, n, 10)
            for run in range(1, args.repeat + 1):
                samples = asyncio.run(engine_latency(holder, root, n, args.messages, rng))
                results.setdefault(n, []).append(samples)
                print(f"{n:>9,} {run:>4} {pct(samples, 50):>8.2f} {pct(samples, 99):>8.2f} "
                      f"{sum(samples) / len(samples) * 1000:>8.2f}")
        finally:
            shutil.rmtree(root, ignore_errors=True)
    if len(sizes) >= 2:
        lo = results[sizes[0]]
        for n in sizes[1:]:
            hi = results[n]
            r50 = [pct(h, 50) / pct(l, 50) for h, l in zip(hi, lo)]
            r99 = [pct(h, 99) / pct(l, 99) for h, l in zip(hi, lo)]
            pooled50 = pct(sum(hi, []), 50) / pct(sum(lo, []), 50)
            pooled99 = pct(sum(hi, []), 99) / pct(sum(lo, []), 99)
            print(f"ratio {n:,}/{sizes[0]:,}: p50 x{pooled50:.2f} (runs {min(r50):.2f}-{max(r50):.2f}), "
                  f"p99 x{pooled99:.2f} (runs {min(r99):.2f}-{max(r99):.2f})")

    if args.mixed:
        print(f"\nengine alone, in-process (no chat HTTP layer; the backends mounted as in serve): "
              f"{args.mixed} mixed conversations per store, one turn at a time")
        print(f"{'store':>8} {'turns':>6} {'wall ms/turn':>13} {'cpu ms/turn':>12}")
        for kind in ("memory", "tinydb", "nofsync"):
            turns, wall, cpu = asyncio.run(mixed_turns(kind, args.mixed))
            print(f"{kind:>8} {turns:>6} {wall:>13.3f} {cpu:>12.3f}")

    queries = [c["text"] for c in holder.knowledge.labelled]
    print(f"\nunderstanding: ms per query over the {len(queries)} labelled questions (cache cleared each query),"
          f" and the time to build it (word index and classifier) from loaded knowledge")
    print(f"{'phrasings':>10} {'ms/query':>9} {'build s':>8}")
    t0 = time.perf_counter()
    reloaded = KnowledgeHolder(default_knowledge_dir(), all_flows())
    load_s = time.perf_counter() - t0
    shipped = holder.understanding
    print(f"{len(shipped.phrasings):>10,} {time_queries(shipped, queries, False):>9.3f} {load_s:>8.2f}"
          f"   (shipped knowledge: read, checked, collisions and the understanding built, as serve does)")
    del reloaded
    for n in [int(x) for x in args.phrasings.split(",")]:
        t0 = time.perf_counter()
        und = synthetic_understanding(holder, n)
        build_s = time.perf_counter() - t0
        sample = queries[: max(50, 20000 // max(1, n // 100))]
        print(f"{len(und.phrasings):>10,} {time_queries(und, sample, False):>9.3f} {build_s:>8.2f}")
    time_queries(shipped, queries, True)
    print(f"shipped knowledge, a question asked before (answer cache): {time_queries(shipped, queries, True):.4f} ms/query")
    return 0


if __name__ == "__main__":
    sys.exit(main())
