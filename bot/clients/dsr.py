"""The HTTP client of the data-rights backend (the port `DataRightsPort` of flows/ports.py).

The bot reaches the backend only over HTTP (CONTRACT.md, "Data-rights backend"), so a
municipality can point it at its real case system. Failures come in two kinds the caller must
treat differently: `DsrUnavailable` (try again later with the same idempotency key) and
`DsrRejected` (the backend refused this request; trying again will not help).
"""
from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote

import aiohttp

from flows.ports import DsrRejected, DsrUnavailable

log = logging.getLogger("halmstad.clients.dsr")

# A guardian waits for the call the chat makes: 0.8 s keeps the answer within 1 s when the backend
# hangs (the request is stored first and delivered later). The delivery worker waits longer.
DEFAULT_TIMEOUT = 0.8
BACKGROUND_TIMEOUT = 10.0
# Answers that mean "not now" rather than "never": retry with the same key.
RETRYABLE = {401, 403, 404, 405, 408, 425, 429}


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
