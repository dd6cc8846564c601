"""Hostile input: seeded malformed and adversarial HTTP requests to every endpoint of `serve`.

Each request is built from raw bytes (so broken request lines, headers and bodies are possible,
not only what an HTTP library allows) and sent over its own loopback connection. A request
passes when the answer's status is below 500 (or the server closed a connection it could not
parse, which is what a server should do with garbage) and its body holds no Python traceback.
After the run the server must still be alive: /healthz answers 200 and a chat question gets its
real answer.

    python -m tests.reliability.hostile [--requests 10000] [--seed 1] [--concurrency 16]

starts its own `serve --demo` (agent login, a staff login, a registered guardian) on a temp data
dir; the CI subset (tests/reliability/test_hostile.py) runs 300 of the same requests.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import string
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hostile-backend-token"
STAFF = ("staff", "staff-password-123")
AGENT = ("agent", "demo-agent-password")
TRACEBACK = re.compile(rb"Traceback \(most recent call last\)|File \"/[^\"]+\.py\", line \d+")

# Every route `serve` has, with placeholders filled at random.
ROUTES = [
    ("POST", "/api/chat"), ("GET", "/api/chat/{session}/messages"), ("GET", "/api/chat/{session}/ws"),
    ("OPTIONS", "/api/chat"), ("OPTIONS", "/api/chat/{session}/messages"),
    ("GET", "/"), ("GET", "/widget.js"), ("GET", "/widget.css"), ("GET", "/page.css"),
    ("GET", "/widget/texts.json"), ("GET", "/tillganglighet"), ("GET", "/integritet"),
    ("GET", "/healthz"), ("GET", "/metrics"),
    ("POST", "/activation/api/activation-requests"), ("POST", "/activation/api/app-login"),
    ("GET", "/activation/api/health"), ("GET", "/activation/"), ("GET", "/activation/activate"),
    ("POST", "/activation/activate"), ("POST", "/activation/credentials"), ("GET", "/activation/done"),
    ("GET", "/activation/invalid"), ("GET", "/activation/style.css"),
    ("POST", "/dsr/api/requests"), ("GET", "/dsr/api/requests/{ref}"), ("GET", "/dsr/api/staff/cases"),
    ("GET", "/dsr/healthz"), ("GET", "/dsr/"), ("GET", "/dsr/login"), ("POST", "/dsr/login"),
    ("POST", "/dsr/logout"), ("GET", "/dsr/cases"), ("GET", "/dsr/cases/{ref}"),
    ("POST", "/dsr/cases/{ref}/status"), ("POST", "/dsr/cases/{ref}/extend"),
    ("POST", "/agent/api/login"), ("POST", "/agent/api/logout"), ("GET", "/agent/api/me"),
    ("POST", "/agent/api/availability"), ("GET", "/agent/api/queue"),
    ("GET", "/agent/api/conversations/{id}"), ("POST", "/agent/api/conversations/{id}/accept"),
    ("POST", "/agent/api/conversations/{id}/messages"), ("POST", "/agent/api/conversations/{id}/close"),
    ("POST", "/agent/api/left-messages/{id}/done"), ("GET", "/agent/api/canned"),
    ("GET", "/agent/api/texts"), ("GET", "/agent/api/ws"), ("GET", "/agent"), ("GET", "/agent/"),
    ("GET", "/agent/login"), ("GET", "/agent/static/{name}"), ("GET", "/agent/stats"),
]
NASTY_STRINGS = [
    "", " ", "\x00", "\ud800", "💥" * 50, "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>",
    "' OR '1'='1", "../../../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%00", "%", "%zz", "\r\nX-Injected: 1",
    "a@b.se\r\nBcc: victim@example.com", "a@b.se\nCc: x@y.z", "{{7*7}}", "${jndi:ldap://x}", "%s%s%s%n",
    "A" * 5000, "9" * 5000, "-1", "1e309", "NaN", "Infinity", "null", "true", "[]", "{}", "0x41",
    "DSR-2026-00001", "DSR-9999-99999", "m-0000000000", "c-ffffffffff", "ans:yes", "flow:nope", "cmd:human",
    "faq:../../x", "\u202e\u0041\u0042", "é" * 300, "\t\n\r", "null\x00byte", "😀😃😄",
]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "PROPFIND", "G3T", ""]
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz",
                 "text/plain", "application/json; charset=latin-1", "", "application/json; charset=utf-16",
                 "multipart/form-data", "*/*", "application/jso\x00n"]


@dataclass
class Outcome:
    """What the server did with one request."""

    status: int | None  # None: the server closed the connection without an answer
    traceback: bool = False
    label: str = ""


@dataclass
class Report:
    """The tally of a hostile run."""

    sent: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: list[tuple[str, int | None, str]] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if isinstance(s, int) and s >= 500)

    def summary(self) -> str:
        shown = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items(), key=lambda kv: str(kv[0])))
        return (f"{self.sent} requests in {self.elapsed:.1f} s; statuses {{{shown}}}; "
                f">=500: {self.server_errors}; tracebacks in bodies: "
                f"{sum(1 for f in self.failures if f[2] == 'traceback')}")


class Generator:
    """Builds hostile requests from a seed (the same seed gives the same requests)."""

    def __init__(self, seed: int, auth: dict[str, str]) -> None:
        self.rnd = random.Random(seed)
        self.auth = auth  # cookie values of real logins, filled by the runner

    def text(self) -> str:
        r = self.rnd.random()
        if r < 0.5:
            return self.rnd.choice(NASTY_STRINGS)
        if r < 0.8:
            return "".join(self.rnd.choice(string.printable) for _ in range(self.rnd.randint(0, 80)))
        return "".join(chr(self.rnd.randint(1, 0x2FFF)) for _ in range(self.rnd.randint(1, 40)))

    def value(self, depth: int = 0):
        r = self.rnd.random()
        if depth > 2 or r < 0.45:
            return self.text()
        if r < 0.55:
            return self.rnd.choice([None, True, False, 0, -1, 2 ** 70, 1.5, float("1e300")])
        if r < 0.75:
            return [self.value(depth + 1) for _ in range(self.rnd.randint(0, 4))]
        return {self.text()[:20]: self.value(depth + 1) for _ in range(self.rnd.randint(0, 4))}

    def session(self) -> str:
        r = self.rnd.random()
        if r < 0.6:
            return "".join(self.rnd.choice(string.ascii_letters + string.digits + "_-")
                           for _ in range(self.rnd.randint(1, 64)))
        return urllib.parse.quote(self.text()[:100], safe="", errors="surrogatepass") or "x"

    def json_body(self, path: str) -> bytes:
        """A JSON body near what the route expects, with fields wrong in some way."""
        fields = {
            "/api/chat": {"session": "s", "text": "hej", "button": "ans:yes", "lang": "sv"},
            "/activation/api/activation-requests": {"email": "guardian@example.org", "client": "c"},
            "/activation/api/app-login": {"username": "u", "password": "p"},
            "/dsr/api/requests": {"right": "access", "on_behalf_of": "self",
                                  "requester": {"name": "Anna Andersson", "email": "a@example.org"},
                                  "child": {"name": "Bo", "school": "X"}, "description": "d",
                                  "language": "sv", "channel": "web"},
            "/agent/api/login": {"username": "agent", "password": "x"},
            "/agent/api/availability": {"available": True},
        }.get(path, {"text": "hej", "outcome": "resolved", "available": True})
        body = dict(fields)
        for _ in range(self.rnd.randint(1, 3)):
            key = self.rnd.choice(list(body) + [self.text()[:10]])
            action = self.rnd.random()
            if action < 0.6:
                body[key] = self.value()
            elif action < 0.8:
                body.pop(key, None)
            else:
                body[key] = self.rnd.choice(NASTY_STRINGS)
        r = self.rnd.random()
        if r < 0.08:  # deeply nested: a recursion bomb for naive parsers
            depth = self.rnd.choice([100, 1000, 5000, 50_000])
            return b"[" * depth + b"]" * depth
        if r < 0.16:  # valid JSON whose strings cannot be text: lone surrogate escapes
            good = json.dumps(body, ensure_ascii=True)
            return good.replace("a", "\\ud800", 1).replace("e", "\\udfff", 1).encode()
        if r < 0.2:
            return self.rnd.choice([b'{"session": "s", "text": "\xff\xfe"}', b"\xef\xbb\xbf{}", b"{", b"",
                                    b'{"a":1,"a":2}', b'"just a string"', b"[1,2,3]", b"nul", b"{\"text\": NaN}",
                                    ("{\"x\": " + "9" * 10000 + "}").encode()])
        try:
            return json.dumps(body, ensure_ascii=self.rnd.random() < 0.5).encode("utf-8", "surrogatepass")
        except (TypeError, ValueError):
            return b"{}"

    def form_body(self) -> bytes:
        names = ["code", "csrf", "username", "password", "password_confirm", "lang", "status", "reason",
                 "told_on", "extend_reason", self.text()[:10]]
        pairs = [(self.rnd.choice(names), self.text()) for _ in range(self.rnd.randint(0, 6))]
        if self.rnd.random() < 0.15:
            return self.rnd.choice([b"code=%zz&csrf=%&&=&" + bytes(self.rnd.randrange(256) for _ in range(30)),
                                    b"csrf=%ED%A0%80&username=%ED%A0%80&code=%ED%A0%80&status=%ED%A0%80"])
        return urllib.parse.urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode()

    def path_for(self, template: str) -> str:
        path = template
        for name, make in (("{session}", self.session), ("{ref}", lambda: self.rnd.choice(
                ["DSR-2026-00001", self.session(), "DSR-2026-" + "0" * 400, "%2e%2e%2f"])),
                ("{id}", lambda: self.rnd.choice(["m-0000000000", "c-0000000000", self.session()])),
                ("{name}", lambda: self.rnd.choice(["console.js", "login.js", "..%2f..%2fapp.py", "%00",
                                                    "../../../etc/passwd", self.session()]))):
            path = path.replace(name, make())
        r = self.rnd.random()
        if r < 0.2:
            query = urllib.parse.urlencode({self.text()[:10]: self.text() for _ in range(self.rnd.randint(1, 3))},
                                           errors="surrogatepass")
            path += "?" + query
        elif r < 0.3:
            path += self.rnd.choice(["?lang=%ED%A0%80", "?code=%ED%A0%80%FF", "?after=%ED%A0%80", "?after=-1", "?after=99999999999999999", "?after=abc", "?code=" + "x" * 5000,
                                     "?lang=xx", "?%", "?a=%zz", "#frag", "?after=1e3", "?code=%00"])
        elif r < 0.35:
            path = self.rnd.choice(["/%", "//", "/..", "/./api/chat", "/api/chat/../../etc/passwd",
                                    "/" + "a" * 9000, "/api/chat\x00", "*", "/\u00e5\u00e4\u00f6",
                                    "http://evil.example/", "/api/chat/%2e%2e/ws", "/agent/static/"])
        return path

    def request(self) -> tuple[str, bytes]:
        """Return (label, raw request bytes)."""
        method, template = self.rnd.choice(ROUTES)
        if self.rnd.random() < 0.1:
            method = self.rnd.choice(METHODS)
        path = self.path_for(template)
        headers = {"Host": "127.0.0.1", "Connection": "close"}
        body = b""
        kind = self.rnd.random()
        if method in ("POST", "PUT", "PATCH") or kind < 0.1:
            if template.startswith(("/activation/activate", "/activation/credentials", "/dsr/login",
                                    "/dsr/cases", "/dsr/logout")) and self.rnd.random() < 0.8:
                body = self.form_body()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                body = self.json_body(template.split("?")[0])
                headers["Content-Type"] = "application/json"
            if self.rnd.random() < 0.2:
                headers["Content-Type"] = self.rnd.choice(CONTENT_TYPES)
        auth = self.rnd.random()
        if template.startswith(("/activation/api/", "/dsr/api/")):
            if auth < 0.6:
                headers["Authorization"] = f"Bearer {TOKEN}"
            elif auth < 0.8:
                headers["Authorization"] = self.rnd.choice(["Bearer wrong", "Bearer ", "Basic YTpi", "Bearer \xff", "Bearer \udcff\udcfe",
                                                            "bearer " + TOKEN + "x", "Bearer " + "A" * 8000])
        if template.startswith("/dsr/api/requests") and self.rnd.random() < 0.7:
            headers["Idempotency-Key"] = self.rnd.choice(["k-" + self.session(), "", "x" * 200, "\x7f", "ü"])
        cookie = self.rnd.random()
        if template.startswith("/agent"):
            if cookie < 0.35 and self.auth.get("agent"):
                headers["Cookie"] = f"halmstad_agent={self.auth['agent']}"
            elif cookie < 0.7:
                headers["Cookie"] = "halmstad_agent=" + self.rnd.choice(
                    ["forged", "A" * 43, "", "x; halmstad_agent=y", "\"quoted\"", "%00", "\udcff\udcc3"])
        elif template.startswith("/dsr/") and not template.startswith("/dsr/api/"):
            if cookie < 0.35 and self.auth.get("staff"):
                headers["Cookie"] = f"dsr_session={self.auth['staff']}"
            elif cookie < 0.7:
                headers["Cookie"] = "dsr_session=forged; dsr_login=" + self.rnd.choice([self.text()[:30], "\udcff"])
        if template.endswith("/ws") and self.rnd.random() < 0.7:
            headers.update({"Upgrade": self.rnd.choice(["websocket", "WebSocket", "h2c", "x"]),
                            "Connection": self.rnd.choice(["Upgrade", "close, Upgrade", "keep-alive"]),
                            "Sec-WebSocket-Version": self.rnd.choice(["13", "8", "", "999"]),
                            "Sec-WebSocket-Key": self.rnd.choice(["dGhlIHNhbXBsZSBub25jZQ==", "", "short", "!!!"]),
                            "Origin": self.rnd.choice(["http://127.0.0.1", "http://evil.example", "null", ""])})
        if body and self.rnd.random() < 0.04:
            headers["Content-Encoding"] = self.rnd.choice(["gzip", "deflate", "br", "x-unknown"])
        if self.rnd.random() < 0.1:
            headers[self.rnd.choice(["Accept-Language", "Origin", "X-Forwarded-For", "Referer", "User-Agent",
                                     "Content-Encoding", "Transfer-Encoding", "Expect", "Range"])] = self.rnd.choice(
                ["gzip", "chunked", "100-continue", "bytes=0-1,1-2", "sv;q=abc,en;q=2", "\xff\xfe", "a" * 7000, "\udcff\udcfe",
                 "*", "en-US,en;q=0.9," * 200])
        return f"{method} {template}", self.raw(method, path, headers, body)

    def raw(self, method: str, path: str, headers: dict, body: bytes) -> bytes:
        r = self.rnd.random()
        if r < 0.03:  # not HTTP at all, or broken framing
            return self.rnd.choice([b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40),
                                    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                                    b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
                                    b"GET /healthz HTTP/9.9\r\n\r\n", b"\r\n\r\n", b"GET\r\n\r\n",
                                    b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n{}",
                                    b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 70000 + b"\r\n\r\n"])
        if body and "Transfer-Encoding" not in headers:
            if r < 0.06:
                headers["Content-Length"] = str(len(body) + self.rnd.choice([-1, 5]))  # lies about the size
            else:
                headers["Content-Length"] = str(len(body))
        lines = [_bytes(f"{method} {path} HTTP/1.1")] + [_bytes(f"{k}: {v}") for k, v in headers.items()]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _bytes(text: str) -> bytes:
    """Encode text as sent on the wire: \udc80-\udcff stand for raw bytes that are not UTF-8."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


