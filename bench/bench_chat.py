"""Chat API load: concurrent simulated guardians against `serve`, side by side with a bare echo.

Runs both servers as separate processes on loopback, then for each concurrency level drives
each for the same duration with the same request mix and prints throughput, p50/p95/p99 and the
ratio chat/echo. Bounded in time and count; loopback only.

    python bench/bench_chat.py [--concurrency 10,50,200] [--seconds 10]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "när har ni öppet?", "vad är ert telefonnummer?", "hur ansöker jag om konto i skola24?",
    "what are your opening hours?", "glömt lösenordet till appen", "är ni öppna nu?",
    "min dotter har fyllt 18, kan jag se hennes frånvaro?", "hur ansöker jag om bygglov?",
    "tack!", "how do I activate the app", "vilken domän ska jag välja", "where are you located",
]


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def drive(base: str, concurrency: int, seconds: float, max_requests: int) -> dict:
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + seconds
    counter = 0

    async def guardian(i: int, session: aiohttp.ClientSession) -> None:
        nonlocal errors, counter
        rnd = random.Random(i)
        sid = f"bench-{i}-{rnd.randrange(1 << 30)}"
        turn = 0
        while time.monotonic() < stop_at and counter < max_requests:
            counter += 1
            turn += 1
            if turn % 20 == 0:  # a fresh conversation now and then
                sid = f"bench-{i}-{rnd.randrange(1 << 30)}"
            body = {"session": sid, "text": rnd.choice(QUESTIONS)}
            t0 = time.perf_counter()
            try:
                async with session.post(base + "/api/chat", json=body) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.perf_counter() - t0)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(guardian(i, session) for i in range(concurrency)))
        elapsed = time.perf_counter() - t0
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"n": len(latencies), "errors": errors, "rps": len(latencies) / elapsed,
            "p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="50")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=200_000)
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        chat_port, echo_port = free_port(), free_port()
        env = {**os.environ, "HALMSTAD_LOG_LEVEL": "WARNING"}
        chat = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(chat_port),
                                 "--data-dir", tmp, "--rate-limit-per-address", "0",
                                 "--rate-limit-per-session", "0"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        echo = subprocess.Popen([sys.executable, str(ROOT / "bench" / "echo_server.py"), str(echo_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_healthy(f"http://127.0.0.1:{chat_port}/healthz")
            time.sleep(0.5)
            print(f"{args.seconds:.0f} s per run; request mix: {len(QUESTIONS)} FAQ/hours questions, new session every 20 turns")
            print(f"{'conc':>5} {'server':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}")
            for level in levels:
                results = {}
                for name, port in (("echo", echo_port), ("chat", chat_port)):
                    results[name] = r = asyncio.run(drive(f"http://127.0.0.1:{port}", level, args.seconds,
                                                          args.max_requests))
                    print(f"{level:>5} {name:>6} {r['rps']:>8.0f} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['p99']:>8.1f} {r['errors']:>6}")
                ratio = results["chat"]["rps"] / results["echo"]["rps"]
                print(f"{level:>5} ratio chat/echo throughput: {ratio:.2f}")
        finally:
            for proc in (chat, echo):
                proc.terminate()
                proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
