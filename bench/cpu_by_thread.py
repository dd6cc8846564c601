"""Where a chat request's CPU goes: the event loop thread vs the worker threads (file writes).

Starts `halmstad-bot serve`, drives it like bench_chat.py for `--seconds` and reads each
thread's user and system CPU time from /proc before and after (Linux only), per request. With
`py-spy` installed, threads are named (the session store's journal writer and compactor, its file
readers, asyncio's default executor that the backends and queues use); without it, the event loop
thread and all the others.

    python bench/cpu_by_thread.py [--mix faq=100] [--concurrency 50] [--seconds 8]
                                  [--root . --root /tmp/wt-old --rounds 3]

With several `--root` checkouts (e.g. a `git worktree` of an older commit), a server from each
runs side by side and they are driven in turn, round after round, so before and after are
measured under the same load. `--py-spy` also samples the event loop thread with py-spy during
each run and prints which parts of the code its samples were in (the deepest frame of a known
part wins; py-spy counts a thread waiting in a system call or for the GIL as busy, so the shares
are of the loop's busy time, not of its CPU).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_chat import ROOT, WEIGHTS, addresses, drive, free_port, register, start_chat, wait_healthy  # noqa: E402


def snapshot(pid: int) -> dict[str, tuple[int, int]]:
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            out[tid] = (int(fields[11]), int(fields[12]))
        except OSError:
            pass
    return out


def thread_names(pid: int) -> dict[str, str]:
    """Map thread ids to Python thread names (numbered pool threads grouped), if py-spy is there."""
    if not shutil.which("py-spy"):
        return {}
    out = subprocess.run(["py-spy", "dump", "-p", str(pid)], capture_output=True, text=True).stdout
    return {tid: re.sub(r"_\d+$", "_*", name) for tid, name in re.findall(r'^Thread (\d+) \(\w+\): "([^"]+)"', out, re.M)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", default=None, help="e.g. faq=100 (default: bench_chat's realistic mix)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--root", action="append", default=[],
                        help="a checkout to run serve from (repeat to compare, e.g. a git worktree of an "
                             "older commit); default: this one")
    parser.add_argument("--rounds", type=int, default=1, help="runs per checkout, taken in turn (A B A B ...)")
    parser.add_argument("--py-spy", action="store_true", help="also print where the event loop's samples were")
    args = parser.parse_args()
    if args.mix:
        WEIGHTS.clear()
        WEIGHTS.update({k: int(v) for k, v in (part.split("=") for part in args.mix.split(","))})
    roots = [Path(r).resolve() for r in args.root] or [ROOT]
    tmp = Path(tempfile.mkdtemp(prefix="bench-threads-"))
    registered = tmp / "registered"
    registered.mkdir(mode=0o700)
    pool = addresses(1000)
    register(registered, pool)
    servers = [start_server(tmp, registered, root, i) for i, root in enumerate(roots)]
    try:
        for _, base, _ in servers:
            wait_healthy(base + "/healthz")
        for _, base, _ in servers:
            asyncio.run(drive(base, 10, 1.5, 10**6, 1, pool, False))  # warm-up
        print(f"mix: {dict(WEIGHTS)}; {args.concurrency} concurrent; {args.seconds:.0f} s a run; "
              f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for round_ in range(args.rounds):
            for proc, base, root in servers:
                measure(proc, base, root, args, pool, seed=2 + round_)
    finally:
        for proc, _, _ in servers:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def start_server(tmp: Path, registered: Path, root: Path, index: int) -> tuple[subprocess.Popen, str, Path]:
    data = tmp / f"data-{index}"
    shutil.copytree(registered, data)
    port = free_port()
    proc = start_chat("serve", port, data, {**os.environ, "HALMSTAD_LOG_LEVEL": "INFO",
                                            "HALMSTAD_BACKEND_TOKEN": "bench-token"}, root=root)
    return proc, f"http://127.0.0.1:{port}", root


def measure(proc: subprocess.Popen, base: str, root: Path, args, pool: list[str], seed: int) -> None:
    """Drive one server for `args.seconds` and print its CPU per request by thread."""
    spy, samples = None, Path(tempfile.mkdtemp(prefix="bench-spy-")) / "samples.txt"
    if args.py_spy:
        spy = subprocess.Popen(["py-spy", "record", "-p", str(proc.pid), "-o", str(samples), "--format", "raw",
                                "-d", str(int(args.seconds)), "-r", "200"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = snapshot(proc.pid)
    result = asyncio.run(drive(base, args.concurrency, args.seconds, 10**6, seed, pool, False))
    after = snapshot(proc.pid)
    if spy is not None:
        spy.wait(timeout=60)
    names = thread_names(proc.pid)
    tick, n = os.sysconf("SC_CLK_TCK"), max(1, result["n"])
    totals: dict[str, list[int]] = {"event loop thread": [0, 0]}
    for tid, (user, system) in after.items():
        u0, s0 = before.get(tid, (0, 0))
        key = "event loop thread" if tid == str(proc.pid) else names.get(tid, "worker threads")
        totals.setdefault(key, [0, 0])
        totals[key][0] += user - u0
        totals[key][1] += system - s0
    label = "" if root == ROOT else f" (from {root})"
    print(f"serve{label}: {result['n']} requests, {result['rps']:.0f} req/s, p50 {result['p50']:.0f} ms, "
          f"p99 {result['p99']:.0f} ms, errors {result['errors']}")
    for key, (user, system) in sorted(totals.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {key:>20}: user {user / tick * 1000 / n:.3f} ms/request, system {system / tick * 1000 / n:.3f} ms/request")
    if spy is not None and samples.exists():
        print("  event loop samples by part: " + ", ".join(
            f"{part} {share:.0f} %" for part, share in loop_parts(samples.read_text())))
    shutil.rmtree(samples.parent, ignore_errors=True)


# The parts of the code a sample of the event loop is counted in: the deepest frame of one of them.
PARTS = [
    ("reference backends (mails)", ("backends/",)),
    ("understanding+language+knowledge", ("bot/understanding.py", "bot/language.py", "bot/knowledge.py")),
    ("flows+handoff+pending+commands", ("flows/", "bot/pending.py", "bot/handoff/", "bot/interruptions.py",
                                        "bot/commands.py", "bot/clients/", "common/calendar.py")),
    ("session store", ("bot/store/", "common/journal.py")),
    ("log lines", ("logging/__init__.py",)),
    ("engine", ("bot/engine.py", "bot/answering.py", "bot/flow_runner.py", "bot/state.py", "common/privacy.py",
                "common/text.py")),
    ("chat handler", ("bot/channels/web.py",)),
]


def loop_parts(raw: str) -> list[tuple[str, float]]:
    """Share of the event loop thread's py-spy samples (raw format) by part, largest first."""
    counts: dict[str, int] = {}
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack.startswith("_run_module_as_main"):  # another thread
            continue
        part = "aiohttp+asyncio"
        for frame in stack.split(";"):
            part = next((name for name, paths in PARTS if any(p in frame for p in paths)), part)
        counts[part] = counts.get(part, 0) + int(n)
    total = sum(counts.values()) or 1
    return sorted(((part, 100 * c / total) for part, c in counts.items()), key=lambda kv: -kv[1])


if __name__ == "__main__":
    sys.exit(main())
