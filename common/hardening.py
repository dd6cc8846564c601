"""What every server process of ours does before it serves: a private data directory and a
neutral `Server` header.

**The data directory.** File names under DATA_DIR are session ids, the only secret that protects a
transcript; the outbox holds activation links; the backends keep password hashes. So a server sets
the process umask to 077 before it writes anything (every folder and file made afterwards is the
owner's alone, whichever part makes it), and tightens the folders an older version left 0755.

**The headers.** aiohttp names itself and Python with their versions in `Server` on every answer,
which tells an attacker which published flaws to try. Every response answers `Server: halmstad`
instead: the prepare hook covers what the applications (and their sub-applications) answer, and
aiohttp's module default covers the answers the HTTP layer writes itself (a request it could not
parse). When the public address is https, `Strict-Transport-Security` (one year) tells browsers
never to use plain http for this host again; it is not sent for http (browsers ignore it there)
and has no includeSubDomains: other hosts of the domain are not this server's to decide.

Used by `serve` and by the reference backends run alone (`python -m backends.activation|dsr`).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from aiohttp import web, web_response

PRIVATE_UMASK = 0o077
SERVER = "halmstad"
HSTS = "max-age=31536000"


def secure_data_dir(data_dir: Path, depth: int = 2) -> None:
    """Make `data_dir` (created if missing) and the folders up to `depth` levels below it 0700,
    and have every folder and file this process makes from now on private."""
    os.umask(PRIVATE_UMASK)
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    level = [data_dir]
    for _ in range(depth + 1):
        below = []
        for folder in level:
            _private(folder, 0o700)
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    below.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False) and folder == data_dir:
                    _private(Path(entry.path), 0o600)  # the top-level databases and logins
        level = below


def _private(path: Path, mode: int) -> None:
    try:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, mode)
    except OSError:
        pass


def install_server_headers(app: web.Application, public_url: str | None) -> None:
    """Give every response of `app` and its sub-applications the neutral Server header, and HSTS
    when `public_url` is https; the HTTP layer's own answers (400 for an unparsable request),
    made before any application hook runs, take aiohttp's module default."""
    web_response.SERVER_SOFTWARE = SERVER
    https = (public_url or "").lower().startswith("https://")

    async def on_prepare(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Server"] = SERVER
        if https:
            response.headers["Strict-Transport-Security"] = HSTS

    app.on_response_prepare.append(on_prepare)
