"""The assistant's clock: real Stockholm time, or time that starts at `--now` and runs on."""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Callable
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def parse_now(value: str) -> datetime:
    """Parse --now: ISO-8601; without an offset it is Stockholm local time."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--now {value!r} is not an ISO-8601 time such as 2026-12-24T10:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=STOCKHOLM)
    return moment


def make_clock(now: str | datetime | None) -> Callable[[], datetime]:
    """Return the clock: real time, or time that starts at `now` and runs on from there."""
    if now is None:
        return lambda: datetime.now(STOCKHOLM)
    start = parse_now(now) if isinstance(now, str) else now
    t0 = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - t0)
