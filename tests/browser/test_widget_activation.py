"""A whole activation conversation in the widget, by keyboard only: from the page's first Tab to
the activation e-mail in the outbox and the "done" answer."""
from __future__ import annotations

import mailbox
from pathlib import Path

import pytest

from tests.browser.test_widget import INPUT, LOG, choose, focused, last_bot_text, log_text, open_by_keyboard, say

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not (ROOT / "flows" / "activation.py").exists(),
                                 reason="the activation flow is not there yet")]


async def test_a_whole_activation_by_keyboard_only(server, page, shot):
    from backends.activation.app import add_account

    add_account(server.config.data_dir, "demo@example.com")
    knowledge = server.runtime.holder.knowledge
    t = lambda key, **fmt: knowledge.text(key, "sv", **fmt)

    await open_by_keyboard(page, server.base)
    # The welcome offers the menu; choosing from it starts the activation flow.
    await choose(page, t("widget.show_menu"), "Enter")
    await choose(page, t("menu.activation"), "Space")
    assert t("activation.ask_email") in await log_text(page)

    await say(page, "demo@example.com")
    assert "demo@example.com" in await last_bot_text(page)
    await choose(page, t("activation.choice_send"), "Enter")
    assert "demo@example.com" in await log_text(page)
    assert t("activation.ask_arrived").split("?")[0] in await log_text(page)

    # The activation backend mailed the link to the registered address.
    outbox = server.config.data_dir / "outbox"
    messages = list(mailbox.Maildir(outbox, create=False)) if outbox.exists() else []
    assert [m["To"] for m in messages] == ["demo@example.com"]

    await choose(page, t("activation.choice_done"), "Space")
    assert knowledge.fact("mobile_domain", "sv") in await log_text(page)
    assert (await focused(page))["id"] == INPUT.lstrip("#")
    await page.locator(f"{LOG}").evaluate("e => e.scrollTop = e.scrollHeight")
    await shot(page, "widget-activation-1280")
