"""Crash safety: SIGKILL `serve` under load at random moments, restart it, and check nothing was lost.

Runs the data-rights backend as its own process (`python -m backends.dsr`, so it survives the
kills) and `serve --dsr-url` on one data dir, with the same HALMSTAD_BACKEND_TOKEN. Simulated
guardians run whole conversations (FAQ, account, activation, data-rights requests and left
messages outside staffed hours) while `serve` is killed with SIGKILL `--kills` times, each at a
random moment, and started again on the same data dir and port. A guardian whose request got no
answer waits for the server, reads its transcript to learn whether the turn was stored, and goes
on from there (resending only a turn that was not stored), as the widget does after a reload.

Then, after the outbox has drained and `serve` stopped:
- every JSON file under both data dirs parses, and no conversation file was moved aside as corrupt;
- no acknowledged turn is missing from its transcript (user entries = answered turns, or one more
  when the unanswered turn was stored);
- every acknowledged data-rights request (the guardian was told "registered" or "saved") is a case
  in the backend exactly once, and every acknowledged left message is in the queue exactly once;
- every conversation a kill interrupted went on from its step to its end.

    python -m tests.reliability.crash [--kills 20] [--guardians 20] [--seed 1]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from backends.dsr.store import read_tables

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "crash-test-token"
NOW = "2026-12-06T20:00"  # Sunday evening: "a person" leads to a left message
WEIGHTS = {"faq": 20, "account": 15, "activation": 15, "data_rights": 30, "message": 20}


def unique_name(rnd: random.Random) -> str:
    """Return a made-up full name unique to one conversation (letters only: names have no digits)."""
    return "Anna " + "".join(rnd.choice(string.ascii_lowercase) for _ in range(10)).capitalize()


def scenario(kind: str, name: str, address: str) -> list[tuple[str, str]]:
    if kind == "faq":
        return [("text", "vad är ert telefonnummer?"), ("text", "hur ansöker jag om konto i skola24?"),
                ("button", "ans:link"), ("text", "tack!")]
    if kind == "account":
        return [("text", "hur ansöker jag om konto i skola24?"), ("button", "ans:new"),
                ("button", "ans:yes"), ("button", "ans:no"), ("button", "ans:yes")]
    if kind == "activation":
        return [("text", "jag vill aktivera appen"), ("text", address), ("button", "ans:send")]
    if kind == "data_rights":
        return [("text", "jag vill ha ett registerutdrag"), ("button", "ans:self"), ("text", name),
                ("text", "anna@example.com"), ("button", "ans:skip"), ("button", "ans:confirm")]
    if kind == "message":
        return [("text", "jag vill prata med en människa"), ("button", "ans:yes"), ("text", name),
                ("text", "anna@example.org"), ("text", "Ring mig om frånvaron, tack")]
    raise ValueError(kind)


def finished(kind: str, texts: str, payloads: set[str]) -> bool:
    """Tell whether a conversation's last answer is its expected end."""
    if kind == "data_rights":
        return "DSR-" in texts or "sparad" in texts
    if kind == "message":
        return "(nummer M-" in texts
    if kind == "activation":
        return "ans:no_email" in payloads
    if kind == "account":
        return "route" in texts or "cmd:menu" in payloads
    return bool(texts)


@dataclass
class Tally:
    """What the guardians saw."""

    conversations: Counter = field(default_factory=Counter)
    finished: Counter = field(default_factory=Counter)
    acked_dsr: dict[str, str] = field(default_factory=dict)  # name -> session
    acked_messages: dict[str, str] = field(default_factory=dict)
    interrupted: int = 0
    interrupted_finished: int = 0
    lost_turns: list[str] = field(default_factory=list)
    bad_answers: list[str] = field(default_factory=list)
    answered: int = 0
    unanswered: int = 0


class Serve:
    """The `serve` process that gets killed, always on the same port and data dir."""

    def __init__(self, data_dir: Path, port: int, dsr_url: str, log: Path) -> None:
        self.data_dir, self.port, self.dsr_url, self.log = data_dir, port, dsr_url, log
        self.proc: subprocess.Popen | None = None
        self.up = asyncio.Event()

    def start(self) -> None:
        cmd = [sys.executable, "-m", "bot.cli", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
               "--now", NOW, "--dsr-url", self.dsr_url, "--rate-limit-per-address", "0",
               "--rate-limit-per-session", "0", "--trusted-proxy", "127.0.0.1"]
        env = {**os.environ, "HALMSTAD_BACKEND_TOKEN": TOKEN, "HALMSTAD_LOG_LEVEL": "WARNING"}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    async def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"serve exited: {self.log.read_text()[-2000:]}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as resp:
                        if resp.status == 200:
                            self.up.set()
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("serve did not come back")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.up.clear()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)


