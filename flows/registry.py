"""The flows the assistant runs, by name, and the text keys they need."""
from __future__ import annotations

from flows import account, activation, contact_hours, data_rights, handoff
from flows.answers import TEXT_KEYS
from flows.machine import Flow


def all_flows() -> dict[str, Flow]:
    """Return every flow by name (a new dict each call, so a test may replace one)."""
    flows = (account.FLOW, activation.FLOW, contact_hours.FLOW, data_rights.FLOW, handoff.FLOW)
    return {flow.name: flow for flow in flows}


def required_text_keys(flows: dict[str, Flow]) -> set[str]:
    """Return every text key the flows and the answer reader need, for the knowledge check."""
    keys = set(TEXT_KEYS)
    for flow in flows.values():
        keys |= flow.text_keys()
    return keys
