"""Count what happens on the hot path and log it as one INFO summary line per interval.

A log line per request (or per turn) cost about a tenth of a loaded server's event loop (a
`LogRecord`, formatting and a `write` each). A `LogTally` counts events by a short key instead
(`POST /api/chat 200`, `web answer`), with the total and the longest time when one is given, and
logs one line for all of them: at once for the first event after a quiet interval (so a starting
or idle server still shows its traffic immediately), then at most once per interval, and at
`flush` (shutdown). Keys must hold no message text or personal data, as every log line.
"""
from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Callable

_ALL: "weakref.WeakSet[LogTally]" = weakref.WeakSet()


class LogTally:
    """Counts events by key and logs them to `logger` at INFO as `<what> <n> in <s> s: ...`."""

    def __init__(self, logger: logging.Logger, what: str, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.what, self.interval, self._clock = logger, what, interval, clock
        self._counts: dict[str, list[float]] = {}  # key -> [count, total ms, max ms]
        self._since = clock()
        self._flushed_at = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        _ALL.add(self)

    def add(self, key: str, ms: float | None = None) -> None:
        """Count one event (with its duration in milliseconds, if it has one)."""
        found = self._counts.get(key)
        if found is None:
            if not self._counts:
                self._since = self._clock()
            found = self._counts[key] = [0, 0.0, 0.0]
        found[0] += 1
        if ms is not None:
            found[1] += ms
            if ms > found[2]:
                found[2] = ms
        if self._timer is not None and not self._timer_loop.is_closed():
            return
        wait = self._flushed_at + self.interval - self._clock()
        if wait <= 0:
            self.flush()
            return
        try:
            self._timer_loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: nothing would flush later
            self.flush()
            return
        self._timer = self._timer_loop.call_later(wait, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Log what was counted since the last summary (nothing if nothing was)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._flushed_at = self._clock()
        if not self._counts:
            return
        counts, self._counts = self._counts, {}
        total = sum(int(c[0]) for c in counts.values())
        parts = [f"{key} {int(n)}" + (f" (mean {ms / n:.1f} ms, max {top:.1f} ms)" if ms else "")
                 for key, (n, ms, top) in sorted(counts.items(), key=lambda kv: -kv[1][0])]
        self.logger.info("%s %d in %.0f s: %s", self.what, total, self._flushed_at - self._since,
                         "; ".join(parts))


async def flush_all() -> None:
    """Log every tally's last counts (a closer, at shutdown)."""
    for tally in list(_ALL):
        tally.flush()
