"""The typed conversation state: JSON round trip at version 2, the transitions, and the migration
of version-1 files written by 535dbd2 (tests/fixtures/datadir_535dbd2)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.state import VERSION, ConversationState, FlowPosition, HandoffChange, HandoffStatus
from common.messages import Button

SESSIONS = Path(__file__).parent / "fixtures" / "datadir_535dbd2" / "data" / "sessions"


def v1(session: str) -> dict:
    """The stored version-1 state of a fixture conversation."""
    [path] = SESSIONS.glob(f"*/{session}.json")
    [state] = json.loads(path.read_text(encoding="utf-8"))["state"].values()
    assert state["v"] == 1
    state.pop("doc_id", None)
    return state


def test_every_version_1_file_reads_and_round_trips_at_version_2():
    files = sorted(SESSIONS.glob("*/*.json"))
    assert len(files) >= 10
    for path in files:
        [raw] = json.loads(path.read_text(encoding="utf-8"))["state"].values()
        state = ConversationState.from_json(raw)
        stored = state.to_json()
        assert stored["v"] == VERSION == 2
        assert ConversationState.from_json(json.loads(json.dumps(stored))) == state, path.name
        assert state.lang == raw["lang"] and state.created_at == raw["created_at"]


def test_a_version_1_flow_position_and_its_form_data_are_kept():
    raw = v1("fx-account-sv")
    state = ConversationState.from_json(raw)
    assert (state.flow, state.step) == (raw["flow"], raw["step"]) == ("account", "account:protected")
    assert state.data == raw["data"] and state.data["purpose"] in ("new", "link")


def test_a_version_1_paused_flow_can_be_resumed():
    state = ConversationState.from_json(v1("fx-paused-en"))
    assert state.flow is None and state.paused is not None and state.paused.flow == "account"
    paused = state.paused
    assert state.resume() is paused
    assert (state.flow, state.step, state.paused, state.detours) == ("account", paused.step, None, 0)


def test_version_1_offered_buttons_handoff_and_telegram_chat_id_are_migrated():
    raw = {"v": 1, "lang": "en", "channel": "telegram", "flow": None, "step": None, "data": {},
           "offered": ["handoff:csat:5"], "offered_buttons": [{"label": "5", "payload": "handoff:csat:5"}],
           "handoff": {"active": False, "csat_for": "h-1"}, "telegram": {"chat_id": 4711},
           "created_at": "2026-12-01T10:00:00+01:00", "updated_at": "2026-12-01T10:05:00+01:00"}
    state = ConversationState.from_json(raw)
    assert state.offered == [Button("5", "handoff:csat:5")]
    assert state.handoff == HandoffStatus(csat_for="h-1")
    assert state.reply_to == {"telegram_chat_id": 4711}
    only_payloads = ConversationState.from_json({**raw, "offered_buttons": None})
    assert only_payloads.offered_payloads() == ["handoff:csat:5"]


@pytest.mark.parametrize("broken", [
    {"v": 2, "lang": "de", "detours": "many", "misses": -3, "position": {"flow": 7}, "offered": "x",
     "handoff": [], "reply_to": None, "paused": {"flow": "account"}},
    {"v": 1, "flow": "account", "step": None, "data": [1, 2], "telegram": {"chat_id": "7"}},
    {},
])
def test_a_stored_value_of_the_wrong_type_gets_its_default_never_an_error(broken):
    state = ConversationState.from_json(broken)
    assert state.lang == "sv" and state.detours == 0 and state.misses == 0
    assert state.position is None and state.paused is None and state.offered == []
    assert state.handoff is None and state.reply_to == {}


def test_transitions_change_only_what_they_name():
    now = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    state = ConversationState.new(channel="web", lang_hint="en", now=now)
    assert state.lang == "en" and state.data == {}
    state.enter_flow("data_rights", "data_rights:start", {"args": {}})
    state.detours = 2
    state.move_to("data_rights:summary")
    state.pause()
    assert state.flow is None and state.paused == FlowPosition("data_rights", "data_rights:summary", {"args": {}})
    state.enter_flow("account", "account:purpose")
    state.leave_flow()
    assert state.flow is None and state.paused is not None, "leaving a flow keeps the one set aside"
    state.apply(HandoffChange(HandoffStatus(item="h-2", active=True, agent="Alex"), outcome="handoff:connected",
                              leave_flow=True, offer=(Button("Meny", "cmd:menu"),)))
    assert state.handoff.active and state.last_outcome == "handoff:connected"
    assert state.offered_payloads() == ["cmd:menu"] and state.label_of("cmd:menu") == "Meny"
    with pytest.raises(RuntimeError):
        state.move_to("account:age")
