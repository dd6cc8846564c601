"""Run one reference backend as its own process, hardened as `serve` is.

`python -m backends.activation` and `python -m backends.dsr` share this runner: the same options
(`--host --port --data-dir --knowledge-dir --public-url --trusted-proxy`), the bearer token from
HALMSTAD_BACKEND_TOKEN (required, so the machine API is never left open and the token never shows
in `ps`), a private data directory (umask 077: folders 0700, files 0600), `Server: halmstad`
without versions on every answer (HSTS when the public URL is https), and client addresses read
from X-Forwarded-For only when the direct peer is a trusted proxy. Each backend adds its own
options and builds its app; a problem with the options or the texts is one line on stderr and
exit status 2.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from common.hardening import install_server_headers, secure_data_dir
from common.netaddr import TRUSTED_PROXIES_ENV, ClientAddresses, parse_trusted_proxies

TOKEN_ENV = "HALMSTAD_BACKEND_TOKEN"
DEFAULT_KNOWLEDGE = Path(__file__).resolve().parents[1] / "knowledge"


def build_parser(prog: str, description: str, port: int) -> argparse.ArgumentParser:
    """Return a parser with the options every backend run alone takes."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--data-dir", type=Path, default=Path("./var"))
    parser.add_argument("--knowledge-dir", type=Path, default=DEFAULT_KNOWLEDGE)
    parser.add_argument("--public-url", default=None,
                        help="the address people open these pages at (default http://HOST:PORT); "
                             "https turns on HSTS and Secure cookies")
    parser.add_argument("--trusted-proxy", metavar="CIDR[,CIDR…]",
                        default=os.environ.get(TRUSTED_PROXIES_ENV),
                        help="reverse proxies whose X-Forwarded-For names the client (default: none)")
    return parser


@dataclass
class Setting:
    """What a backend gets to build its app with, once the common checks have passed."""

    args: argparse.Namespace
    token: str
    clients: ClientAddresses

    @property
    def public_url(self) -> str:
        return self.args.public_url or f"http://{self.args.host}:{self.args.port}"

    @property
    def https(self) -> bool:
        return self.public_url.lower().startswith("https://")


Builder = Callable[[Setting], tuple[web.Application, str]]  # the app, and the line to print


def run(args: argparse.Namespace, build: Builder,
        access_log_class: type[AbstractAccessLogger] | None = None) -> int:
    """Check the token and options, make the data directory private, build the app with `build`
    and serve it until SIGINT or SIGTERM. Returns the exit status (2: not started)."""
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        print(f"error: set {TOKEN_ENV} to the bearer token the bot sends", file=sys.stderr)
        return 2
    try:
        trusted = parse_trusted_proxies(args.trusted_proxy)
    except ValueError as exc:
        print(f"error: --trusted-proxy: {exc}", file=sys.stderr)
        return 2
    # The key that hides client addresses follows the token (as in `serve`), so per-client limits
    # survive a restart.
    secret = hmac.new(token.encode("utf-8", "surrogateescape"), b"client-address", hashlib.sha256)
    setting = Setting(args, token, ClientAddresses(trusted, secret=secret.digest()))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        secure_data_dir(args.data_dir)
        app, banner = build(setting)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    install_server_headers(app, setting.public_url)
    print(banner, flush=True)
    if access_log_class is None:
        web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
    else:
        web.run_app(app, host=args.host, port=args.port, print=None,
                    access_log_class=access_log_class)
    return 0
