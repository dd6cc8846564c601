"""Words, not ids, for the agent console (issue 15, item 7).

The queue stores ids (`activation:after_sent`, the FAQ entry `app-activate`, `web`); an agent
reads "Aktivera appen – länken skickad". Every word comes from the knowledge: a step's words
are the text `handoff.step.<flow>.<step>` (the flow's title when a step has none), a topic is
the first phrasing of its FAQ entry, and a left message's topic is what the guardian wrote about
(the entry the understanding finds for the message, else its opening words).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from common import privacy

STEP_PREFIX = "handoff.step."
LAST_LINE_CHARS = 120
MESSAGE_TOPIC_CHARS = 60


def given_name(full: Any) -> str | None:
    """Return the first word of a name the guardian gave ("Anna Andersson" → "Anna")."""
    if not isinstance(full, str) or not full.split():
        return None
    return full.split()[0][:40]


def name_in(flow, data: dict) -> str | None:
    """Return the guardian's own name from a flow's data, when one of its forms asked it (the
    field called "name"), else None."""
    for group in getattr(flow, "groups", ()):
        for field in getattr(group, "fields", ()):
            if field.name == "name" and field.keys and isinstance(data.get(field.keys[0]), str):
                return data[field.keys[0]]
    return None


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _short(text: str, limit: int) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[:limit - 1].rstrip() + "…"


class Words:
    """Turns the queue's ids into the words an agent reads, in the console's language."""

    def __init__(self, engine) -> None:
        self.engine = engine

    def _text(self, key: str, lang: str) -> str | None:
        texts = self.engine.knowledge.texts
        return self.engine.t(key, lang) if key in texts and lang in texts[key] else None

    def where(self, flow: str | None, step: str | None, lang: str) -> str | None:
        """Say where in a guided conversation the guardian was ("Aktivera appen – länken skickad")."""
        if not flow:
            return None
        if step:
            words = self._text(STEP_PREFIX + step.replace(":", "."), lang)
            if words:
                return words
        found = self.engine.flows.get(flow)
        return self._text(found.title, lang) if found is not None else None

    def entry(self, entry_id: str | None):
        """Return the FAQ entry that is a topic (not "I want a person"), or None."""
        entry = self.engine.knowledge.entries.get(entry_id or "")
        if entry is None or entry.flow == "handoff" or entry.out_of_scope:
            return None
        return entry

    def entry_title(self, entry, lang: str) -> str:
        return _capital((entry.phrasings.get(lang) or entry.phrasings["sv"])[0])

    def topic(self, topic_id: str | None, lang: str) -> str | None:
        """Return the words of a FAQ entry the conversation was about."""
        entry = self.entry(topic_id)
        return self.entry_title(entry, lang) if entry is not None else None

    def group(self, group: str | None, lang: str) -> str | None:
        """Return the words of a topic group ("app" → "Mobilappen")."""
        return self._text(f"handoff.console.topic_{group}", lang) if group else None

    def message_topic(self, text: str, lang: str) -> str:
        """Say what a left message is about: the entry the understanding finds, else its opening."""
        masked = privacy.mask(text or "").text
        first = masked.split("\n\n")[0]
        match = self.engine.understanding.match(first)
        if match.outcome == "answer" and match.best is not None:
            entry = self.entry(match.best.entry_id)
            if entry is not None:
                return self.entry_title(entry, lang)
        return _short(first, MESSAGE_TOPIC_CHARS)

    def asked_entry(self, entries: list[dict]):
        """Return the FAQ entry of the guardian's latest typed line that the understanding answers
        with a topic (for a chat that began with "I want a person"), or None."""
        for entry in reversed(entries):
            if entry.get("from") != "user" or not entry.get("text") or entry.get("button"):
                continue
            match = self.engine.understanding.match(privacy.mask(entry["text"]).text)
            found = self.entry(match.best.entry_id) if match.outcome == "answer" and match.best else None
            if found is not None and found.topic != "smalltalk":
                return found
        return None

    def asked_about(self, entries: list[dict], lang: str) -> str | None:
        """The words of `asked_entry`."""
        found = self.asked_entry(entries)
        return self.entry_title(found, lang) if found is not None else None

    def about(self, item: dict, lang: str) -> str | None:
        """The one line an agent reads for what an item is about."""
        if item["kind"] == "message":
            return self.message_topic(item.get("text") or "", lang)
        return self.where(item.get("flow"), item.get("step"), lang) or self.topic(item.get("topic"), lang)


def last_line(entries: list[dict]) -> dict | None:
    """Return the conversation's last line for a chat card: who, the start of the text, when.
    The last line the guardian or an agent wrote, else the bot's (not the system's notices)."""
    written = [e for e in entries if e.get("text") and e.get("from") in ("user", "agent")]
    for entry in reversed(written or [e for e in entries if e.get("from") == "bot"]):
        if entry.get("text"):
            text = entry["text"] if entry["from"] != "user" else privacy.mask(entry["text"]).text
            return {"from": entry["from"], "text": _short(text, LAST_LINE_CHARS), "at": entry.get("at"),
                    "seq": entry.get("seq")}
    return None


def epoch_ms(iso: str | None) -> int | None:
    """Return an ISO time as milliseconds since 1970 (what the console's clock counts in)."""
    return int(datetime.fromisoformat(iso).timestamp() * 1000) if iso else None
