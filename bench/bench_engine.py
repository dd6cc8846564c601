"""Per-message latency through the engine with 1k and 100k stored conversations, and
understanding time per query (shipped knowledge, and synthetic 500 / 5,000 / 50,000 phrasings).

    python bench/bench_engine.py [--sizes 1000,100000] [--messages 1000] [--phrasings 500,5000,50000]

Each message goes through Engine.handle with the product's TinyDBStore (one atomic file per
conversation, fsync on every write) to a random stored conversation, so the cache rarely helps:
what is measured is the cost a real turn pays when many conversations exist.
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

from bot.app import KnowledgeHolder, make_clock  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.knowledge import default_knowledge_dir  # noqa: E402
from bot.messages import Inbound  # noqa: E402
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
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--phrasings", default="500,5000,50000")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    holder = KnowledgeHolder(default_knowledge_dir(), all_flows())
    rng = random.Random(7)

    print("\nper-message latency through Engine.handle + TinyDBStore (random stored conversation each time)")
    print(f"{'stored':>9} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    results = {}
    for n in [int(x) for x in args.sizes.split(",")]:
        root = Path(tempfile.mkdtemp(prefix="bench-engine-"))
        try:
            seed(root, n, 10)
            samples = asyncio.run(engine_latency(holder, root, n, args.messages, rng))
        finally:
            shutil.rmtree(root, ignore_errors=True)
        results[n] = samples
        print(f"{n:>9,} {pct(samples, 50):>8.2f} {pct(samples, 99):>8.2f} {sum(samples) / len(samples) * 1000:>8.2f}")
    sizes = sorted(results)
    if len(sizes) >= 2:
        lo, hi = results[sizes[0]], results[sizes[-1]]
        print(f"ratio {sizes[-1]:,}/{sizes[0]:,}: p50 x{pct(hi, 50) / pct(lo, 50):.2f}, p99 x{pct(hi, 99) / pct(lo, 99):.2f}")

    queries = [c["text"] for c in holder.knowledge.labelled]
    print(f"\nunderstanding: ms per query over the {len(queries)} labelled questions (cache cleared each query)")
    print(f"{'phrasings':>10} {'ms/query':>9}")
    shipped = holder.understanding
    print(f"{len(shipped.phrasings):>10,} {time_queries(shipped, queries, False):>9.3f}   (shipped knowledge)")
    for n in [int(x) for x in args.phrasings.split(",")]:
        und = synthetic_understanding(holder, n)
        sample = queries[: max(50, 20000 // max(1, n // 100))]
        print(f"{len(und.phrasings):>10,} {time_queries(und, sample, False):>9.3f}")
    time_queries(shipped, queries, True)
    print(f"shipped knowledge, a question asked before (answer cache): {time_queries(shipped, queries, True):.4f} ms/query")
    return 0


if __name__ == "__main__":
    sys.exit(main())
