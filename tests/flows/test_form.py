"""The form kind of step: questions in order, a summary, "change field X", exits, one diagram node."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from flows.form import Ask, ChangeMenu, Form, Summary
from flows.machine import (Answer, Choice, Escalate, Finish, Flow, FlowContext, FlowDefinitionError, Goto,
                           NotAnAnswer, Stay, Step, end, person, to)
from flows.ports import Services


def context(data: dict) -> FlowContext:
    return FlowContext(session="s", channel="web", lang="sv", data=data,
                       now=datetime(2026, 11, 24, tzinfo=timezone.utc), texts=lambda key, lang, **fmt: key,
                       services=Services(), knowledge=None)


async def read_name(ctx, answer: Answer):
    text = (answer.text or "").strip()
    if not text:
        return None
    if any(ch.isdigit() for ch in text):
        ctx.say("x.bad_name")
        return Stay()
    return {"name": text}


async def read_kind(ctx, answer: Answer):
    if answer.choice == "help":
        return "help"  # an exit of the form
    return {"kind": answer.choice} if answer.choice in ("a", "b") else None


async def read_detail(ctx, answer: Answer):
    return {"detail": answer.text} if answer.text else None


def make_flow() -> tuple[Flow, Form]:
    form = Form("order", [
        Ask("x:name", read_name, ("name",), "x.ask_name", field="name", label="x.field_name",
            words="x.name_words", expects="name"),
        Ask("x:kind", read_kind, ("kind",), "x.ask_kind", field="kind", label="x.field_kind",
            choices=(Choice("a", "x.a"), Choice("b", "x.b"), Choice("help", "x.help"))),
        # Only kind "b" needs a detail.
        Ask("x:detail", read_detail, ("detail",), "x.ask_detail", field="detail", label="x.field_detail",
            words="x.detail_words", expects="text",
            needed=lambda d: d.get("kind") == "b" and "detail" not in d),
    ], exits={"confirm": to("x:send", "confirmed"), "cancel": end("cancelled"), "help": person("asked", "help")},
        summary=Summary("x:summary", "x.summary", (Choice("confirm", "x.confirm"), Choice("change", "x.change"),
                                                   Choice("cancel", "x.cancel"))),
        menus=(ChangeMenu("x:change_b", "x.ask_change", ("name", "kind", "detail"), when=lambda d: d["kind"] == "b"),
               ChangeMenu("x:change", "x.ask_change", ("name", "kind"))))

    async def start(ctx):
        return "go"

    async def send(ctx):
        ctx.say("x.sent")
        return "sent"

    flow = Flow("x", "x.title", "x:start", [
        Step("x:start", routes={"go": to(form, "start")}, on_enter=start),
        form,
        Step("x:send", routes={"sent": end("sent", menu=True)}, on_enter=send),
    ])
    return flow, form


async def answer(flow: Flow, data: dict, step: str, **given) -> object:
    return await flow.by_id[step].on_answer(context(data), Answer(**given))


async def test_a_form_asks_what_is_still_needed_then_the_summary():
    flow, form = make_flow()
    data: dict = {}
    assert await flow.by_id["x:start"].on_enter(context(data)) == Goto("x:name")
    assert await answer(flow, data, "x:name", text="Anna") == Goto("x:kind")
    assert await answer(flow, data, "x:kind", choice="a") == Goto("x:summary")  # no detail for "a"
    assert data == {"name": "Anna", "kind": "a"}
    assert await answer(flow, data, "x:summary", choice="confirm") == Goto("x:send")
    assert await flow.by_id["x:send"].on_enter(context(data)) == Finish(menu=True)


async def test_change_forgets_one_field_and_asks_it_again():
    flow, _ = make_flow()
    data = {"name": "Anna", "kind": "b", "detail": "blue"}
    assert await answer(flow, data, "x:summary", choice="change") == Goto("x:change_b")
    assert [c.value for c in flow.by_id["x:change_b"].choices] == ["name", "kind", "detail"]
    assert await answer(flow, data, "x:change_b", choice="kind") == Goto("x:kind")
    assert data == {"name": "Anna", "detail": "blue"}
    assert await answer(flow, data, "x:kind", choice="a") == Goto("x:summary")
    assert await answer(flow, data, "x:summary", choice="change") == Goto("x:change")  # no detail now


async def test_a_bad_answer_stays_and_no_answer_is_no_answer():
    flow, _ = make_flow()
    data: dict = {}
    ctx = context(data)
    assert await flow.by_id["x:name"].on_answer(ctx, Answer(text="R2D2")) == Stay()
    assert [r.text for r in ctx.out] == ["x.bad_name"] and data == {}
    assert await answer(flow, data, "x:name", text="") == NotAnAnswer()
    assert await answer(flow, data, "x:summary", text="hello") == NotAnAnswer()


async def test_exits_leave_the_form_by_the_table():
    flow, _ = make_flow()
    assert await answer(flow, {"name": "Anna"}, "x:kind", choice="help") == Escalate("asked")
    assert await answer(flow, {"name": "Anna", "kind": "a"}, "x:summary", choice="cancel") == Finish()


def test_a_form_gives_its_fields_and_corrections_to_the_flow():
    flow, _ = make_flow()
    assert [(f.name, f.step, f.keys) for f in flow.fields] == [("name", "x:name", ("name",)),
                                                                ("detail", "x:detail", ("detail",))]
    assert flow.corrects["x:summary"] == ("name", "detail")
    assert flow.corrects["x:name"] == ("detail",)  # never its own field
    assert flow.by_id["x:summary"].confirms


def test_a_form_is_one_node_of_the_diagram():
    flow, _ = make_flow()
    text = flow.mermaid()
    assert "    order: asks name, kind, detail\n" in text
    assert "    start --> order: start\n" in text and "    order --> send: confirmed\n" in text
    assert "    order --> handoff_to_person: help\n" in text and "    order --> [*]: cancelled\n" in text
    assert "summary -->" not in text and "kind -->" not in text


async def test_a_form_without_a_summary_takes_its_done_exit():
    async def read(ctx, answer):
        return {"v": answer.text} if answer.text else None

    form = Form("f", [Ask("y:v", read, ("v",), "y.ask")], exits={"done": end("given")})
    flow = Flow("y", "y.t", "y:v", [form])
    assert await flow.by_id["y:v"].on_answer(context({}), Answer(text="1")) == Finish()


def test_inconsistent_forms_are_refused():
    async def read(ctx, answer):
        return None

    with pytest.raises(FlowDefinitionError, match="needs the exit 'done'"):
        Form("f", [Ask("y:v", read, ("v",), "y.ask")], exits={})
    with pytest.raises(FlowDefinitionError, match="summary choice 'ok' is no exit"):
        Form("f", [Ask("y:v", read, ("v",), "y.ask")], exits={},
             summary=Summary("y:s", "y.s", (Choice("ok", "y.ok"),)))
    with pytest.raises(FlowDefinitionError, match="needs a form of one field"):
        Form("f", [Ask("y:v", read, ("v",), "y.ask"), Ask("y:w", read, ("w",), "y.ask")], exits={"ok": end("ok")},
             summary=Summary("y:s", "y.s", (Choice("ok", "y.ok"), Choice("change", "y.c"))))
    with pytest.raises(FlowDefinitionError, match="which no question labels"):
        Form("f", [Ask("y:v", read, ("v",), "y.ask", field="v")], exits={"ok": end("ok")},
             summary=Summary("y:s", "y.s", (Choice("ok", "y.ok"), Choice("change", "y.c"))),
             menus=(ChangeMenu("y:m", "y.m", ("v",)),))
