"""The flow machine refuses inconsistent tables, resolves route keys and keeps the diagrams honest."""
import ast
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from flows.diagrams import DOCS, render_all
from flows.machine import (END, Answer, Choice, Escalate, Finish, Flow, FlowContext,
                           FlowDefinitionError, Goto, NotAnAnswer, Stay, Step, end, person, to)
from flows.ports import Services
from flows.registry import all_flows

FLOWS_DIR = Path(__file__).resolve().parent.parent / "flows"


async def _noop(ctx, answer):
    return NotAnAnswer()


def context(data: dict | None = None) -> FlowContext:
    return FlowContext(session="s", channel="web", lang="sv", data={} if data is None else data,
                       now=datetime(2026, 11, 24, tzinfo=timezone.utc), texts=lambda key, lang, **fmt: key,
                       services=Services(), knowledge=None)


# Definitions that are refused ----------------------------------------------------------------


def test_every_shipped_flow_is_valid_and_has_steps():
    flows = all_flows()
    assert set(flows) == {"account", "activation", "contact_hours", "data_rights", "handoff"}
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


def test_a_choice_without_a_route_is_refused_where_choices_route_directly():
    with pytest.raises(FlowDefinitionError, match="choice 'b' of step 'x:a' has no route"):
        Flow("x", "t", "x:a", [Step("x:a", routes={"a": end("a")}, prompt="p",
                                    choices=(Choice("a", "la"), Choice("b", "lb")))])


def test_a_question_nobody_can_answer_is_refused():
    with pytest.raises(FlowDefinitionError, match="neither a handler nor choices"):
        Flow("x", "t", "x:a", [Step("x:a", routes={"a": end("a")}, prompt="p")])


# Route keys at run time ----------------------------------------------------------------------


def _table() -> Flow:
    async def handle(ctx, answer):
        if answer.text == "again":
            return Stay()
        return answer.text or None

    return Flow("x", "t", "x:a", [
        Step("x:a", routes={"yes": to("x:b", "agreed"), "no": end("declined", menu=True)}, prompt="p",
             choices=(Choice("yes", "ly"), Choice("no", "ln")), saves="agreed"),
        Step("x:b", handle, {"done": end("done"), "person": person("why", "needs a person"),
                             "back": to("x:a", "back")}, prompt="q"),
    ])


async def test_a_choice_routes_directly_and_is_saved():
    flow = _table()
    ctx = context()
    assert await flow.by_id["x:a"].on_answer(ctx, Answer(choice="yes")) == Goto("x:b")
    assert ctx.data == {"agreed": "yes"}
    assert await flow.by_id["x:a"].on_answer(ctx, Answer(choice="no")) == Finish(menu=True)
    assert await flow.by_id["x:a"].on_answer(context(), Answer(text="kanske")) == NotAnAnswer()


async def test_a_handlers_key_becomes_the_routes_transition():
    step = _table().by_id["x:b"]
    assert await step.on_answer(context(), Answer(text="done")) == Finish(menu=False)
    assert await step.on_answer(context(), Answer(text="person")) == Escalate("why")
    assert await step.on_answer(context(), Answer(text="back")) == Goto("x:a")
    assert await step.on_answer(context(), Answer(text="again")) == Stay()
    assert await step.on_answer(context(), Answer()) == NotAnAnswer()
    with pytest.raises(FlowDefinitionError, match="no route for 'elsewhere'"):
        await step.on_answer(context(), Answer(text="elsewhere"))


async def test_an_entry_action_moves_on_by_key_or_waits():
    async def act(ctx):
        return ctx.data.get("go")

    flow = Flow("x", "t", "x:a", [Step("x:a", routes={"go": end("went")}, on_enter=act, prompt="p",
                                       choices=(Choice("go", "l"),))])
    step = flow.by_id["x:a"]
    assert await step.on_enter(context({"go": "go"})) == Finish()
    assert await step.on_enter(context()) is None
    assert Step("x:b", _noop, (END,)).on_enter is None