async def send_raw(port: int, data: bytes, timeout: float = 4.0) -> tuple[int | None, bytes]:
    """Send raw bytes on a new connection; return (status or None, the whole answer)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    except (OSError, asyncio.TimeoutError):
        raise ConnectionError("the server does not accept connections")
    try:
        writer.write(data)
        await writer.drain()
        chunks = []
        total = 0
        while total < 1_000_000:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if b"\r\n\r\n" in chunk and b" 101 " in chunks[0][:20]:
                break  # a WebSocket was opened; close it
        answer = b"".join(chunks)
    except (OSError, asyncio.TimeoutError):
        answer = b""
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    return (int(match.group(1)) if match else None), answer


async def run(port: int, count: int, seed: int, concurrency: int, auth: dict[str, str]) -> Report:
    """Send `count` hostile requests with `concurrency` connections at once."""
    gen = Generator(seed, auth)
    requests = [gen.request() for _ in range(count)]
    report = Report()
    queue = list(enumerate(requests))
    started = time.perf_counter()

    async def worker() -> None:
        while queue:
            _, (label, data) = queue.pop()
            status, answer = await send_raw(port, data)
            report.sent += 1
            report.statuses[status if status is not None else "closed"] += 1
            if status is not None and status >= 500:
                report.failures.append((label, status, answer[:600].decode("utf-8", "replace")))
            if TRACEBACK.search(answer):
                report.failures.append((label, status, "traceback"))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    report.elapsed = time.perf_counter() - started
    return report


# Running against a real `serve` -------------------------------------------------------------

def prepare(data_dir: Path) -> None:
    """Give the data dir a staff login and a registered guardian (the agent comes from --demo)."""
    subprocess.run([sys.executable, "-m", "bot.cli", "backend", "add-staff", STAFF[0], "--password-stdin",
                    "--data-dir", str(data_dir)], input=STAFF[1] + "\n", text=True, check=True, cwd=ROOT,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "bot.cli", "backend", "add-account", "guardian@example.org",
                    "--data-dir", str(data_dir)], check=True, cwd=ROOT, capture_output=True)


async def logins(base: str) -> dict[str, str]:
    """Log in as the demo agent and the staff member; return their session cookies."""
    import aiohttp

    out: dict[str, str] = {}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{base}/agent/api/login", json={"username": AGENT[0], "password": AGENT[1]}) as resp:
            if resp.status == 200:
                out["agent"] = resp.cookies["halmstad_agent"].value
        async with http.get(f"{base}/dsr/login") as resp:
            page = await resp.text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        if csrf:
            async with http.post(f"{base}/dsr/login", data={"csrf": csrf.group(1), "username": STAFF[0],
                                                            "password": STAFF[1]}, allow_redirects=False) as resp:
                if "dsr_session" in resp.cookies:
                    out["staff"] = resp.cookies["dsr_session"].value
    return out


async def still_answers(base: str) -> tuple[bool, str]:
    """Tell whether the server is healthy and answers a real question correctly afterwards."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as resp:
            if resp.status != 200:
                return False, f"/healthz {resp.status}"
        async with http.post(f"{base}/api/chat", json={"session": "after-hostile", "text": "vad är ert telefonnummer?"}) as resp:
            data = await resp.json()
            text = " ".join(m["text"] for m in data.get("messages", []))
            if resp.status != 200 or "035-13 70 00" not in text:
                return False, f"chat {resp.status}: {text[:200]}"
    return True, "ok"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.serving import Server

    tmp = Path(tempfile.mkdtemp(prefix="hostile-"))
    data_dir = tmp / "data"
    data_dir.mkdir()
    prepare(data_dir)
    server = Server(data_dir, "--demo", "--rate-limit-per-address", "0", "--rate-limit-per-session", "0",
                    env={"HALMSTAD_BACKEND_TOKEN": TOKEN, "HALMSTAD_LOG_LEVEL": "WARNING"}).start()
    try:
        auth = asyncio.run(logins(server.base))
        print(f"logged in: {sorted(auth)}; sending {args.requests} requests (seed {args.seed}, "
              f"{args.concurrency} at once) to {len(ROUTES)} routes and random paths")
        report = asyncio.run(run(server.port, args.requests, args.seed, args.concurrency, auth))
        print(report.summary())
        for label, status, detail in report.failures[:20]:
            print(f"  FAIL {label} -> {status}: {detail[:300]!r}")
        alive = server.proc.poll() is None
        ok, detail = asyncio.run(still_answers(server.base)) if alive else (False, "process exited")
        print(f"server alive afterwards: {alive}; answers correctly afterwards: {ok} ({detail})")
        log = server.log.read_text(errors="replace")
        print(f"server log: {log.count('Traceback')} tracebacks, {log.count(' ERROR ')} ERROR lines")
        return 0 if (report.server_errors == 0 and not report.failures and ok) else 1
    finally:
        server.kill()


if __name__ == "__main__":
    sys.exit(main())
