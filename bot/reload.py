"""Live reload for `serve`: staff edits to the knowledge files are served within seconds.

A background task looks at the knowledge folder's YAML files (name, size, modification time)
twice a second. When something changed and has stopped changing, the whole folder is checked
exactly as `halmstad-bot knowledge check` does (including phrasing collisions), off the event
loop. A valid edit is swapped into the `KnowledgeHolder` (the same swap as its `reload()`); the
engine reads the holder on every turn, so the next message gets the new answers. An invalid edit is refused: its errors
are logged (they are staff's own file content, not personal data) and kept in
`holder.last_error` for /healthz, and the last valid knowledge keeps serving.

Polling needs no extra dependency and works on every file system (also network shares and
editors that replace files instead of writing them).
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from bot.holder import load_checked
from bot.knowledge import KnowledgeError
from bot.knowledge_messages import catalog

log = logging.getLogger("halmstad.reload")

POLL_SECONDS = 0.5
SETTLE_SECONDS = 0.2  # an editor or `cp -r` may write several files; wait until they are all there
MAX_SETTLE_ROUNDS = 10

Snapshot = dict[str, tuple[int, int]]


def snapshot(root: Path) -> Snapshot:
    """Return each YAML file under `root` with its size and modification time."""
    found: Snapshot = {}
    root = Path(root)
    if not root.is_dir():
        return found
    for path in root.rglob("*.yaml"):
        try:
            stat = path.stat()
        except OSError:
            continue  # removed while we looked
        if path.is_file():
            found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return found


def prepare(root: Path, flows):
    """Load and check `root` exactly as `knowledge check` does, and build its understanding.

    Returns (knowledge, understanding, errors); knowledge and understanding are None when there
    are errors. Blocking: run it in a thread. The folder is read once, and the understanding the
    collision check builds is the one that then serves (its word cache already warm).
    """
    try:
        knowledge, understanding = load_checked(root, flows)
    except KnowledgeError as exc:
        return None, None, list(exc.problems)
    return knowledge, understanding, []


class Reloader:
    """Watches one holder's knowledge folder and reloads it when the files change."""

    def __init__(self, holder, *, interval: float = POLL_SECONDS, settle: float = SETTLE_SECONDS) -> None:
        self.holder = holder
        self.root = Path(holder.root)
        self.interval = interval
        self.settle = settle
        self.reloads = 0
        self.refusals = 0

    async def run(self, initial: Snapshot | None = None) -> None:
        """Poll forever (until cancelled); a failure in one round never stops the watching.

        `initial` is the folder as it was when the server started, taken before it listens, so an
        edit made right after start is never mistaken for the starting state.
        """
        last = initial if initial is not None else await asyncio.to_thread(snapshot, self.root)
        while True:
            await asyncio.sleep(self.interval)
            try:
                current = await asyncio.to_thread(snapshot, self.root)
                if current == last:
                    continue
                current = await self._settled(current)
                last = current
                await self.reload_now()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("knowledge watch round failed")

    async def _settled(self, current: Snapshot) -> Snapshot:
        for _ in range(MAX_SETTLE_ROUNDS):
            await asyncio.sleep(self.settle)
            again = await asyncio.to_thread(snapshot, self.root)
            if again == current:
                break
            current = again
        return current

    async def start(self) -> None:
        """Watch the folder from its state now until cancelled (the app's background task)."""
        initial = await asyncio.to_thread(snapshot, self.root)
        log.info("watching the knowledge files for changes every %.1f s", self.interval)
        await self.run(initial)

    async def reload_now(self) -> bool:
        """Check the folder and swap the knowledge in when it is valid; return whether it was."""
        knowledge, understanding, errors = await asyncio.to_thread(prepare, self.root, self.holder.flows)
        if errors:
            self.refusals += 1
            self.holder.last_error = "\n".join(str(p) for p in errors)
            log.warning("knowledge reload refused errors=%d; still serving version=%s",
                        len(errors), self.holder.version)
            for problem in errors:
                log.warning("knowledge error: %s", problem)
                log.warning("kunskapsfel: %s", catalog(self.root).problem(problem, "sv"))
            return False
        install(self.holder, knowledge, understanding)
        self.reloads += 1
        return True


def install(holder, knowledge, understanding) -> None:
    """Swap a checked knowledge and its understanding into the holder, on the event loop, so no
    turn sees one without the other.

    This is what `KnowledgeHolder.reload()` does after its own load; doing it here saves loading
    the folder a second time (the check above already did, with the collision check on top).
    """
    holder.install(knowledge, understanding)


RELOADER_KEY = web.AppKey("knowledge_reloader", Reloader)
