"""Throttle password guessing for every login (agent console, data-rights staff, app-login).

Three rules, the same for every login:

- An attempt is counted (reserved) *before* its password is checked, synchronously, so requests
  that arrive together cannot all pass the check while the slow argon2 verifications run; a
  success gives back only its own reservation, never the failures that ran beside it.
- Per account, a growing delay instead of a lock-out: the first `free_failures` failures cost
  nothing, after that each further attempt must wait 2, 4, 8 … seconds (at most `max_delay`)
  after the latest failure. The right password is accepted again once the delay has passed, so a
  stranger's guesses slow a member of staff down but never lock them out. An account's failures
  are forgotten after `forget_after` seconds without a failure.
- Per client address, at most `per_address` failures in `address_window` seconds, whichever
  usernames they were for, so guesses spread over many accounts are throttled too.

`LoginGuard` keeps the counts in memory, per process; the clock is injected so tests can move
time. Imports nothing of the bot, so the reference backends use it too. With several `serve`
processes on one Redis, the product's own logins (agent console, staff page) count in Redis
instead (`RedisLoginGuard`, common/redis_loginguard.py), so an attacker gets no more attempts by
spreading them over the processes. Both answer the awaitable `reserve` / `settle` the product's
logins call; the reference backends call `LoginGuard`'s `begin` / `failed` / `succeeded`.
"""
from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class _Account:
    failures: int = 0
    last: float = 0.0


@dataclass
class Attempt:
    """One admitted login attempt; tell the guard how it ended with `succeeded` or `failed`."""

    account: str
    address: str
    at: float
    done: bool = field(default=False, compare=False)
    ref: str = field(default="", compare=False)  # its entry among the address's attempts (Redis)


class LoginThrottle(Protocol):
    """What the product's logins call: `LoginGuard` (this process) or `RedisLoginGuard` (shared)."""

    async def reserve(self, account: str, address: str) -> Attempt | float: ...
    async def settle(self, attempt: Attempt, succeeded: bool) -> None: ...


class LoginGuard:
    """Admit or refuse login attempts before the password is checked (see the module doc)."""

    def __init__(self, *, free_failures: int = 5, max_delay: float = 300.0,
                 forget_after: float = 3600.0, per_address: int = 20, address_window: float = 900.0,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.free_failures = free_failures
        self.max_delay = max_delay
        self.forget_after = forget_after
        self.per_address = per_address
        self.address_window = address_window
        self.clock = clock
        self.max_keys = max_keys
        self._accounts: dict[str, _Account] = {}
        self._addresses: dict[str, deque[float]] = {}

    def delay_after(self, failures: int) -> float:
        """Return how long an account with `failures` recent failures must wait after the last."""
        if self.free_failures <= 0 or failures < self.free_failures:
            return 0.0
        exponent = failures - self.free_failures + 1
        return min(self.max_delay, 2.0 ** min(exponent, 62))

    def _account(self, key: str, now: float) -> _Account | None:
        entry = self._accounts.get(key)
        if entry is not None and now - entry.last > self.forget_after:
            del self._accounts[key]
            return None
        return entry

    def _recent(self, address: str, now: float) -> deque[float] | None:
        events = self._addresses.get(address)
        if events is None:
            return None
        while events and events[0] <= now - self.address_window:
            events.popleft()
        if not events:
            del self._addresses[address]
            return None
        return events

    def _prune(self, now: float) -> None:
        if len(self._accounts) >= self.max_keys:
            for key in list(self._accounts):
                self._account(key, now)
        if len(self._addresses) >= self.max_keys:
            for key in list(self._addresses):
                self._recent(key, now)

    def begin(self, account: str, address: str) -> Attempt | float:
        """Reserve an attempt for `account` from `address`; return it, or the seconds to wait."""
        now = self.clock()
        self._prune(now)
        wait = 0.0
        entry = self._account(account, now)
        if entry is not None:
            wait = max(wait, entry.last + self.delay_after(entry.failures) - now)
        events = self._recent(address, now) if self.per_address > 0 else None
        if events is not None and len(events) >= self.per_address:
            wait = max(wait, events[0] + self.address_window - now)
        if wait > 0:
            return max(1.0, float(math.ceil(wait)))
        entry = self._accounts.setdefault(account, _Account())
        entry.failures += 1
        entry.last = now
        if self.per_address > 0:
            self._addresses.setdefault(address, deque()).append(now)
        return Attempt(account, address, now)

    async def reserve(self, account: str, address: str) -> Attempt | float:
        """`begin`, as the product's logins call every guard (`RedisLoginGuard` too)."""
        return self.begin(account, address)

    async def settle(self, attempt: Attempt, succeeded: bool) -> None:
        """`succeeded` or `failed`, as the product's logins call every guard."""
        if succeeded:
            self.succeeded(attempt)
        else:
            self.failed(attempt)

    def failed(self, attempt: Attempt) -> None:
        """Keep the attempt's reservation: it was a failure."""
        attempt.done = True

    def succeeded(self, attempt: Attempt) -> None:
        """Give back this attempt's own reservation (and nothing else)."""
        if attempt.done:
            return
        attempt.done = True
        entry = self._accounts.get(attempt.account)
        if entry is not None and entry.failures > 0:
            entry.failures -= 1
        events = self._addresses.get(attempt.address)
        if events is not None:
            try:
                events.remove(attempt.at)
            except ValueError:
                pass


def retry_after_header(seconds: float) -> dict[str, str]:
    """Return the Retry-After header for a refusal of `seconds`."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
