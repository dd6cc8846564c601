"""The activation backend's per-client limit follows the chat's real client address (issue 13,
item 2): a new conversation per request no longer resets it, and another client is unaffected.

A real `serve` app on loopback: the chat API → the activation flow → the bot's HTTP client → the
mounted backend. The loopback client plays a trusted reverse proxy so a test can name a second
client address in X-Forwarded-For.
"""
from __future__ import annotations

from tests.test_activation_e2e import activate_by_chat, config_for, said, serve  # noqa: F401 - fixture

LIMITED = "flera aktiveringsmejl"  # activation.rate_limited (sv)


async def test_new_conversations_from_one_address_share_the_per_client_limit(tmp_path, serve):
    served = await serve(config_for(tmp_path, trusted_proxies="127.0.0.1/32"))
    # 30 activation requests an hour per client (ActivationConfig.per_client_limit), each from a
    # fresh conversation, each for another address, all from one client.
    for i in range(30):
        reply = await activate_by_chat(served, f"fresh-{i}", f"someone{i}@example.org")
        assert LIMITED not in said(reply), i
    reply = await activate_by_chat(served, "fresh-30", "someone30@example.org")
    assert LIMITED in said(reply)

    # Another client (named by the trusted proxy) is not held back by the first one's requests.
    other = {"X-Forwarded-For": "198.51.100.7"}
    for text in ("jag vill aktivera appen", "another@example.org"):
        async with served.http.post(f"{served.base}/api/chat", headers=other,
                                    json={"session": "elsewhere", "text": text}) as resp:
            assert resp.status == 200
    async with served.http.post(f"{served.base}/api/chat", headers=other,
                                json={"session": "elsewhere", "button": "ans:send"}) as resp:
        assert LIMITED not in said(await resp.json())
