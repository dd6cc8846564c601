"""Run the data-rights backend alone: `python -m backends.dsr --port P --data-dir D`.

The common options and the hardening (token from HALMSTAD_BACKEND_TOKEN, private data directory,
neutral Server header, trusted proxies) come from `backends/standalone.py`. No access log: the
staff pages' paths name cases. E-mail (the requester's receipt, the daily reminder to
`--reminder-to`) goes to the Maildir DATA_DIR/outbox/ unless `--smtp-host` is given.
"""
from __future__ import annotations

import argparse
import os
import sys

from aiohttp import web

from backends.mail import add_mail_options, mailer_from
from backends.standalone import Setting, build_parser, run

from .app import DsrConfig, create_app, load_texts
from .config import REMINDER_ENV


def parser() -> argparse.ArgumentParser:
    """Return the command line: the common options, the cookie flag, mail and the reminder."""
    parser = build_parser("python -m backends.dsr",
                          "Run the reference data-rights backend alone.", 8082)
    parser.add_argument("--secure-cookies", action="store_true",
                        help="mark the staff session cookie Secure (implied by an https --public-url)")
    add_mail_options(parser)
    parser.add_argument("--reminder-to", default=os.environ.get(REMINDER_ENV) or None,
                        metavar="ADDRESS", help="the data-protection officer's mailbox for the daily "
                        f"reminder of cases due within five days and overdue (default ${REMINDER_ENV})")
    parser.add_argument("--reminder-hour", type=int, default=7, choices=range(24), metavar="0-23",
                        help="the hour (Stockholm time) from which the daily reminder is sent")
    return parser


def build(setting: Setting) -> tuple[web.Application, str]:
    """Build the app from the knowledge texts."""
    args = setting.args
    mailer = mailer_from(args, args.data_dir / "outbox")
    config = DsrConfig(data_dir=args.data_dir, token=setting.token,
                       texts=load_texts(args.knowledge_dir), clients=setting.clients,
                       secure_cookies=args.secure_cookies or setting.https, mailer=mailer,
                       reminder_to=args.reminder_to, reminder_hour=args.reminder_hour,
                       public_url=setting.public_url)
    return create_app(config), (f"DSR backend: http://{args.host}:{args.port}/ (staff view at /cases;"
                                f" mail: {mailer.description})")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve the backend until interrupted."""
    return run(parser().parse_args(argv), build)


if __name__ == "__main__":
    sys.exit(main())
