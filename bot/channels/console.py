"""A conversation in the terminal: type, read the replies, choose buttons by number."""
from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.engine import Engine, UnknownButton
from common.messages import Inbound, Reply


def render(replies: list[Reply], out: TextIO) -> list[str]:
    """Print replies with their buttons numbered; return the payloads in that numbering."""
    payloads: list[str] = []
    for reply in replies:
        if reply.text:
            out.write(f"bot> {reply.text}\n")
        for button in reply.buttons:
            payloads.append(button.payload)
            out.write(f"   [{len(payloads)}] {button.label}\n")
    out.flush()
    return payloads


async def run_console(engine: Engine, *, session: str = "console", inp: TextIO = sys.stdin,
                      out: TextIO = sys.stdout) -> None:
    """Talk to the engine until end of input or "quit"/"exit"."""
    loop = asyncio.get_running_loop()
    out.write(engine.t("core.menu", "sv") + "\n(" + engine.t("core.menu", "en") + ")\n")
    out.write("Ctrl-D / exit\n")
    out.flush()
    payloads: list[str] = []
    while True:
        out.write("du> ")
        out.flush()
        line = await loop.run_in_executor(None, inp.readline)
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        if line in ("exit", "quit", ":q"):
            break
        if line.isdigit() and 1 <= int(line) <= len(payloads):
            inbound = Inbound(session=session, button=payloads[int(line) - 1], channel="console")
        else:
            inbound = Inbound(session=session, text=line[:2000], channel="console")
        try:
            replies = await engine.handle(inbound)
        except UnknownButton:
            out.write("(?)\n")
            continue
        payloads = render(replies, out) or payloads