async def guardian(i: int, serve: Serve, tally: Tally, stop: asyncio.Event, seed: int, pool: list[str]) -> None:
    rnd = random.Random(seed * 1000 + i)
    base = f"http://127.0.0.1:{serve.port}"
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while not stop.is_set():
            kind = rnd.choices(kinds, weights)[0]
            session, name = secrets.token_urlsafe(16), unique_name(rnd)
            steps = scenario(kind, name, rnd.choice(pool))
            # Each conversation from its own address (through the trusted proxy), as guardians are:
            # from one address the activation backend's per-client limit (30 an hour) ends the
            # activations once the server is fast enough to run more than that in the test.
            client = {"X-Forwarded-For": f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"}
            tally.conversations[kind] += 1
            idx, interrupted = 0, False
            answer: dict = {}
            while idx < len(steps):
                key, value = steps[idx]
                try:
                    await serve.up.wait()
                    async with http.post(f"{base}/api/chat", json={"session": session, key: value},
                                         headers=client) as resp:
                        status, raw = resp.status, await resp.read()
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    # No answer: the server died. Learn from the transcript whether the turn was stored.
                    tally.unanswered += 1
                    interrupted = True
                    await serve.up.wait()
                    next_idx, last_answer = await where_it_stands(http, base, session, idx)
                    if next_idx is None:
                        tally.lost_turns.append(f"{kind} step {idx}: the transcript holds neither")
                        break
                    if next_idx > idx:  # stored: go on; its answer is the bot's last entries
                        answer = {"messages": last_answer}
                    idx = next_idx
                    continue
                if status != 200:
                    tally.bad_answers.append(f"{kind} step {idx} ({key}={value[:20]}): {status} {raw[:200]!r}")
                    break
                tally.answered += 1
                answer = json.loads(raw)
                idx += 1
            else:
                texts = " ".join(m["text"] for m in answer.get("messages", []))
                payloads = {b["payload"] for m in answer.get("messages", []) for b in m.get("buttons", [])}
                done = finished(kind, texts, payloads)
                if done:
                    tally.finished[kind] += 1
                    if kind == "data_rights":
                        tally.acked_dsr[name] = session
                    elif kind == "message":
                        tally.acked_messages[name] = session
                else:
                    tally.bad_answers.append(f"{kind} ended without its end: {texts[:200]!r}")
                if interrupted:
                    tally.interrupted += 1
                    tally.interrupted_finished += done


def last_user_seq(transcript: list[dict]) -> int:
    return max((e["seq"] for e in transcript if e["from"] == "user"), default=0)


async def where_it_stands(http: aiohttp.ClientSession, base: str, session: str,
                          idx: int) -> tuple[int | None, list[dict]]:
    """After turn `idx` got no answer, read the transcript: the step to go on from (idx + 1 when
    the turn was stored, idx when not, None when the transcript holds neither) and the bot's
    entries after the guardian's last one (the answer to the stored turn)."""
    transcript = await read_transcript(http, base, session)
    users = sum(1 for e in transcript if e["from"] == "user")
    answer = [e for e in transcript if e["seq"] > last_user_seq(transcript)]
    return (users if users in (idx, idx + 1) else None), answer


async def read_transcript(http: aiohttp.ClientSession, base: str, session: str) -> list[dict]:
    for _ in range(100):
        try:
            async with http.get(f"{base}/api/chat/{session}/messages") as resp:
                if resp.status == 200:
                    return (await resp.json())["messages"]
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("could not read a transcript")


def check_files(*roots: Path) -> tuple[int, list[str]]:
    """Parse every JSON (and JSON-lines) file under `roots`; return (files checked, problems)."""
    problems, checked = [], 0
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file():
                continue
            if path.name.startswith(".tmp-"):
                problems.append(f"{path}: a temp file left behind")
                continue
            if path.suffix == ".json":
                checked += 1
                try:
                    doc = json.loads(path.read_bytes())
                except ValueError as exc:
                    problems.append(f"{path}: {exc}")
                    continue
                if "sessions" in path.parts and not (isinstance(doc, dict) and "1" in doc.get("state", {})):
                    problems.append(f"{path}: not a conversation document")
            elif path.suffix == ".jsonl":
                checked += 1
                for n, line in enumerate(path.read_text().splitlines(), 1):
                    try:
                        json.loads(line)
                    except ValueError:
                        problems.append(f"{path}:{n}: not JSON")
        corrupt = root / "sessions" / "corrupt"
        if corrupt.is_dir() and any(corrupt.iterdir()):
            problems.append(f"{corrupt}: {len(list(corrupt.iterdir()))} conversation files moved aside as corrupt")
    return checked, problems


async def wait_drained(data_dir: Path, timeout: float = 60) -> int:
    """Wait until the data-rights outbox holds nothing undelivered; return what is left."""
    pending = data_dir / "pending_dsr"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pending.glob("*.json")
                if not json.loads(p.read_text()).get("delivered") and not json.loads(p.read_text()).get("rejected")]
        if not left:
            return 0
        await asyncio.sleep(0.5)
    return len(left)


