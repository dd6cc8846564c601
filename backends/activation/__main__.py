"""Run the activation backend alone: `python -m backends.activation --port P --data-dir D`.

For operators who run the backend as its own service, and for trying it without the bot. The
common options and the hardening (token from HALMSTAD_BACKEND_TOKEN, private data directory,
neutral Server header, trusted proxies) come from `backends/standalone.py`.
"""
from __future__ import annotations

import argparse
import os
import sys

from aiohttp import web

from backends.mail import DEFAULT_FROM, Mailer
from backends.standalone import Setting, build_parser, run

from .app import ActivationConfig, QuerylessAccessLogger, add_account, create_app, load_texts


def parser() -> argparse.ArgumentParser:
    """Return the command line: the common options, mail delivery and demo accounts."""
    parser = build_parser("python -m backends.activation",
                          "Run the reference activation backend alone.", 8081)
    parser.add_argument("--smtp-host", default=os.environ.get("HALMSTAD_SMTP_HOST"))
    parser.add_argument("--smtp-port", type=int, default=int(os.environ.get("HALMSTAD_SMTP_PORT", "25")))
    parser.add_argument("--mail-from", default=os.environ.get("HALMSTAD_MAIL_FROM", DEFAULT_FROM))
    parser.add_argument("--add-account", action="append", default=[], metavar="EMAIL",
                        help="register this address before starting (repeatable)")
    return parser


def build(setting: Setting) -> tuple[web.Application, str]:
    """Register the accounts asked for and build the app with its mailer."""
    args = setting.args
    texts = load_texts(args.knowledge_dir)
    for address in args.add_account:
        add_account(args.data_dir, address)
    if args.smtp_host:
        mailer = Mailer.smtp(args.smtp_host, args.smtp_port, sender=args.mail_from)
    else:
        mailer = Mailer.maildir(args.data_dir / "outbox", sender=args.mail_from)
    config = ActivationConfig(data_dir=args.data_dir, token=setting.token,
                              public_url=setting.public_url, mailer=mailer, texts=texts,
                              clients=setting.clients)
    banner = f"Activation backend on http://{args.host}:{args.port}/ (mail: {mailer.description})"
    return create_app(config), banner


def main(argv: list[str] | None = None) -> int:
    """Parse options, build the app and serve it until interrupted."""
    return run(parser().parse_args(argv), build, access_log_class=QuerylessAccessLogger)


if __name__ == "__main__":
    sys.exit(main())
