"""Run `serve`'s application with one part swapped, to show what that part costs (bench only).

    python bench/serve_variant.py --variant memory|nofsync|serve [--uvloop] [serve options...]

- `memory`: the in-memory session store instead of the file store (nothing survives a restart);
- `nofsync`: the file store, but its journal skips fdatasync (a crash of the machine could lose
  turns; a killed process still could not: the record is in the page cache once written);
- `serve`: the product unchanged (to compare `--uvloop` alone).

Never used by the product; `halmstad-bot serve` has none of these switches.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=("memory", "nofsync", "serve"), required=True)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop's event loop")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--now")
    parser.add_argument("--rate-limit-per-address", type=int, default=0)
    parser.add_argument("--rate-limit-per-session", type=int, default=0)
    parser.add_argument("--dsr-url")
    parser.add_argument("--activation-url")
    parser.add_argument("--trusted-proxy")
    parser.add_argument("--knowledge-dir", type=Path)
    args = parser.parse_args()

    import logging

    logging.basicConfig(level=os.environ.get("HALMSTAD_LOG_LEVEL", "WARNING"))
    from aiohttp import web

    from bot.accesslog import PrivateAccessLogger
    from bot.app import RUNTIME_KEY, ServeConfig, build_app

    if args.variant == "nofsync":
        import functools

        from bot.store import tinydb_store
        from common.journal import Journal

        tinydb_store.Journal = functools.partial(Journal, fsync=False)

    config = ServeConfig(port=args.port, data_dir=args.data_dir, now=args.now,
                         rate_limit_per_address=args.rate_limit_per_address,
                         rate_limit_per_session=args.rate_limit_per_session,
                         dsr_url=args.dsr_url, activation_url=args.activation_url,
                         trusted_proxies=args.trusted_proxy,
                         **({"knowledge_dir": args.knowledge_dir} if args.knowledge_dir else {}))
    app = build_app(config)
    if args.variant == "memory":
        from bot.store.memory import MemoryStore

        runtime = app[RUNTIME_KEY]
        runtime.engine.store = MemoryStore()
    loop = None
    if args.uvloop:
        import asyncio

        import uvloop

        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, shutdown_timeout=10,
                access_log_class=PrivateAccessLogger, loop=loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
