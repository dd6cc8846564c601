"""An `Expect:` header handler for every route (`expect_handler=safe_expect`).

aiohttp's default answers `Expect: 100-continue` and refuses any other value with 417, but it puts
the header into the 417 text, and encoding that text fails on the undecodable bytes a client may
send: a 500. This one answers the same, with a fixed text. It runs before any middleware could
catch the error, so each route names it (aiohttp has no public way to set it for all routes).
"""
from __future__ import annotations

from aiohttp import web
from aiohttp.http import HttpVersion11


async def safe_expect(request: web.Request) -> None:
    expect = request.headers.get("Expect", "")
    if request.version != HttpVersion11:
        return
    if expect.lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
        return
    raise web.HTTPExpectationFailed(text="Unknown Expect header")
