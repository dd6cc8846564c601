"""The flows the assistant runs, by name."""
from __future__ import annotations

from flows.machine import Flow


def all_flows() -> dict[str, Flow]:
    """Return every flow by name (built fresh, so tests may replace one)."""
    from flows import account, contact_hours, handoff

    flows = [account.FLOW, contact_hours.FLOW, handoff.FLOW]
    for optional in ("activation", "data_rights"):
        try:
            module = __import__(f"flows.{optional}", fromlist=["FLOW"])
        except ImportError:
            continue
        flows.append(module.FLOW)
    return {flow.name: flow for flow in flows}


def required_text_keys(flows: dict[str, Flow]) -> set[str]:
    """Return every text key the flows and the engine need, for the knowledge check."""
    from flows.answers import TEXT_KEYS

    keys = set(TEXT_KEYS)
    for flow in flows.values():
        keys |= flow.text_keys()
    return keys
