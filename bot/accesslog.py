"""An access log without personal data: no client address, no query string, no session ids.

A line per request cost about a tenth of a loaded server's event loop, so each request is one
DEBUG line (`HALMSTAD_LOG_LEVEL=DEBUG`), and INFO gets a summary a minute: requests by method,
route and status, with their mean and longest time (common/logtally.py).
"""
from __future__ import annotations

import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from common.logtally import LogTally

SUMMARY_SECONDS = 60.0
_TALLIES: dict[str, LogTally] = {}  # one per logger: aiohttp makes an access logger per connection


class PrivateAccessLogger(AbstractAccessLogger):
    """Logs method, the matched route pattern (not the concrete path), status and time: a DEBUG
    line per request, and a summary of them at INFO once a minute."""

    __slots__ = ("tally",)

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        super().__init__(logger, log_format)
        self.tally = _TALLIES.get(logger.name)
        if self.tally is None:
            self.tally = _TALLIES[logger.name] = LogTally(logger, "http requests", SUMMARY_SECONDS)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request, response, time: float) -> None:
        route = "-"
        try:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "-"
        except Exception:
            pass
        method, status, ms = request.method, response.status, time * 1000
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("http method=%s route=%s status=%s ms=%.1f", method, route, status, ms)
        self.tally.add(f"{method} {route} {status}", ms)


class ProtocolErrorFilter(logging.Filter):
    """Keep aiohttp's "Error handling request from <address>" lines free of the client's address.

    A request the HTTP parser refuses (garbage, a bad header, broken compression) is answered 400,
    yet aiohttp logs it at ERROR with a traceback ("Error handling request from ..." or
    "Unhandled exception"): anyone could fill the log with those. Such a request becomes one INFO line naming the error; a real server fault keeps its
    ERROR and traceback. Either way the address (personal data) is left out.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg not in ("Error handling request from %s", "Unhandled exception"):
            return True
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, (HttpProcessingError, RequestPayloadError)):
            record.msg, record.args = "http refused a malformed request error=%s", (type(exc).__name__,)
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        elif record.args:
            record.msg, record.args = "error handling a request", ()
        return True


def quiet_protocol_errors() -> None:
    """Install ProtocolErrorFilter on aiohttp's server logger (idempotent)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ProtocolErrorFilter) for f in logger.filters):
        logger.addFilter(ProtocolErrorFilter())
