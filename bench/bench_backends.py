"""What one change costs in the reference backends' documents, by how much they already hold.

Seeds `dsr.json` with N cases (each with its idempotency record and three audit entries, ~2 KB a
case) and `activation.json` with N registered addresses, in the single-file layout (which every
version reads), then times through the real stores (`DsrStore`, `ActivationStore`, which keep the
document in memory and append each change to a journal, see backends/cached_doc.py):

- dsr create: filing a new case (case, idempotency record and audit entry in one durable change);
- dsr read: one case by reference (a copy);
- activation issue: a new activation code for a registered address (one durable change);
- activation lookup: is an address registered;
- KB written: bytes the process handed to write() per dsr create (from /proc/self/io `wchar`).

    python bench/bench_backends.py [--sizes 100,1000,10000] [--ops 50]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.activation.security import email_key  # noqa: E402
from backends.activation.store import ActivationStore  # noqa: E402
from backends.dsr.store import DsrStore  # noqa: E402

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)


def case(i: int) -> dict:
    return {"reference": f"DSR-2026-{i:05d}", "status": "received", "right": "access", "on_behalf_of": "self",
            "requester": {"name": f"Requester {i}", "email": f"r{i}@example.org", "phone": "070-0000000"},
            "description": "Jag vill ha ett registerutdrag över allt ni har om mig. " * 8,
            "received_at": NOW.isoformat(), "due_at": (NOW + timedelta(days=30)).isoformat(),
            "language": "sv", "channel": "chat", "parts": [], "notes": [], "assignee": None}


def seed(directory: Path, n: int) -> None:
    cases = {str(i): case(i) for i in range(1, n + 1)}
    idem = {str(i): {"key": f"k{i}", "body_hash": "h", "reference": cases[str(i)]["reference"],
                     "response": {"reference": cases[str(i)]["reference"]}, "created_at": NOW.isoformat()}
            for i in range(1, n + 1)}
    audit = {str(j): {"reference": f"DSR-2026-{j // 3 + 1:05d}", "action": "viewed", "by": "dpo",
                      "at": NOW.isoformat()} for j in range(1, 3 * n + 1)}
    (directory / "dsr.json").write_text(json.dumps({"cases": cases, "idempotency": idem, "audit": audit,
                                                    "staff": {}, "jobs": {}}, separators=(",", ":")))
    accounts = {str(i): {"email": f"guardian{i:06d}@example.org", "key": email_key(f"guardian{i:06d}@example.org"),
                         "created_at": NOW.isoformat()} for i in range(1, n + 1)}
    (directory / "activation.json").write_text(json.dumps({"accounts": accounts, "codes": {}, "credentials": {}},
                                                          separators=(",", ":")))


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.2f}"


async def dsr_ops(directory: Path, n: int, ops: int) -> tuple[list[float], list[float], list[int]]:
    store = DsrStore(directory)
    await store.get_case("DSR-2026-00001")  # the first read parses the file once
    creates, reads, written = [], [], []
    for k in range(ops):
        ref = f"DSR-2026-{n + 1 + k:05d}"
        w0, t0 = bytes_written(), time.perf_counter()
        await store.create_case(f"new-{k}", "h", lambda data, ref=ref: (
            {**case(0), "reference": ref}, {"reference": ref}, {"reference": ref, "action": "filed"}))
        creates.append(time.perf_counter() - t0)
        written.append(bytes_written() - w0)
        t0 = time.perf_counter()
        await store.get_case(ref)
        reads.append(time.perf_counter() - t0)
    store.close()
    return creates, reads, written


def bytes_written() -> int:
    """Bytes this process has handed to write() so far (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/io") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("wchar:"))
    except OSError:
        return 0


def activation_ops(directory: Path, n: int, ops: int) -> tuple[list[float], list[float]]:
    store = ActivationStore(directory)
    issues, lookups = [], []
    for k in range(ops):
        address = f"guardian{(k * 7919) % n + 1:06d}@example.org"
        t0 = time.perf_counter()
        assert store.find_account(address)
        lookups.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        store.issue_code(address, f"hash-{k}", NOW, NOW + timedelta(hours=24))
        issues.append(time.perf_counter() - t0)
    store.close()
    return issues, lookups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--ops", type=int, default=50)
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"median ms per operation over {args.ops}")
    print(f"{'held':>7} {'file KB':>8} {'dsr create':>10} {'KB written':>10} {'dsr read':>9} "
          f"{'act. issue':>10} {'act. lookup':>11}")
    for n in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
            directory = Path(tmp)
            seed(directory, n)
            size_kb = (directory / "dsr.json").stat().st_size // 1024
            creates, reads, written = asyncio.run(dsr_ops(directory, n, args.ops))
            issues, lookups = activation_ops(directory, n, args.ops)
            print(f"{n:>7} {size_kb:>8} {ms(creates):>10} {statistics.median(written) / 1024:>10.1f} "
                  f"{ms(reads):>9} {ms(issues):>10} {ms(lookups):>11}")


if __name__ == "__main__":
    main()
