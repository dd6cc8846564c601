"""The HTTP client of the activation backend (`POST {base}/api/activation-requests`).

The activation flow talks to the backend only through this client, so a municipality can point
the bot at its real activation service by URL. The guardian is waiting in the chat while the
request runs, so every call is bounded: one overall time budget (0.8 s by default, so the chat
answers within 1 s even when the backend hangs; docs/RELIABILITY.md) shared by at most one retry, and every failure (refused connection, timeout, 5xx, a wrong token) becomes an
`unavailable` result the flow can apologise for, never an exception or a silent hang.

Logs name outcomes and HTTP statuses only, never the address.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Literal

import aiohttp

from flows.ports import ActivationResult

log = logging.getLogger("halmstad.clients.activation")

Status = Literal["ok", "rate_limited", "invalid", "unavailable"]
DEFAULT_TIMEOUT = 0.8
DEFAULT_RETRIES = 1
DEFAULT_BACKOFF = 0.1
# Below this much remaining budget another attempt cannot finish; give up instead.
_MIN_ATTEMPT = 0.05


class _Retryable(Exception):
    """A failure worth one more attempt (connection refused or reset, a 5xx)."""


class ActivationClient:
    """Ask the activation backend to mail an activation link, within a fixed time budget."""

    def __init__(self, base_url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT,
                 retries: int = DEFAULT_RETRIES, backoff: float = DEFAULT_BACKOFF) -> None:
        self.url = base_url.rstrip("/") + "/api/activation-requests"
        self._token = token
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self._session: aiohttp.ClientSession | None = None

    def _client_session(self) -> aiohttp.ClientSession:
        """Return the one shared session, created on first use inside the running loop."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self._token}"},
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def close(self) -> None:
        """Close the shared session (called when the app or the terminal chat stops)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def request_activation(self, email: str, *, client: str | None = None) -> ActivationResult:
        """Ask for an activation e-mail to `email`; `client` keys the backend's per-client limit.

        Without `client` every guardian would share the bot's own address as one client and
        exhaust its limit together, so the flow passes a value derived from the conversation.
        """
        body: dict = {"email": email}
        if client:
            body["client"] = client[:128]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        attempt = 0
        while True:
            remaining = deadline - loop.time()
            if remaining < _MIN_ATTEMPT:
                log.warning("activation_request unavailable reason=budget_spent attempts=%d", attempt)
                return ActivationResult("unavailable")
            attempt += 1
            try:
                async with asyncio.timeout(remaining):
                    return await self._attempt(body, remaining)
            except _Retryable as exc:
                reason = str(exc)
            except (TimeoutError, asyncio.TimeoutError):
                log.warning("activation_request unavailable reason=timeout attempts=%d", attempt)
                return ActivationResult("unavailable")
            except aiohttp.ClientError as exc:  # a broken response, an invalid URL
                log.warning("activation_request unavailable reason=%s", type(exc).__name__)
                return ActivationResult("unavailable")
            if attempt > self.retries:
                log.warning("activation_request unavailable reason=%s attempts=%d", reason, attempt)
                return ActivationResult("unavailable")
            pause = min(self.backoff * attempt, max(0.0, deadline - loop.time() - _MIN_ATTEMPT))
            if pause > 0:
                await asyncio.sleep(pause)

    async def _attempt(self, body: dict, remaining: float) -> ActivationResult:
        session = self._client_session()
        try:
            async with session.post(self.url, json=body,
                                    timeout=aiohttp.ClientTimeout(total=remaining)) as resp:
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
                await resp.read()
        except (aiohttp.ClientConnectionError, ConnectionError) as exc:
            if isinstance(exc, aiohttp.ServerTimeoutError):
                raise TimeoutError() from None
            raise _Retryable(type(exc).__name__) from None
        if status in (200, 201, 202):
            log.info("activation_request ok status=%d", status)
            return ActivationResult("ok")
        if status == 429:
            log.info("activation_request rate_limited")
            return ActivationResult("rate_limited", _seconds(retry_after))
        if status in (400, 413, 422):
            log.info("activation_request invalid status=%d", status)
            return ActivationResult("invalid")
        if status >= 500:
            raise _Retryable(f"http_{status}")
        # 401/403/404...: the bot is misconfigured (token, URL); the guardian cannot fix that.
        log.error("activation_request unavailable status=%d (check the backend URL and token)", status)
        return ActivationResult("unavailable")


def _seconds(header: str | None) -> int | None:
    """Read a Retry-After header given in seconds (the backend's form); None otherwise."""
    if header is None:
        return None
    try:
        value = int(header.strip())
    except ValueError:
        return None
    return value if value >= 0 else None
