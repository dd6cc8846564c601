"""Scenes for the agent console in a browser: agents logged in, guardians in the queue, an agent
holding three chats. Used by tests/browser/test_agent_console_workplace.py and by the screenshot
script tests/browser/console_screenshot.py (docs/screenshots/)."""
from __future__ import annotations

import asyncio

import aiohttp

from bot.handoff.agents import add_agent

PASSWORD = "demo-agent-password"
AGENTS = (("agent", "Alex Andersson"), ("agent2", "Bo Berg"))

# Three guardians an agent holds at once: each line is what the guardian types, in order.
THREE_CHATS = {
    "anna-dsr": ("jag vill begära registerutdrag", "för mig själv", "Anna Andersson", "prata med en person"),
    "app-link": ("jag vill aktivera appen", "anna.berg@example.com", "ja", "prata med en person"),
    "child-missing": ("Jag ser inte mitt barn i Skola24", "prata med en person"),
}


def add_agents(data_dir) -> None:
    for username, display in AGENTS:
        add_agent(data_dir, username, PASSWORD, display_name=display)


class Guardians:
    """Guardians on the chat API (what the web widget sends)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession()

    async def say(self, session: str, text: str | None = None, button: str | None = None) -> dict:
        body = {"session": session, **({"text": text} if text is not None else {"button": button})}
        async with self.http.post(f"{self.base}/api/chat", json=body) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def messages(self, session: str) -> list[dict]:
        async with self.http.get(f"{self.base}/api/chat/{session}/messages") as resp:
            return (await resp.json())["messages"]

    async def told(self, session: str, words: str, timeout: float = 10.0) -> dict:
        """Wait until the guardian has been told `words`; return that message."""
        for _ in range(int(timeout / 0.05)):
            for message in await self.messages(session):
                if words in message["text"]:
                    return message
            await asyncio.sleep(0.05)
        raise AssertionError(f"the guardian was never told {words!r}")

    async def close(self) -> None:
        await self.http.close()


async def log_in(page, base: str, username: str = "agent", *, lang: str = "sv") -> None:
    """Log in on the console's login page and wait for the console."""
    await page.goto(f"{base}/agent/login?lang={lang}")
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("#password").press("Enter")
    await page.wait_for_url(f"{base}/agent/?lang={lang}")


async def go_available(page) -> None:
    """Turn on "Tillgänglig för chattar" and wait for the live queue (the WebSocket)."""
    await page.wait_for_function("() => document.getElementById('who').textContent.length > 0")
    async with page.expect_response(lambda r: r.url.endswith("/agent/api/availability")):
        await page.locator("#available").check()
    await page.wait_for_function("() => document.getElementById('available').checked"
                                 " && document.getElementById('live').textContent === window.AgentPage.T.live")


async def accept(page, base: str, item_id: str) -> None:
    """Accept a waiting conversation with the page's login (the console's own API call)."""
    response = await page.request.post(f"{base}/agent/api/conversations/{item_id}/accept", data={})
    assert response.status == 200, await response.text()


async def hold_three_chats(page, base: str, guardians: Guardians, service) -> dict[str, str]:
    """Queue the three guardians and let the page's agent accept them; return session → item id."""
    held = {}
    for session, lines in THREE_CHATS.items():
        for line in lines:
            await guardians.say(session, line)
        item = service.queue.open_for_session(session)
        await accept(page, base, item["id"])
        held[session] = item["id"]
    await page.locator("#mine-list li[data-id]").nth(2).wait_for()
    return held


async def chat_with_one(page, base: str, guardians: Guardians, service, session: str) -> str:
    """A guardian asks for a person, the page's agent accepts and opens the chat; return its id."""
    await guardians.say(session, "jag vill prata med en människa")
    item = service.queue.open_for_session(session)
    await accept(page, base, item["id"])
    await page.locator(f'#mine-list li[data-id="{item["id"]}"] .row button').first.click()  # "Visa" / "Show"
    await page.locator("#reply").wait_for()
    return item["id"]