def test_undeclared_transition_is_refused_at_run_time():
    flow = Flow("x", "t", "x:a", [Step("x:a", _noop, ("x:b",)), Step("x:b", _noop, (END,))])
    with pytest.raises(FlowDefinitionError, match="does not declare"):
        flow.check_transition(flow.by_id["x:a"], Finish())
    flow.check_transition(flow.by_id["x:a"], Goto("x:b"))


# Corrections ----------------------------------------------------------------------------------


def test_a_step_may_correct_the_fields_asked_on_the_way_to_it():
    account = all_flows()["account"]
    assert account.corrects["account:purpose"] == ()
    assert account.corrects["account:age"] == ("purpose",)
    assert set(account.corrects["account:eleg"]) == {"purpose", "age", "protected"}
    account.check_transition(account.by_id["account:eleg"], Goto("account:purpose"))
    with pytest.raises(FlowDefinitionError):
        account.check_transition(account.by_id["account:age"], Goto("account:protected_identity"))


def test_corrections_stop_where_the_flow_acted_on_its_own():
    activation = all_flows()["activation"]
    assert activation.corrects["activation:confirm"] == ("address",)
    assert activation.corrects["activation:suggest"] == ()  # the address itself, still being asked
    for step in ("after_sent", "no_email_wait", "after_resend", "check_address"):
        assert activation.corrects[f"activation:{step}"] == (), step  # the link was sent since


# Diagrams -------------------------------------------------------------------------------------


def test_mermaid_lists_every_route_with_its_label():
    text = _table().mermaid()
    for line in ("[*] --> a", "a --> b: agreed", "a --> [*]: declined", "b --> [*]: done",
                 "b --> handoff_to_person: needs a person", "b --> a: back"):
        assert f"    {line}\n" in text, line
    legacy = Flow("x", "t", "x:a", [Step("x:a", _noop, ("x:b", END)), Step("x:b", _noop, (END,))]).mermaid()
    assert "a --> b\n" in legacy and "b --> [*]\n" in legacy


def test_every_shipped_route_has_a_label():
    for flow in all_flows().values():
        for step in flow.steps:
            for key, route in step.routes.items():
                assert route.label, f"{step.id} {key}"


def test_the_data_rights_diagram_fits_on_one_screen():
    text = all_flows()["data_rights"].mermaid()
    nodes = set(re.findall(r"^\s+(\S+) --> ", text, re.M)) | set(re.findall(r"--> ([^\s:]+)", text))
    assert len(nodes) <= 12, nodes
    assert "request: asks choose, erasure_limits" in text  # the form is one node listing its questions


def test_diagrams_in_docs_are_fresh():
    """Fails when a flow changed and `python -m flows.diagrams` was not run."""
    expected = render_all()
    for name, content in expected.items():
        path = DOCS / name
        assert path.exists(), f"docs/flows/{name} is missing: run python -m flows.diagrams"
        assert path.read_text(encoding="utf-8") == content, f"docs/flows/{name} is stale: run python -m flows.diagrams"
    stale = {p.name for p in DOCS.glob("*.mmd")} - set(expected)
    assert not stale, f"diagrams of flows that no longer exist: {stale}"


# What the flow modules may say and import ---------------------------------------------------------


@pytest.mark.parametrize("path", sorted(FLOWS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_flows_import_only_common_and_flows(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    ours = {"bot", "backends", "flows", "common", "tests"}
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        for name in names:
            top = name.split(".")[0]
            assert top not in {"bot", "backends", "aiohttp", "tests"}, f"{path.name} imports {name}"
            assert top not in ours or top in {"flows", "common"}


@pytest.mark.parametrize("name", ["account", "activation", "contact_hours", "data_rights", "handoff"])
def test_flow_handlers_return_route_keys_not_transitions(name):
    """A flow names its targets once, in its table: its code never builds a move itself."""
    source = (FLOWS_DIR / f"{name}.py").read_text(encoding="utf-8")
    assert not re.search(r"\b(Goto|Finish|Escalate)\(", source)
