"""Resident memory per 10k active conversations, and the widget's size on the wire.

Starts `halmstad-bot serve` on a temp data dir (loopback only), warms it up with 200
conversations, reads its resident set size (VmRSS), then runs `--conversations` new
conversations of 3 turns each (FAQ questions, 20 at a time) and reads it again:

    MB per 10k = (RSS after - RSS before) / conversations * 10,000

It also asks the running server for /widget.js and /widget.css with `Accept-Encoding: gzip`
and prints their sizes as sent and gzipped.

    python bench/bench_memory.py [--conversations 10000] [--rounds 2]
"""
from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_chat import FAQ, free_port, rss_mb, wait_healthy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


async def conversations(base: str, n: int, turns: int = 3, concurrency: int = 20) -> int:
    """Run `n` new conversations of `turns` questions; return the number of non-200 answers."""
    errors = 0
    todo = iter(range(n))

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal errors
        for i in todo:
            session = secrets.token_urlsafe(16)
            for t in range(turns):
                body = {"session": session, "text": FAQ[(i + t) % len(FAQ)]}
                async with http.post(base + "/api/chat", json=body) as resp:
                    await resp.read()
                    errors += resp.status != 200

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return errors


def asset_sizes(base: str) -> dict[str, tuple[int, int, str]]:
    """Return {path: (bytes as sent, gzipped bytes, Content-Encoding)} for the widget's files."""
    out = {}
    for path in ("/widget.js", "/widget.css"):
        req = urllib.request.Request(base + path, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            encoding = resp.headers.get("Content-Encoding") or "identity"
        plain = gzip.decompress(raw) if encoding == "gzip" else raw
        out[path] = (len(raw), len(gzip.compress(plain, 9)), encoding, len(plain))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2, help="measure this many batches in a row")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="seconds to wait before each batch after the first (let conversations go idle)")
    parser.add_argument("--no-session-limit", action="store_true",
                        help="turn the per-session rate limit off too (it keeps a little state per conversation)")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("per-session rate limit: " + ("off" if args.no_session_limit else "on (serve's default, 30 a minute)"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    port = free_port()
    env = {**os.environ, "HALMSTAD_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port), "--data-dir", str(tmp),
                             # every request comes from 127.0.0.1: the per-address limit would stop the run
                             "--rate-limit-per-address", "0",
                             *(["--rate-limit-per-session", "0"] if args.no_session_limit else [])],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base + "/healthz")
        print(f"serve RSS after start: {rss_mb(proc.pid):.1f} MB")
        asyncio.run(conversations(base, 200))
        before = rss_mb(proc.pid)
        print(f"after 200 warm-up conversations: {before:.1f} MB")
        total = 0
        for r in range(1, args.rounds + 1):
            if r > 1 and args.pause:
                time.sleep(args.pause)
                print(f"(paused {args.pause:.0f} s: the earlier conversations are idle now)")
            t0 = time.perf_counter()
            errors = asyncio.run(conversations(base, args.conversations))
            total += args.conversations
            time.sleep(1.0)
            after = rss_mb(proc.pid)
            per10k = (after - before) / total * 10_000
            print(f"after {total:,} more conversations of 3 turns ({time.perf_counter() - t0:.0f} s, {errors} errors): "
                  f"{after:.1f} MB -> {per10k:.1f} MB per 10k conversations")
        print("\nwidget assets as served (Accept-Encoding: gzip):")
        for path, (sent, gz9, encoding, plain) in asset_sizes(base).items():
            print(f"  {path:<12} {plain:>7,} B plain, {sent:>7,} B sent ({encoding}), {gz9:>6,} B at gzip -9")
        sizes = asset_sizes(base)
        print(f"  together: {sum(s[1] for s in sizes.values()):,} B gzipped (-9); "
              f"{sum(s[0] for s in sizes.values()):,} B as sent")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
