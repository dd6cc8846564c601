"""Scenes for the staff knowledge page (/staff/) in a browser: a `serve` app on a temporary copy of
knowledge/ with an editor and a publisher login, logging in through the page's form, and a
guardian on the chat API of the same process. Used by tests/browser/test_staff_page*.py."""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import aiohttp

from bot.staff_page.accounts import add_login

ROOT = Path(__file__).resolve().parents[2]
PASSWORDS = {"editor": "demo-editor-password", "publisher": "demo-publisher-password"}
HOLDOUT = Path("tests") / "holdout.yaml"


def knowledge_copy(tmp_path: Path) -> Path:
    """A private copy of knowledge/ (the page publishes into it; the held-out set is not needed)."""
    target = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", target, ignore=shutil.ignore_patterns("holdout.yaml"))
    return target


async def staff_server(make_server, tmp_path: Path, prepare=None, **overrides):
    """The whole app on a knowledge copy (first changed by `prepare(folder)` if given), with the
    logins `editor` and `publisher`."""
    data_dir = tmp_path / "staff-srv"
    for role, password in PASSWORDS.items():
        add_login(data_dir, role, password, role=role)
    folder = knowledge_copy(tmp_path)
    if prepare is not None:
        prepare(folder)
    return await make_server(data_dir=data_dir, knowledge_dir=folder, **overrides)


def make_overdue(folder: Path, entry_id: str = "greeting", review_by: str = "2026-01-31") -> None:
    """Give one entry of the copy a review date in the past (the server's clock is 2026-12-01)."""
    for path in (folder / "faq").glob("*.yaml"):
        text = path.read_text("utf-8")
        start = text.find(f"- id: {entry_id}\n")
        if start < 0:
            continue
        at = text.index("review_by: ", start)
        end = text.index("\n", at)
        path.write_text(text[:at] + f"review_by: {review_by}" + text[end:], "utf-8")
        return
    raise AssertionError(f"no entry {entry_id!r} in the copy")


async def log_in(page, base: str, username: str, *, lang: str = "sv") -> None:
    """Log in with the page's plain form and wait for the list of entries."""
    await page.goto(f"{base}/staff/?lang={lang}")
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(PASSWORDS[username])
    await page.locator("#password").press("Enter")
    await page.locator("#entries-body tr").first.wait_for()
    if lang != "sv" and "lang=" not in page.url:
        await page.goto(f"{base}/staff/?lang={lang}#/entries")
        await page.locator("#entries-body tr").first.wait_for()


async def log_out(page) -> None:
    await page.locator("#logout").click()
    await page.locator("#login-form").wait_for()


async def open_view(page, hash_: str, ready: str) -> None:
    """Go to a view of the page (`#/hours`) and wait for `ready` (a selector) to show."""
    await page.evaluate("(h) => { location.hash = h; }", hash_)
    await page.locator(ready).first.wait_for()


async def fill(scope, values: dict[str, str]) -> None:
    """Fill the fields labelled with the keys of `values` inside `scope` (a page or a locator)."""
    for label, value in values.items():
        await scope.get_by_label(label).fill(value)


async def status_says(page, words: str, timeout: float = 60_000) -> None:
    """Wait until the live status region says `words` (a check or a publish takes seconds on a
    loaded machine)."""
    try:
        await page.wait_for_function("(w) => document.getElementById('status').textContent.includes(w)",
                                     arg=words, timeout=timeout)
    except Exception as exc:
        said = await page.locator("#status").text_content()
        draft = await page.locator("#draft-bar").text_content()
        raise AssertionError(f"the status never said {words!r}; it says {said!r}; draft bar: {draft!r}") from exc


class Guardian:
    """A guardian on the chat API of the same process (what the web widget sends)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession()

    async def ask(self, session: str, text: str) -> str:
        async with self.http.post(f"{self.base}/api/chat", json={"session": session, "text": text}) as resp:
            assert resp.status == 200, await resp.text()
            return "\n".join(m["text"] for m in (await resp.json())["messages"])

    async def answered(self, text: str, words: str, within: float) -> str:
        """Ask until the reply holds `words` (a new session each time); fail after `within` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        attempt = 0
        while True:
            attempt += 1
            reply = await self.ask(f"guardian-{attempt}", text)
            if words in reply:
                return reply
            if loop.time() > deadline:
                raise AssertionError(f"no answer with {words!r} within {within} s; last: {reply!r}")
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        await self.http.close()
