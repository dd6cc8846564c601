"""Run the data-rights backend alone: `python -m backends.dsr --port P --data-dir D`.

The bearer token comes from HALMSTAD_BACKEND_TOKEN (required), so it never shows in `ps`.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from aiohttp import web

from .app import DsrConfig, create_app, load_texts

DEFAULT_KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve the backend until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m backends.dsr",
                                     description="Run the reference data-rights backend alone.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--data-dir", type=Path, default=Path("./var"))
    parser.add_argument("--knowledge-dir", type=Path, default=DEFAULT_KNOWLEDGE)
    parser.add_argument("--secure-cookies", action="store_true",
                        help="mark the staff session cookie Secure (use behind https)")
    args = parser.parse_args(argv)
    token = os.environ.get("HALMSTAD_BACKEND_TOKEN", "")
    if not token:
        print("error: set HALMSTAD_BACKEND_TOKEN to the token the bot uses", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        texts = load_texts(args.knowledge_dir)
    except (OSError, ValueError) as exc:
        print(f"error: cannot load texts: {exc}", file=sys.stderr)
        return 2
    config = DsrConfig(data_dir=args.data_dir, token=token, texts=texts,
                       secure_cookies=args.secure_cookies)
    app = create_app(config)
    print(f"DSR backend: http://{args.host}:{args.port}/ (staff view at /cases)", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
