"""The HTTP client of the data-rights backend, and the wiring of the durable request outbox.

The bot reaches the backend only over HTTP (CONTRACT.md, "Data-rights backend"), so a
municipality can point it at its real case system. Failures come in two kinds the caller must
treat differently: `DsrUnavailable` (try again later with the same idempotency key) and
`DsrRejected` (the backend refused this request; trying again will not help).
"""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from urllib.parse import quote

import aiohttp

log = logging.getLogger("halmstad.clients.dsr")

# A guardian waits for the call the chat makes: 0.8 s keeps the answer within 1 s when the backend
# hangs (the request is stored first and delivered later). The delivery worker waits longer.
DEFAULT_TIMEOUT = 0.8
BACKGROUND_TIMEOUT = 10.0
# Answers that mean "not now" rather than "never": retry with the same key.
RETRYABLE = {401, 403, 404, 405, 408, 425, 429}


class DsrError(Exception):
    """Base of the errors the DSR client raises."""


class DsrUnavailable(DsrError):
    """Signal that the backend could not be reached or did not take the request now."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DsrRejected(DsrError):
    """Signal that the backend refused the request itself (4xx); retrying will not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class DsrClient:
    """Files data-subject requests with the backend and asks for their status."""

    def __init__(self, base_url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        """Return the HTTP session, created on first use inside the running loop."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    async def file_request(self, body: dict, idempotency_key: str, *, timeout: float | None = None) -> dict:
        """File one request; the same key always yields the same case, so retries are safe.

        `timeout` (seconds) overrides the client's own, e.g. for the patient background worker.
        Returns the backend's answer ({"reference", "received_at", "due_date", "status"}).
        Raises DsrUnavailable (retry later) or DsrRejected (the request itself was refused).
        """
        headers = self._headers() | {"Idempotency-Key": idempotency_key}
        extra = {"timeout": aiohttp.ClientTimeout(total=timeout)} if timeout else {}
        try:
            async with self._http().post(f"{self.base_url}/api/requests", json=body,
                                         headers=headers, **extra) as resp:
                status = resp.status
                data = await _json_or_none(resp)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise DsrUnavailable(f"data-rights backend unreachable: {type(exc).__name__}") from None
        if status in (200, 201) and isinstance(data, dict) and data.get("reference") and data.get("due_date"):
            return data
        if status in (200, 201):
            raise DsrUnavailable("data-rights backend answered without a reference", status)
        if status >= 500 or status in RETRYABLE:
            raise DsrUnavailable(f"data-rights backend answered {status}", status)
        message = data.get("error") if isinstance(data, dict) else None
        raise DsrRejected(status, str(message or "request refused"))

    async def status(self, reference: str) -> dict | None:
        """Return a case's public status ({"reference", "status", "due_date", ...}); None if
        the backend does not know the reference. Raises DsrUnavailable when it cannot say."""
        url = f"{self.base_url}/api/requests/{quote(reference, safe='')}"
        try:
            async with self._http().get(url, headers=self._headers()) as resp:
                status = resp.status
                data = await _json_or_none(resp)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise DsrUnavailable(f"data-rights backend unreachable: {type(exc).__name__}") from None
        if status == 200 and isinstance(data, dict):
            return data
        if status == 404 and isinstance(data, dict) and "error" in data:
            return None
        raise DsrUnavailable(f"data-rights backend answered {status}", status)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None and not self._session.closed:
            await self._session.close()


async def _json_or_none(resp: aiohttp.ClientResponse):
    try:
        return await resp.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError, UnicodeDecodeError):
        return None


# Wiring ------------------------------------------------------------------------------------


def setup(app, runtime, services, url: str) -> None:
    """Give `serve` its DSR client, the durable outbox on the data dir and the delivery worker.

    The worker starts with the app and is cancelled at cleanup; what it has not delivered stays
    on disk and is delivered after the next start.
    """
    from bot.pending import DeliveryWorker, PendingQueue, engine_announcer

    client = DsrClient(url, runtime.token)
    queue = PendingQueue(Path(runtime.config.data_dir) / "pending_dsr", clock=runtime.clock)
    services.dsr = client
    services.pending = queue
    worker = DeliveryWorker(queue, client, announce=engine_announcer(runtime.engine), timeout=BACKGROUND_TIMEOUT)

    async def start(_app) -> None:
        runtime.background.append(asyncio.create_task(worker.run(), name="dsr-delivery"))

    app.on_startup.append(start)
    runtime.closers.append(client.close)


def standalone(services, url: str, data_dir) -> list:
    """Give the terminal chat its DSR client and outbox; return the async closers.

    The terminal chat keeps its outbox apart from `serve`'s, so two processes never deliver
    (and announce) the same requests. Undelivered requests are delivered by a worker while the
    chat runs, and on the next run otherwise; the reference is shown when the user asks.
    """
    from bot.pending import DeliveryWorker, PendingQueue

    client = DsrClient(url, os.environ.get("HALMSTAD_BACKEND_TOKEN", ""))
    queue = PendingQueue(Path(data_dir) / "pending_dsr_console")
    services.dsr = client
    services.pending = queue
    closers = []
    try:
        task = asyncio.get_running_loop().create_task(
            DeliveryWorker(queue, client, timeout=BACKGROUND_TIMEOUT).run())
    except RuntimeError:
        task = None

    async def stop() -> None:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await client.close()

    closers.append(stop)
    return closers