async def crash_run(tmp: Path, kills: int, guardians: int, seed: int, min_gap: float = 0.3,
                    max_gap: float = 2.0, out=print) -> dict:
    """Run the whole crash test in `tmp`; return the findings (and print progress with `out`)."""
    from tests.conftest import free_port

    rnd = random.Random(seed)
    data_dir, dsr_dir = tmp / "data", tmp / "dsr"
    data_dir.mkdir(parents=True)
    dsr_dir.mkdir(parents=True)
    sys.path.insert(0, str(ROOT))
    from backends.activation.app import add_account

    pool = [f"guardian{i:04d}@example.org" for i in range(300)]
    for address in pool:
        add_account(data_dir, address)
    dsr_port = free_port()
    env = {**os.environ, "HALMSTAD_BACKEND_TOKEN": TOKEN}
    dsr_log = open(tmp / "dsr.log", "ab")
    dsr = subprocess.Popen([sys.executable, "-m", "backends.dsr", "--port", str(dsr_port), "--data-dir", str(dsr_dir)],
                           cwd=ROOT, env=env, stdout=dsr_log, stderr=subprocess.STDOUT)
    serve = Serve(data_dir, free_port(), f"http://127.0.0.1:{dsr_port}", tmp / "serve.log")
    tally = Tally()
    stop = asyncio.Event()
    try:
        serve.start()
        await serve.wait_healthy()
        tasks = [asyncio.create_task(guardian(i, serve, tally, stop, seed, pool)) for i in range(guardians)]
        started = time.monotonic()
        for k in range(1, kills + 1):
            await asyncio.sleep(rnd.uniform(min_gap, max_gap))
            serve.kill()
            await asyncio.sleep(rnd.uniform(0.0, 0.3))
            serve.start()
            await serve.wait_healthy()
            out(f"kill {k:>2}/{kills}: SIGKILL at {time.monotonic() - started:6.1f} s, back up; "
                f"answered {tally.answered}, unanswered {tally.unanswered}")
        await asyncio.sleep(max_gap)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
        undelivered = await wait_drained(data_dir)
        serve.kill(signal.SIGTERM)
    finally:
        serve.kill()
        dsr.terminate()
        dsr.wait(timeout=30)
        dsr_log.close()

    checked, problems = check_files(data_dir, dsr_dir)
    cases = read_tables(dsr_dir)["cases"].values()
    by_name = Counter(c["requester"]["name"] for c in cases)
    items = [json.loads(p.read_text())["item"]["1"]
             for p in sorted((data_dir / "handoff" / "items").glob("*.json"))]
    messages_by_name = Counter(i["name"] for i in items if i["kind"] == "message")
    return {
        "tally": tally, "files_checked": checked, "file_problems": problems, "undelivered": undelivered,
        "dsr_cases": len(by_name and list(cases)),
        "dsr_lost": sorted(n for n in tally.acked_dsr if by_name[n] == 0),
        "dsr_duplicated": sorted(n for n in tally.acked_dsr if by_name[n] > 1),
        "dsr_unacknowledged_cases": sum(v for n, v in by_name.items() if n not in tally.acked_dsr),
        "messages_lost": sorted(n for n in tally.acked_messages if messages_by_name[n] == 0),
        "messages_duplicated": sorted(n for n in tally.acked_messages if messages_by_name[n] > 1),
        "messages_unacknowledged": sum(v for n, v in messages_by_name.items() if n not in tally.acked_messages),
    }


def report(result: dict, out=print) -> bool:
    """Print the findings; return True when every target holds."""
    t: Tally = result["tally"]
    out(f"conversations: {dict(t.conversations)}; finished: {dict(t.finished)}")
    out(f"turns answered {t.answered}, unanswered (in flight at a kill) {t.unanswered}")
    out(f"files parsed: {result['files_checked']}; problems: {len(result['file_problems'])}")
    for problem in result["file_problems"][:10]:
        out(f"  {problem}")
    out(f"acknowledged data-rights requests: {len(t.acked_dsr)}; lost {len(result['dsr_lost'])}, "
        f"duplicated {len(result['dsr_duplicated'])}; cases for requests never acknowledged: "
        f"{result['dsr_unacknowledged_cases']}; still undelivered: {result['undelivered']}")
    out(f"acknowledged left messages: {len(t.acked_messages)}; lost {len(result['messages_lost'])}, "
        f"duplicated {len(result['messages_duplicated'])}; never acknowledged but stored: "
        f"{result['messages_unacknowledged']}")
    out(f"conversations interrupted by a kill: {t.interrupted}; went on to their end: {t.interrupted_finished}")
    out(f"acknowledged turns missing from transcripts: {len(t.lost_turns)}; unexpected answers: {len(t.bad_answers)}")
    for line in (t.lost_turns + t.bad_answers)[:10]:
        out(f"  {line}")
    return not (result["file_problems"] or result["dsr_lost"] or result["dsr_duplicated"] or result["undelivered"]
                or result["messages_lost"] or result["messages_duplicated"] or t.lost_turns or t.bad_answers
                or t.interrupted != t.interrupted_finished)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--guardians", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-gap", type=float, default=2.0, help="longest run between two kills (s)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="crash-"))
    print(f"data in {tmp}; {args.kills} kills, {args.guardians} guardians, seed {args.seed}")
    result = asyncio.run(crash_run(tmp, args.kills, args.guardians, args.seed, max_gap=args.max_gap))
    ok = report(result)
    print("all targets hold" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
