"""Run the data-rights backend alone: `python -m backends.dsr --port P --data-dir D`.

The common options and the hardening (token from HALMSTAD_BACKEND_TOKEN, private data directory,
neutral Server header, trusted proxies) come from `backends/standalone.py`. No access log: the
staff pages' paths name cases.
"""
from __future__ import annotations

import argparse
import sys

from aiohttp import web

from backends.standalone import Setting, build_parser, run

from .app import DsrConfig, create_app, load_texts


def parser() -> argparse.ArgumentParser:
    """Return the command line: the common options and the cookie flag."""
    parser = build_parser("python -m backends.dsr",
                          "Run the reference data-rights backend alone.", 8082)
    parser.add_argument("--secure-cookies", action="store_true",
                        help="mark the staff session cookie Secure (implied by an https --public-url)")
    return parser


def build(setting: Setting) -> tuple[web.Application, str]:
    """Build the app from the knowledge texts."""
    args = setting.args
    config = DsrConfig(data_dir=args.data_dir, token=setting.token,
                       texts=load_texts(args.knowledge_dir), clients=setting.clients,
                       secure_cookies=args.secure_cookies or setting.https)
    return create_app(config), f"DSR backend: http://{args.host}:{args.port}/ (staff view at /cases)"


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve the backend until interrupted."""
    return run(parser().parse_args(argv), build)


if __name__ == "__main__":
    sys.exit(main())
