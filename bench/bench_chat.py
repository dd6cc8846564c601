"""Chat API load: concurrent simulated guardians against `serve`, side by side with a bare echo.

Runs `halmstad-bot serve` and a bare aiohttp JSON echo (bench/echo_server.py) as separate
processes on loopback. For each concurrency level N, N simulated guardians each run one
conversation after another, each a new session with a 128-bit random id (as the widget makes),
picked from a realistic mix:

    faq          3 questions in the guardian's own words (sv/en, typos)
    hours        2 questions about opening hours
    account      the account flow to its end, by buttons (5 requests)
    activation   the app activation to the end: ask, a registered address, "send" (3 requests)
    data_rights  an access request to the end, filed with the data-rights backend (6 requests)
    message      asking for a person outside staffed hours and leaving a message (5 requests)

Each guardian sends its next request as soon as the previous answer arrives (closed loop; with
`--think S` it first reads and types for S seconds on average, as a person does). The
echo gets exactly the same request sequence, so the two columns differ only in the server. The
chat server's CPU seconds per request (from /proc) show where the time goes. After the run, the
data dir is checked: every completed activation has a mail in the outbox, every data-rights
request a case in the backend, every left message an item in the handoff queue.

    python bench/bench_chat.py [--concurrency 10,50,200] [--seconds 10] [--server serve|memory|...]

`--server memory` runs the same app with the in-memory session store (bench/serve_variant.py),
to show what the durable write per turn costs. Bounded in time and count; loopback only.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from backends.dsr.store import read_tables as read_dsr_tables  # noqa: E402  (the data-rights journal too)
NOW = "2026-12-06T20:00"  # a Sunday evening: nobody staffed, so "a person" leads to a left message

FAQ = [
    "vad är ert telefonnummer?", "hur ansöker jag om konto i skola24?",
    "min dotter har fyllt 18, kan jag se hennes frånvaro?", "hur ansöker jag om bygglov?",
    "tack!", "vilken domän ska jag välja", "where are you located", "glömt lösenordet till appen",
    "hur anmäler jag frånvaro", "kan jag se mitt barns schema", "vad är skola 24",
    "how do I report my child sick", "var finns halmstad direkt", "kostar appen något",
    "varför ser jag inte mitt barn", "vem ser uppgifterna om mitt barn",
]
HOURS = ["när har ni öppet?", "är ni öppna nu?", "what are your opening hours?",
         "när öppnar telefonen i morgon", "har ni öppet på lördag?", "when can I visit you"]
WEIGHTS = {"faq": 35, "hours": 15, "account": 15, "activation": 10, "data_rights": 10, "message": 15}


def addresses(n: int) -> list[str]:
    """Return the registered guardian addresses the activation scenario uses (n of them)."""
    return [f"guardian{i:05d}@example.org" for i in range(n)]


def scenario(kind: str, rnd: random.Random, address: str) -> list[tuple[str, str]]:
    """Return one conversation's inputs, each ("text" | "button", value)."""
    if kind == "faq":
        return [("text", q) for q in rnd.sample(FAQ, 3)]
    if kind == "hours":
        return [("text", q) for q in rnd.sample(HOURS, 2)]
    if kind == "account":
        return [("text", "hur ansöker jag om konto i skola24?"), ("button", "ans:new"),
                ("button", "ans:yes"), ("button", "ans:no"), ("button", "ans:yes")]
    if kind == "activation":
        return [("text", "jag vill aktivera appen"), ("text", address), ("button", "ans:send")]
    if kind == "data_rights":
        return [("text", "jag vill ha ett registerutdrag"), ("button", "ans:self"),
                ("text", "Anna Andersson"), ("text", "anna@example.com"), ("button", "ans:skip"),
                ("button", "ans:confirm")]
    if kind == "message":
        return [("text", "jag vill prata med en människa"), ("button", "ans:yes"),
                ("text", "Anna Svensson"), ("text", "anna@example.org"),
                ("text", "Ring mig om frånvaron, tack")]
    raise ValueError(kind)


