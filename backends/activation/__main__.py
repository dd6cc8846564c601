"""Run the activation backend alone: `python -m backends.activation --port P --data-dir D`.

For operators who run the backend as its own service, and for trying it without the bot. The
bearer token comes from HALMSTAD_BACKEND_TOKEN (required, so the API is never left open).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from aiohttp import web

from backends.mail import DEFAULT_FROM, Mailer

from .app import ActivationConfig, QuerylessAccessLogger, add_account, create_app, load_texts

DEFAULT_KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backends.activation",
                                     description="Run the reference activation backend alone.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--data-dir", type=Path, default=Path("./var"))
    parser.add_argument("--knowledge-dir", type=Path, default=DEFAULT_KNOWLEDGE)
    parser.add_argument("--public-url", default=None,
                        help="base URL of these pages in e-mail links (default http://HOST:PORT)")
    parser.add_argument("--smtp-host", default=os.environ.get("HALMSTAD_SMTP_HOST"))
    parser.add_argument("--smtp-port", type=int, default=int(os.environ.get("HALMSTAD_SMTP_PORT", "25")))
    parser.add_argument("--mail-from", default=os.environ.get("HALMSTAD_MAIL_FROM", DEFAULT_FROM))
    parser.add_argument("--add-account", action="append", default=[], metavar="EMAIL",
                        help="register this address before starting (repeatable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse options, build the app and serve it until interrupted."""
    args = build_parser().parse_args(argv)
    token = os.environ.get("HALMSTAD_BACKEND_TOKEN", "")
    if not token:
        print("HALMSTAD_BACKEND_TOKEN must be set (the bearer token the bot sends).", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        texts = load_texts(args.knowledge_dir)
        for address in args.add_account:
            add_account(args.data_dir, address)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.smtp_host:
        mailer = Mailer.smtp(args.smtp_host, args.smtp_port, sender=args.mail_from)
    else:
        mailer = Mailer.maildir(args.data_dir / "outbox", sender=args.mail_from)
    public_url = args.public_url or f"http://{args.host}:{args.port}"
    config = ActivationConfig(data_dir=args.data_dir, token=token, public_url=public_url,
                              mailer=mailer, texts=texts)
    app = create_app(config)
    print(f"Activation backend on http://{args.host}:{args.port}/ (mail: {mailer.description})",
          flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None,
                access_log_class=QuerylessAccessLogger)
    return 0


if __name__ == "__main__":
    sys.exit(main())
