"""The flow machine refuses inconsistent graphs and keeps the diagrams honest."""
import pytest

from flows.diagrams import DOCS, render_all
from flows.machine import (END, Choice, Finish, Flow, FlowDefinitionError, Goto, NotAnAnswer,
                           Step)
from flows.registry import all_flows


async def _noop(ctx, answer):
    return NotAnAnswer()


def test_every_shipped_flow_is_valid_and_has_steps():
    flows = all_flows()
    assert {"account", "contact_hours", "handoff"} <= set(flows)
    for flow in flows.values():
        assert flow.start in flow.by_id


def test_unknown_start_is_refused():
    with pytest.raises(FlowDefinitionError, match="start step"):
        Flow("x", "t", "x:missing", [Step("x:a", _noop, (END,))])


def test_unreachable_step_is_refused():
    with pytest.raises(FlowDefinitionError, match="cannot be reached"):
        Flow("x", "t", "x:a", [Step("x:a", _noop, (END,)), Step("x:b", _noop, (END,))])


def test_step_that_cannot_end_is_refused():
    with pytest.raises(FlowDefinitionError, match="never reach the end"):
        Flow("x", "t", "x:a", [Step("x:a", _noop, ("x:b", END)), Step("x:b", _noop, ("x:b",))])


def test_unknown_target_and_foreign_step_are_refused():
    with pytest.raises(FlowDefinitionError, match="unknown step"):
        Flow("x", "t", "x:a", [Step("x:a", _noop, ("x:zzz",))])
    with pytest.raises(FlowDefinitionError, match="does not belong"):
        Flow("x", "t", "y:a", [Step("y:a", _noop, (END,))])


def test_duplicate_choice_values_are_refused():
    with pytest.raises(FlowDefinitionError, match="two choices"):
        Flow("x", "t", "x:a", [Step("x:a", _noop, (END,), choices=(Choice("v", "a"), Choice("v", "b")))])


def test_undeclared_transition_is_refused_at_run_time():
    flow = Flow("x", "t", "x:a", [Step("x:a", _noop, ("x:b",)), Step("x:b", _noop, (END,))])
    with pytest.raises(FlowDefinitionError, match="does not declare"):
        flow.check_transition(flow.by_id["x:a"], Finish())
    flow.check_transition(flow.by_id["x:a"], Goto("x:b"))


def test_mermaid_lists_every_transition():
    flow = Flow("x", "t", "x:a", [Step("x:a", _noop, ("x:b", END)), Step("x:b", _noop, (END,))])
    text = flow.mermaid()
    assert "[*] --> a" in text and "a --> b" in text and "b --> [*]" in text and "a --> [*]" in text


def test_diagrams_in_docs_are_fresh():
    """Fails when a flow changed and `python -m flows.diagrams` was not run."""
    expected = render_all()
    for name, content in expected.items():
        path = DOCS / name
        assert path.exists(), f"docs/flows/{name} is missing: run python -m flows.diagrams"
        assert path.read_text(encoding="utf-8") == content, f"docs/flows/{name} is stale: run python -m flows.diagrams"
    stale = {p.name for p in DOCS.glob("*.mmd")} - set(expected)
    assert not stale, f"diagrams of flows that no longer exist: {stale}"
