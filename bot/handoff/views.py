"""What the agent console shows of a queue item: the summary, the chat card, the whole view.

A summary is what the agent API has always answered for an item (id, kind, status, times, the
agent) with the words an agent reads added (bot/handoff/words.py): the guardian's given name,
what it is about, the outcome. A card adds the chat's last line and the agent's unread count;
the whole view adds the context, the transcript, the internal notes and the satisfaction answer.
Every time is sent as ISO with its offset (Stockholm) and the console shows it in Stockholm time.
"""
from __future__ import annotations

from datetime import datetime

from bot.channels.web import format_entry
from bot.handoff.queue import CALLBACK_RESULTS, HANDED_BACK, OUTCOMES
from bot.handoff.words import Words, epoch_ms, given_name, last_line
from bot.state import ConversationState
from common import privacy

# Every word `outcome_of` says (the history's outcome filter; each is the text handoff.console.result_<key>).
OUTCOME_KEYS = (OUTCOMES + (HANDED_BACK, "left_queue", "waiting", "assigned", "message_open", "message_done",
                            "message_callback", "callback_open") + tuple(f"call_{r}" for r in CALLBACK_RESULTS))
MESSAGE_FIELDS = ("name", "contact", "contact_kind", "text", "done_by", "done_at", "answered")
CALLBACK_FIELDS = ("name", "contact", "contact_kind", "note", "source", "created_by", "done_by", "done_at",
                   "result", "result_note")


def reference(item: dict) -> str:
    """The number a guardian is given or an agent reads out: the id in capitals (M-…, C-…, R-…)."""
    return item["id"].upper()


def outcome_of(item: dict) -> str:
    """One word for where an item ended (or stands), for the history's filter and labels."""
    kind, status = item["kind"], item["status"]
    if kind == "conversation":
        if status == "abandoned":
            return "left_queue"
        return (item.get("outcome") or status) if status == "closed" else status
    if kind == "message":
        if status == "open":
            return "message_open"
        return "message_callback" if item.get("answered") == "callback" else "message_done"
    return "callback_open" if status == "open" else f"call_{item.get('result') or 'other'}"


def _minutes_since(now: datetime, iso: str | None) -> int:
    if not iso:
        return 0
    return max(0, int((now - datetime.fromisoformat(iso)).total_seconds() // 60))


class Views:
    """Builds the console's views of items from the queue, the engine and the knowledge."""

    def __init__(self, service, engine, clock) -> None:
        self.service = service
        self.engine = engine
        self.clock = clock

    @property
    def words(self) -> Words:
        return Words(self.engine)  # the knowledge in force now (live reload swaps it)

    def name_of(self, item: dict) -> str | None:
        """The guardian's given name: from the item, else from a message left in the same chat."""
        if item.get("name"):
            return given_name(item["name"])
        for other in self.service.queue.items.values():
            if other["session"] == item["session"] and other.get("name"):
                return given_name(other["name"])
        return None

    def about(self, item: dict, lang: str) -> str | None:
        """What the item is about, in words; a callback says what its conversation or message was about."""
        source = self.service.queue.items.get(item.get("source") or "") if item["kind"] == "callback" else None
        return self.words.about(source or item, lang)

    def summary(self, item: dict, username: str, lang: str = "sv") -> dict:
        """The item as the agent API lists it."""
        queue = self.service.queue
        out = {
            "id": item["id"], "reference": reference(item), "kind": item["kind"], "status": item["status"],
            "created_at": item["created_at"], "lang": item.get("lang"), "channel": item.get("channel"),
            "reason": item.get("reason"), "topic": item.get("topic"), "given_name": self.name_of(item),
            "about": self.about(item, lang), "outcome": item.get("outcome"), "outcome_key": outcome_of(item),
            "note_count": len(item.get("notes") or ()),
        }
        if item["kind"] == "conversation":
            queued = item.get("queued_at") or item["created_at"]
            out.update(position=queue.position(item["id"]), agent=item.get("agent"),
                       agent_name=item.get("agent_name"), accepted_at=item.get("accepted_at"),
                       closed_at=item.get("closed_at"), guardian_left=bool(item.get("guardian_left")),
                       mine=item.get("agent") == username, csat=item.get("csat"),
                       waited_minutes=_minutes_since(self.clock(), queued), queued_ms=epoch_ms(queued))
        else:
            out.update(name=item.get("name"), contact_kind=item.get("contact_kind"), done_at=item.get("done_at"))
        return out

    async def _transcript(self, session: str) -> list[dict]:
        # Masked again as shown: what was stored before masking knew a written form stays hidden too.
        return [{**e, "text": privacy.mask(e["text"]).text} if e["from"] == "user" else e
                for e in map(format_entry, await self.engine.transcript(session))]

    async def card(self, item: dict, username: str, lang: str) -> dict:
        """A chat card: the summary with the last line and, for the agent's own chats, the unread count."""
        out = self.summary(item, username, lang)
        if item["kind"] == "conversation":
            entries = await self._transcript(item["session"])
            out["about"] = out["about"] or self.words.asked_about(entries, lang)
            out["last"] = last_line(entries)
            out["unread"] = self.service.unread(username, item["id"], entries) if out["mine"] else 0
        return out

    def _context(self, item: dict, state: ConversationState, lang: str) -> dict:
        words = self.words
        entry = words.entry(item.get("topic") or state.topic)
        return {
            "topic": entry.id if entry else None, "topic_group": entry.topic if entry else None,
            "topic_title": words.entry_title(entry, lang) if entry else None,
            "topic_group_words": words.group(entry.topic if entry else None, lang),
            "flow": item.get("flow"), "step": item.get("step"),
            "where": words.where(item.get("flow"), item.get("step"), lang),
            "current_flow": state.flow, "current_step": state.step,
            "current_where": words.where(state.flow, state.step, lang),
            "language": state.lang, "channel": state.channel, "reason": item.get("reason"),
        }

    async def detail(self, item: dict, username: str, lang: str) -> dict:
        """The whole item: context, transcript, notes, the message or call, the satisfaction answer."""
        stored = await self.engine.peek(item["session"])
        state = stored or ConversationState(lang=item.get("lang") or "sv", channel=item.get("channel") or "web")
        out = self.summary(item, username, lang)
        out["context"] = self._context(item, state, lang)
        out["transcript"] = await self._transcript(item["session"])
        if item["kind"] == "conversation":
            out["about"] = out["about"] or self.words.asked_about(out["transcript"], lang)
        out["notes"] = list(item.get("notes") or ())
        out["references"] = list(item.get("references") or ())
        if item["kind"] == "message":
            out["message"] = {k: item.get(k) for k in MESSAGE_FIELDS}
            out["message"]["text"] = privacy.mask(item.get("text") or "").text
        elif item["kind"] == "callback":
            out["callback"] = {k: item.get(k) for k in CALLBACK_FIELDS}
            source = self.service.queue.items.get(item.get("source") or "")
            out["callback"]["source_reference"] = reference(source) if source else None
        if item["kind"] == "conversation" and out.get("mine"):
            self.service.mark_seen(username, item["id"], out["transcript"])
        return out
