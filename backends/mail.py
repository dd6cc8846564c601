"""Deliver the e-mails the backends send: into a Maildir outbox or over SMTP.

One small port with two adapters, so the activation backend (and anything else that mails a
guardian) never knows where a message goes. Without an SMTP server the operator still sees every
message in `DATA_DIR/outbox/` (Python's `mailbox.Maildir` format).
"""
from __future__ import annotations

import argparse
import asyncio
import email.utils
import mailbox
import os
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

DEFAULT_FROM = "Halmstads kommun <no-reply@halmstad.se>"

Transport = Callable[[EmailMessage], Awaitable[None]]


class Mailer:
    """Stamp outgoing messages (From, Date, Message-ID) and hand them to a transport."""

    def __init__(self, transport: Transport, *, from_address: str = DEFAULT_FROM,
                 description: str = "custom") -> None:
        self._transport = transport
        self.from_address = from_address
        self.description = description

    @classmethod
    def maildir(cls, path: str | Path, sender: str = DEFAULT_FROM) -> "Mailer":
        """Return a mailer that files each message into the Maildir at `path` (created if missing).

        The blocking file work runs in a thread so a slow disk never stalls the event loop.
        """
        directory = Path(path)
        # Make the whole Maildir (tmp/, new/, cur/) now, so a reader never meets half of one; an
        # outbox restored without its empty folders (git, some backups) is completed too.
        for sub in ("tmp", "new", "cur"):
            (directory / sub).mkdir(parents=True, exist_ok=True)

        def deliver(msg: EmailMessage) -> None:
            box = mailbox.Maildir(str(directory), create=True)
            try:
                box.add(msg)
            finally:
                box.close()

        async def transport(msg: EmailMessage) -> None:
            await asyncio.to_thread(deliver, msg)

        return cls(transport, from_address=sender, description=f"maildir:{directory}")

    @classmethod
    def smtp(cls, host: str, port: int, sender: str = DEFAULT_FROM, *,
             username: str | None = None, password: str | None = None,
             use_tls: bool = False, start_tls: bool | None = None,
             timeout: float = 30.0) -> "Mailer":
        """Return a mailer that sends each message over SMTP with aiosmtplib.

        `start_tls=None` upgrades when the server offers STARTTLS, as aiosmtplib does by default.
        """

        async def transport(msg: EmailMessage) -> None:
            await aiosmtplib.send(
                msg, hostname=host, port=port, username=username, password=password,
                use_tls=use_tls, start_tls=start_tls, timeout=timeout,
            )

        return cls(transport, from_address=sender, description=f"smtp:{host}:{port}")

    async def send(self, msg: EmailMessage) -> None:
        """Fill in the headers every message needs, then deliver it through the transport."""
        if "From" not in msg:
            msg["From"] = self.from_address
        if "Date" not in msg:
            msg["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
        if "Message-ID" not in msg:
            _, from_addr = email.utils.parseaddr(str(msg["From"]))
            domain = from_addr.rpartition("@")[2] or "localhost"
            msg["Message-ID"] = email.utils.make_msgid(domain=domain)
        await self._transport(msg)


def add_mail_options(parser: argparse.ArgumentParser) -> None:
    """Add the options a backend run alone takes to deliver mail (defaults from the environment:
    HALMSTAD_SMTP_HOST, HALMSTAD_SMTP_PORT, HALMSTAD_MAIL_FROM)."""
    parser.add_argument("--smtp-host", default=os.environ.get("HALMSTAD_SMTP_HOST"),
                        help="send e-mail over SMTP (default: into the Maildir DATA_DIR/outbox/)")
    parser.add_argument("--smtp-port", type=int, default=int(os.environ.get("HALMSTAD_SMTP_PORT", "25")))
    parser.add_argument("--mail-from", default=os.environ.get("HALMSTAD_MAIL_FROM", DEFAULT_FROM))


def mailer_from(args: argparse.Namespace, outbox: Path) -> Mailer:
    """Return the mailer `add_mail_options` asked for: SMTP, or the Maildir at `outbox`."""
    if args.smtp_host:
        return Mailer.smtp(args.smtp_host, args.smtp_port, sender=args.mail_from)
    return Mailer.maildir(outbox, sender=args.mail_from)