def finished(kind: str, answer: dict) -> bool:
    """Tell whether the last answer of a scenario shows it reached its end (chat server only)."""
    texts = " ".join(m["text"] for m in answer.get("messages", []))
    payloads = {b["payload"] for m in answer.get("messages", []) for b in m["buttons"]}
    if kind == "activation":
        return "ans:no_email" in payloads
    if kind == "data_rights":
        return "DSR-" in texts or "flow:data_rights" in payloads
    if kind == "message":
        return "(nummer M-" in texts
    if kind == "account":
        return "cmd:menu" in payloads
    return bool(texts)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def wait_listening(port: int, timeout: float = 60) -> None:
    """Wait until something accepts connections on a loopback port."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def cpu_seconds(pid: int) -> float:
    """Return user+system CPU seconds of a process and its threads (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def pct(samples: list[float], q: float) -> float:
    """Return the q-th percentile in milliseconds (nearest rank)."""
    if not samples:
        return float("nan")
    k = max(0, min(len(samples) - 1, round(q / 100 * len(samples)) - 1))
    return samples[k] * 1000


async def drive(base: str | list[str], concurrency: int, seconds: float, max_requests: int, seed: int,
                pool: list[str], check: bool, think: float = 0.0) -> dict:
    """Run `concurrency` guardians for `seconds`; return latencies, errors and completions.

    With several `base` URLs (processes behind one Redis) a guardian's requests go to them in
    turn, request by request, as a load balancer without sticky sessions would send them.
    `think` > 0: before each request a guardian reads and types for a random time (exponential,
    mean `think` seconds) instead of sending it the moment the answer arrives.
    """
    bases = [base] if isinstance(base, str) else list(base)
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {k: [] for k in WEIGHTS}
    by_step: dict[tuple[str, int], list[float]] = {}  # (conversation kind, request number): latencies
    errors = 0
    statuses: dict[int, int] = {}
    done = {k: 0 for k in WEIGHTS}
    unfinished = {k: 0 for k in WEIGHTS}
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
    stop_at = time.monotonic() + seconds
    sent = 0

    async def guardian(i: int, http: aiohttp.ClientSession) -> None:
        nonlocal errors, sent
        rnd = random.Random(seed * 100_003 + i)
        while time.monotonic() < stop_at and sent < max_requests:
            kind = rnd.choices(kinds, weights)[0]
            session = secrets.token_urlsafe(16)
            # Each conversation comes from its own address (through the trusted proxy), as real
            # guardians do, so the activation backend's per-client limit applies per guardian.
            client = {"X-Forwarded-For": f"10.{i % 250}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"}
            steps = scenario(kind, rnd, rnd.choice(pool))
            ok = True
            answer: dict = {}
            for number, (key, value) in enumerate(steps, start=1):
                if think:
                    await asyncio.sleep(rnd.expovariate(1 / think))
                if time.monotonic() >= stop_at or sent >= max_requests:
                    return
                sent += 1
                target = bases[(i + sent) % len(bases)]
                t0 = time.perf_counter()
                try:
                    async with http.post(target + "/api/chat", json={"session": session, key: value},
                                         headers=client) as resp:
                        raw = await resp.read()
                        statuses[resp.status] = statuses.get(resp.status, 0) + 1
                        if resp.status != 200:
                            errors += 1
                            ok = False
                        elif check:
                            answer = json.loads(raw)
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    errors += 1
                    ok = False
                latencies.append(time.perf_counter() - t0)
                by_kind[kind].append(latencies[-1])
                by_step.setdefault((kind, number), []).append(latencies[-1])
                if not ok:
                    break
            if ok and (not check or finished(kind, answer)):
                done[kind] += 1
            else:
                unfinished[kind] += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(guardian(i, http) for i in range(concurrency)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    for samples in [*by_kind.values(), *by_step.values()]:
        samples.sort()
    return {"by_kind": by_kind, "by_step": by_step, "n": len(latencies), "errors": errors, "rps": len(latencies) / elapsed, "elapsed": elapsed,
            "p50": pct(latencies, 50), "p95": pct(latencies, 95), "p99": pct(latencies, 99),
            "max": latencies[-1] * 1000 if latencies else float("nan"), "statuses": statuses,
            "done": done, "unfinished": unfinished}


def count_outcomes(data_dir: Path, backend_dirs: dict[str, Path] | None = None) -> dict:
    """Count what the chat server (and the backends, run apart or not) stored: mails, data-rights
    cases, left messages."""
    out = {}
    outboxes = [d / "outbox" / "new" for d in {data_dir, *(backend_dirs or {}).values()}]
    out["mails"] = sum(sum(1 for _ in box.iterdir()) for box in outboxes if box.is_dir())
    dsr_dir = (backend_dirs or {}).get("dsr", data_dir)
    out["dsr_cases"] = len(read_dsr_tables(dsr_dir).get("cases", {}))  # snapshot + journal
    pending = data_dir / "pending_dsr"
    out["dsr_undelivered"] = len(list(pending.glob("*.json"))) if pending.is_dir() else 0
    items = [json.loads(p.read_text())["item"]["1"] for p in (data_dir / "handoff" / "items").glob("*.json")]
    out["left_messages"] = sum(1 for i in items if i.get("kind") == "message")
    return out


def start_chat(kind: str, port: int, data_dir: Path, env: dict, *extra: str, root: Path = ROOT) -> subprocess.Popen:
    # A private copy of the knowledge: serve reloads when its files change, and other work on this
    # checkout (staff editing knowledge) must not make one set-up rebuild its understanding mid-run.
    knowledge = data_dir.parent / f"knowledge-{port}"
    shutil.copytree(root / "knowledge", knowledge)
    common = ["--port", str(port), "--data-dir", str(data_dir), "--now", NOW, "--knowledge-dir", str(knowledge),
              "--rate-limit-per-address", "0", "--rate-limit-per-session", "0", "--trusted-proxy", "127.0.0.1/32"]
    if kind == "serve":
        cmd = [sys.executable, "-m", "bot.cli", "serve", *common, *extra]
    else:
        variant, _, suffix = kind.partition("+")
        cmd = [sys.executable, str(ROOT / "bench" / "serve_variant.py"), "--variant", variant, *common,
               *(["--uvloop"] if suffix == "uvloop" else [])]
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(data_dir.parent / f"chat-{port}.log", "wb"))


def register(data_dir: Path, pool: list[str]) -> None:
    """Register the guardian addresses: one through the CLI (as staff do), the rest in-process."""
    subprocess.run([sys.executable, "-m", "bot.cli", "backend", "add-account", "--data-dir", str(data_dir),
                    pool[0]], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    sys.path.insert(0, str(ROOT))
    from backends.activation.app import add_account

    for address in pool[1:]:
        add_account(data_dir, address)


class Setup:
    """One chat set-up under test: its processes, where to send requests, what to count."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.procs: list[subprocess.Popen] = []  # serve processes (and redis-server's)
        self.bases: list[str] = []
        self.data_dirs: list[Path] = []
        self.redis = None
        self.backends: list[subprocess.Popen] = []  # the reference backends run apart: not counted
        self.backend_dirs: dict[str, Path] = {}

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs] + ([self.redis.proc.pid] if self.redis else [])

    def cpu(self) -> float:
        return sum(self.cpu_by_process())

    def cpu_by_process(self) -> list[float]:
        return [cpu_seconds(pid) for pid in self.pids()]

    def redis_commands(self) -> int:
        """Commands redis-server has processed so far (INFO stats), 0 without Redis."""
        if self.redis is None:
            return 0
        import socket

        with socket.create_connection(("127.0.0.1", self.redis.port), timeout=5) as sock:
            sock.sendall(b"INFO stats\r\n")
            reply = b""
            while b"total_commands_processed:" not in reply or not reply.endswith(b"\r\n\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        for line in reply.decode().splitlines():
            if line.startswith("total_commands_processed:"):
                return int(line.split(":")[1])
        return 0

    def backend_cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.backends)

    def stop(self) -> None:
        for proc in [*self.procs, *self.backends]:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.redis is not None:
            self.redis.stop()


def start_embedded(tmp: Path, registered: Path, kind: str, env: dict, root: Path = ROOT,
                   apart: bool = False, name: str | None = None) -> Setup:
    """One `serve` process with the embedded store (or a serve_variant.py variant); `root`: the
    checkout to run it from (another one, e.g. a `git worktree` of an older commit, to compare
    before and after in one run). `apart`: the reference activation and data-rights backends run
    as their own processes (`python -m backends.activation`, `python -m backends.dsr`) and serve
    reaches them by URL, as in production where they are Skola24's and the municipality's systems;
    their CPU is printed beside the chat server's, not counted in it."""
    setup = Setup(name or (("embedded" if kind == "serve" else kind) + ("" if root == ROOT else f"@{root.name}")))
    data_dir = tmp / setup.name
    shutil.copytree(registered, data_dir)
    port = free_port()
    extra: list[str] = []
    if apart:
        urls = {}
        for backend in ("activation", "dsr"):
            backend_dir = tmp / f"{setup.name}-{backend}"
            shutil.copytree(registered, backend_dir)
            backend_port = free_port()
            setup.backends.append(subprocess.Popen(
                [sys.executable, "-m", f"backends.{backend}", "--port", str(backend_port), "--data-dir",
                 str(backend_dir)], cwd=root, env=env, stdout=subprocess.DEVNULL,
                stderr=open(tmp / f"{setup.name}-{backend}.log", "wb")))
            urls[backend] = f"http://127.0.0.1:{backend_port}"
            setup.backend_dirs[backend] = backend_dir
            wait_listening(backend_port)
        extra = ["--activation-url", urls["activation"], "--dsr-url", urls["dsr"]]
    setup.procs.append(start_chat(kind, port, data_dir, env, *extra, root=root))
    setup.bases.append(f"http://127.0.0.1:{port}")
    setup.data_dirs.append(data_dir)
    return setup


def start_redis_pair(tmp: Path, registered: Path, env: dict) -> Setup:
    """A real redis-server (AOF, appendfsync always) and two `serve --redis-url` processes, each
    with its own data dir (and so its own mounted reference backends), as tests/test_two_processes.py."""
    sys.path.insert(0, str(ROOT))
    from tests.redis_server import RedisServer

    setup = Setup("2proc+redis")
    setup.redis = RedisServer(tmp / "redis").start()
    for name in ("a", "b"):
        data_dir = tmp / f"redis-{name}"
        shutil.copytree(registered, data_dir)
        port = free_port()
        setup.procs.append(start_chat("serve", port, data_dir, env, "--redis-url", setup.redis.url))
        setup.bases.append(f"http://127.0.0.1:{port}")
        setup.data_dirs.append(data_dir)
    return setup


def run_level(level: int, echo: Setup, setups: list[Setup], args, pool: list[str]) -> None:
    """Drive the echo and every set-up in turn at one concurrency; print a row for each."""
    results = {}
    for setup in [echo, *setups]:
        cpu0, commands0, backends0 = setup.cpu_by_process(), setup.redis_commands(), setup.backend_cpu()
        r = asyncio.run(drive(setup.bases, level, args.seconds, args.max_requests, level, pool,
                              setup is not echo, args.think))
        parts = [(after - before) * 1000 / max(1, r["n"]) for before, after in zip(cpu0, setup.cpu_by_process())]
        r["backends_ms"] = (setup.backend_cpu() - backends0) * 1000 / max(1, r["n"])
        r["cpu_ms"], r["cpu_parts"] = sum(parts), parts
        r["redis_commands"] = (setup.redis_commands() - commands0) / max(1, r["n"])
        results[setup.name] = r
        print(f"{level:>5} {setup.name:>12} {r['rps']:>8.0f} {r['p50']:>8.1f} {r['p95']:>8.1f} "
              f"{r['p99']:>8.1f} {r['max']:>8.1f} {r['errors']:>6} {r['cpu_ms']:>10.2f}"
              + (f"   statuses: {dict(sorted(r['statuses'].items()))}" if r["errors"] else ""))
    base = results["echo"]
    for setup in setups:
        r = results[setup.name]
        print(f"{level:>5} {setup.name:>12} throughput / echo: {r['rps'] / base['rps']:.2f}   finished: "
              + ", ".join(f"{k} {v}" for k, v in r["done"].items())
              + ("   unfinished: " + ", ".join(f"{k} {v}" for k, v in r["unfinished"].items() if v)
                 if any(r["unfinished"].values()) else ""))
        print(f"{'':>5} {'':>12} p50/p99 ms by conversation: " + ", ".join(
            f"{k} {pct(v, 50):.0f}/{pct(v, 99):.0f}" for k, v in r["by_kind"].items()))
        if args.by_step:
            for kind in r["by_kind"]:
                steps = sorted((n, v) for (k, n), v in r["by_step"].items() if k == kind)
                print(f"{'':>5} {'':>12}   {kind} p50/p99 ms by request: " + ", ".join(
                    f"#{n} {pct(v, 50):.0f}/{pct(v, 99):.0f}" for n, v in steps))
        if setup.backends:
            print(f"{'':>5} {'':>12} the reference backends' own processes (not counted above): "
                  f"{r['backends_ms']:.2f} cpu ms/req")
        if len(r["cpu_parts"]) > 1:
            names = [f"serve {chr(97 + i)}" for i in range(len(setup.procs))] + (["redis-server"] if setup.redis else [])
            print(f"{'':>5} {'':>12} cpu ms/req by process: " + ", ".join(
                f"{n} {c:.2f}" for n, c in zip(names, r["cpu_parts"]))
                + (f"; Redis commands per request: {r['redis_commands']:.1f}" if setup.redis else ""))
    if len(setups) > 1:
        first = results[setups[0].name]["cpu_ms"]
        print(f"{level:>5} cpu per request relative to {setups[0].name}: " + ", ".join(
            f"{st.name} x{results[st.name]['cpu_ms'] / first:.2f}" for st in setups[1:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="10,50,200")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=300_000)
    parser.add_argument("--server", default="serve",
                        help="serve (the product), or a bench/serve_variant.py variant: memory, nofsync, serve; "
                             "add +uvloop to run it on uvloop (e.g. memory+uvloop)")
    parser.add_argument("--setups", default="embedded",
                        help="comma-separated: embedded (one process, --server), embedded@PATH (the same "
                             "from another checkout, e.g. a git worktree of an older commit), apart / apart@PATH "
                             "(the same with the reference backends as their own processes, as deployed), any of "
                             "those with ~asyncio (serve on asyncio's own event loop), redis (redis-server "
                             "and two serve --redis-url processes, requests alternating between them), or a "
                             "serve_variant.py variant (memory, nofsync)")
    parser.add_argument("--addresses", type=int, default=2000, help="registered guardian addresses")
    parser.add_argument("--mix", default=None,
                        help="conversation weights, e.g. faq=100 or faq=50,hours=50 (default: the realistic mix)")
    parser.add_argument("--log-level", default="INFO",
                        help="the chat server's log level (INFO is serve's default: a line per turn and request)")
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean seconds a guardian reads and types before each request (default 0: the "
                             "next request at once, a closed loop at saturation)")
    parser.add_argument("--by-step", action="store_true",
                        help="also print p50/p99 of each request of each kind of conversation")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and print where it is")
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    if args.mix:
        WEIGHTS.clear()
        WEIGHTS.update({k: int(v) for k, v in (part.split("=") for part in args.mix.split(","))})
    print(f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}")
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    registered = tmp / "registered"
    registered.mkdir(mode=0o700)
    pool = addresses(args.addresses)
    register(registered, pool)
    env = {**os.environ, "HALMSTAD_LOG_LEVEL": args.log_level, "HALMSTAD_BACKEND_TOKEN": "bench-token"}
    echo = Setup("echo")
    echo_port = free_port()
    echo.procs.append(subprocess.Popen([sys.executable, str(ROOT / "bench" / "echo_server.py"), str(echo_port)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    echo.bases.append(f"http://127.0.0.1:{echo_port}")
    setups: list[Setup] = []
    try:
        for name in args.setups.split(","):
            spec, _, loop = name.partition("~")  # ~asyncio: serve on asyncio's own event loop
            setup_env = {**env, "HALMSTAD_EVENT_LOOP": loop} if loop else env
            if spec.startswith(("embedded", "apart")):
                kind, _, other = spec.partition("@")
                root = Path(other) if other else ROOT
                label = kind + ("" if root == ROOT else f"@{root.name}") + (f"~{loop}" if loop else "")
                setups.append(start_embedded(tmp, registered, args.server, setup_env, root,
                                             apart=kind == "apart", name=label))
            elif name == "redis":
                setups.append(start_redis_pair(tmp, registered, env))
            else:  # a bench/serve_variant.py variant beside the others, e.g. memory
                setups.append(start_embedded(tmp, registered, name, env))
        for setup in setups:
            for base in setup.bases:
                wait_healthy(f"{base}/healthz")
        wait_healthy_echo(echo_port)
        mix = ", ".join(f"{k} {v}%" for k, v in WEIGHTS.items())
        print(f"set-ups: {', '.join(st.name for st in setups)} (log level {args.log_level}); {args.seconds:.0f} s "
              f"per run; conversations: {mix}; a new 128-bit session per conversation; clock {NOW} "
              "(closed: 'a person' leaves a message)")
        for setup in [echo, *setups]:  # warm-up, not reported
            asyncio.run(drive(setup.bases, 10, 1.5, 10_000, 999, pool, False))
        print(f"{'conc':>5} {'server':>12} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
              f"{'max ms':>8} {'errors':>6} {'cpu ms/req':>10}")
        for level in levels:
            run_level(level, echo, setups, args, pool)
            print(f"      load average after this level: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        time.sleep(2.0)  # let the last mails and deliveries land
        for setup in setups:
            print(f"{setup.name}: RSS at the end " + ", ".join(f"{rss_mb(pid):.0f} MB" for pid in setup.pids()))
    finally:
        for setup in [echo, *setups]:
            setup.stop()
    for setup in setups:
        totals: dict[str, int] = {}
        for data_dir in setup.data_dirs:
            for key, value in count_outcomes(data_dir, setup.backend_dirs).items():
                totals[key] = totals.get(key, 0) + value
        print(f"stored by {setup.name} (after stopping): " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    if args.keep:
        print(f"data kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def wait_healthy_echo(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/chat", data=b'{"session":"x","text":"x"}',
                                         headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("echo did not come up")


if __name__ == "__main__":
    sys.exit(main())
