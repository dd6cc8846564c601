"""Headers every response of `serve` gets: a neutral `Server`, and HSTS behind https.

aiohttp names itself and Python with their versions in `Server` on every answer, which tells an
attacker which published flaws to try. The chat, the agent console, the reference backends (mounted
as sub-applications) and aiohttp's own error pages all answer `Server: halmstad` instead: the
prepare hook covers what the applications answer, and the module default covers the answers the
HTTP layer writes itself (a request it could not parse).

When the public address is https, `Strict-Transport-Security` (one year) tells browsers never to
use plain http for this host again. It is not sent for http (browsers ignore it there) and has
no includeSubDomains: other hosts of the domain are not this server's to decide.
"""
from __future__ import annotations

from aiohttp import web, web_response

SERVER = "halmstad"
HSTS = "max-age=31536000"

# The HTTP layer's own answers (400 for an unparsable request) are made before any application
# hook runs; they take aiohttp's module default.
web_response.SERVER_SOFTWARE = SERVER


def install(app: web.Application, public_url: str | None) -> None:
    """Give every response of `app` and its sub-applications the neutral Server header, and HSTS
    when `public_url` is https."""
    https = (public_url or "").lower().startswith("https://")

    async def on_prepare(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Server"] = SERVER
        if https:
            response.headers["Strict-Transport-Security"] = HSTS

    app.on_response_prepare.append(on_prepare)
