"""HTTP clients of the backends the flows invoke; the bot reaches backends only over HTTP."""
from __future__ import annotations

import logging

log = logging.getLogger("halmstad.clients")


def wire(app, runtime, services, *, activation_url: str, dsr_url: str) -> None:
    """Give `services` its backend clients for `serve` (started and closed with the app)."""
    for name, url in (("activation", activation_url), ("dsr", dsr_url)):
        try:
            module = __import__(f"bot.clients.{name}", fromlist=["setup"])
        except ImportError as exc:
            if exc.name == f"bot.clients.{name}":
                continue
            raise
        module.setup(app, runtime, services, url)


def wire_standalone(services, *, activation_url: str, dsr_url: str, data_dir) -> list:
    """Give `services` its clients for the terminal chat; return async closers."""
    closers = []
    for name, url in (("activation", activation_url), ("dsr", dsr_url)):
        try:
            module = __import__(f"bot.clients.{name}", fromlist=["standalone"])
        except ImportError as exc:
            if exc.name == f"bot.clients.{name}":
                continue
            raise
        closers += module.standalone(services, url, data_dir)
    return closers
