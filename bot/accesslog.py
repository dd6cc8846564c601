"""An access log without personal data: no client address, no query string, no session ids."""
from __future__ import annotations

from aiohttp.abc import AbstractAccessLogger


class PrivateAccessLogger(AbstractAccessLogger):
    """Logs method, the matched route pattern (not the concrete path), status and time."""

    def log(self, request, response, time: float) -> None:
        route = "-"
        try:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "-"
        except Exception:
            pass
        self.logger.info("http method=%s route=%s status=%s ms=%.1f", request.method, route,
                         response.status, time * 1000)
