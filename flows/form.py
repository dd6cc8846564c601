"""A form: steps that collect fields, with one summary, "change field X" and a confirmation.

A `Form` is declared as its questions (`Ask`: the step, a reader that validates the answer, the
`ctx.data` keys it fills, when it is needed), an optional `Summary` and `ChangeMenu`s, and its
exits (route keys out of the form, e.g. the summary's "confirm"). It builds ordinary `Step`s and
`Field`s, so the engine runs it like any other step; each step goes on to the first question
still needed, then to the summary (or the exit "done" when there is none). "Change" at the summary
opens a menu of fields (or, in a form of one field, asks it again); choosing a field forgets its
keys, so the same path asks it again. A route may lead into the form (`to(FORM, label)`): it
starts at the first question still needed. The diagram draws the form as one node.

A reader returns the values to store (a dict; the question's keys are forgotten first), an exit
key, `Stay()` after saying what is wrong, or `NotAnAnswer()`/None when the input is no answer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable, Mapping, Sequence

from flows.machine import (
    Action, Answer, Choice, Field, FlowContext, FlowDefinitionError, Goto, Group, NotAnAnswer, Outcome,
    Route, Stay, Step, Transition,
)

Values = dict
Reader = Callable[[FlowContext, Answer], Awaitable[Values | str | Stay | NotAnAnswer | None]]
Condition = Callable[[dict], bool]
DONE = "done"  # the exit a form without a summary takes when nothing more is needed


@dataclass(frozen=True)
class Ask:
    """One question of a form: its step, how its answer is read and which data keys it fills."""

    step: str  # the step id ("data_rights:name")
    read: Reader
    keys: tuple[str, ...]  # ctx.data keys it fills; forgotten before a new answer is stored
    prompt: str
    field: str | None = None  # the field it asks (several questions may ask one field)
    label: str | None = None  # text key naming the field in a change menu
    label_words: str | None = None  # text key of words that choose it there
    words: str | None = None  # text key of words naming it in a correction ("fel adress")
    needed: Condition | None = None  # default: none of `keys` is in ctx.data yet
    choices: tuple[Choice, ...] = ()
    help: str | None = None
    expects: str | None = None
    free_text: bool = False
    enter: Action | None = None  # runs when the question is entered (e.g. a hint for the prompt)

    def is_needed(self, data: dict) -> bool:
        return self.needed(data) if self.needed is not None else not any(k in data for k in self.keys)


@dataclass(frozen=True)
class Summary:
    """The form's confirmation: every choice but "change" is an exit of the form."""

    step: str
    prompt: str
    choices: tuple[Choice, ...]
    help: str | None = None
    enter: Action | None = None  # puts what the prompt shows into ctx.data
    typed: str | None = None  # the question whose reader takes text typed here (a new address)


@dataclass(frozen=True)
class ChangeMenu:
    """"What would you like to change?": one choice a field; the first menu whose `when` holds."""

    step: str
    prompt: str
    fields: tuple[str, ...]
    help: str | None = None
    when: Condition | None = None


class Form(Group):
    """A checked group of questions, summary and change menus, built into steps."""

    def __init__(self, name: str, asks: Sequence[Ask], exits: Mapping[str, Route], *,
                 summary: Summary | None = None, menus: Sequence[ChangeMenu] = ()) -> None:
        self.name = name
        self.asks = tuple(asks)
        self.exits = dict(exits)
        self.summary = summary
        self.menus = tuple(menus)
        self._by_step = {ask.step: ask for ask in self.asks}
        self._check()
        self.steps = tuple(self._build())
        self.fields = tuple(self._fields())

    # Definition ----------------------------------------------------------------------------------

    def _check(self) -> None:
        problems = []
        if self.summary is None:
            if DONE not in self.exits:
                problems.append(f"a form without a summary needs the exit {DONE!r}")
            if self.menus:
                problems.append("change menus need a summary")
        else:
            values = {c.value for c in self.summary.choices}
            problems += [f"summary choice {v!r} is no exit" for v in sorted(values - {"change"} - set(self.exits))]
            names = {ask.field or ask.step for ask in self.asks}
            if "change" in values and not self.menus and len(names) != 1:
                problems.append("'change' without a menu needs a form of one field")
            if self.summary.typed is not None and self.summary.typed not in self._by_step:
                problems.append(f"typed text at the summary goes to unknown question {self.summary.typed!r}")
        labelled = {ask.field for ask in self.asks if ask.label}
        problems += [f"menu {menu.step!r} offers {name!r}, which no question labels"
                     for menu in self.menus for name in menu.fields if name not in labelled]
        if problems:
            raise FlowDefinitionError(f"form {self.name!r}: " + "; ".join(problems))

    def _routes(self) -> dict[str, Route]:
        inside = [ask.step for ask in self.asks] + [m.step for m in self.menus]
        if self.summary is not None:
            inside.append(self.summary.step)
        return {step: Route(step, step.split(":", 1)[1]) for step in inside} | self.exits

    def _build(self) -> list[Step]:
        routes = self._routes()
        steps = [Step(ask.step, self._asker(ask), routes, prompt=ask.prompt, choices=ask.choices,
                      free_text=ask.free_text, on_enter=ask.enter, help=ask.help, expects=ask.expects,
                      field=ask.field) for ask in self.asks]
        if self.summary is not None:
            s = self.summary
            steps.append(Step(s.step, self._confirm, routes, prompt=s.prompt, choices=s.choices,
                              on_enter=s.enter, help=s.help,
                              confirms="change" in {c.value for c in s.choices}))
        for menu in self.menus:
            choices = [self._change_choice(name) for name in menu.fields]
            steps.append(Step(menu.step, self._changer(menu), routes, prompt=menu.prompt, choices=choices,
                              help=menu.help))
        return steps

    def _change_choice(self, name: str) -> Choice:
        """Return the choice naming field `name` in a change menu (from its labelled question)."""
        ask = next(ask for ask in self.asks if ask.field == name and ask.label)
        return Choice(name, ask.label, ask.label_words)

    def _fields(self) -> list[Field]:
        out: dict[str, Field] = {}
        for ask in self.asks:
            if ask.field and ask.words and ask.field not in out:
                out[ask.field] = Field(ask.field, ask.step, ask.words, self.keys_of(ask.field))
        return list(out.values())

    def keys_of(self, name: str) -> tuple[str, ...]:
        """Return every data key the questions of field `name` fill (forgotten when it changes)."""
        return tuple(dict.fromkeys(k for ask in self.asks if ask.field == name for k in ask.keys))

    def describe(self) -> tuple[str, ...]:
        def short(steps) -> str:
            return ", ".join(step.split(":", 1)[1] for step in steps)

        lines = ["form", "asks " + short(ask.step for ask in self.asks)]
        if self.summary is not None:
            lines.append("summary " + short([self.summary.step]))
        if self.menus:
            lines.append("change menus " + short(m.step for m in self.menus))
        return tuple(lines)

    # Running -------------------------------------------------------------------------------------

    def next_key(self, data: dict) -> str:
        """Return the first question still needed, else the summary (or the exit "done")."""
        for ask in self.asks:
            if ask.is_needed(data):
                return ask.step
        return self.summary.step if self.summary is not None else DONE

    def enter(self, data: dict) -> Transition:
        key = self.next_key(data)
        return self.exits[key].transition(data) if key in self.exits else Goto(key)

    def fill(self, data: dict, step: str, values: Values) -> None:
        """Store a question's values, forgetting what it held before."""
        for key in self._by_step[step].keys:
            data.pop(key, None)
        data.update(values)

    async def take(self, ctx: FlowContext, step: str, answer: Answer, *, then: str | None = None) -> Outcome:
        """Read `answer` as the answer to question `step`. Stored values lead to `then` (a route key
        of a step outside the form that routes into it) or else to the next question."""
        outcome = await self._by_step[step].read(ctx, answer)
        if isinstance(outcome, dict):
            self.fill(ctx.data, step, outcome)
            return then or self.next_key(ctx.data)
        return outcome

    def _asker(self, ask: Ask):
        async def handle(ctx: FlowContext, answer: Answer) -> Outcome:
            return await self.take(ctx, ask.step, answer)
        return handle

    async def _confirm(self, ctx: FlowContext, answer: Answer) -> Outcome:
        if answer.choice == "change":
            menu = next((m for m in self.menus if m.when is None or m.when(ctx.data)), None)
            return menu.step if menu is not None else self.asks[0].step
        if answer.choice is not None:
            return answer.choice if answer.choice in self.exits else None
        if self.summary.typed is not None:
            return await self.take(ctx, self.summary.typed, answer)
        return None

    def _changer(self, menu: ChangeMenu):
        async def change(ctx: FlowContext, answer: Answer) -> Outcome:
            if answer.choice not in menu.fields:
                return None
            for key in self.keys_of(answer.choice):
                ctx.data.pop(key, None)
            return self.next_key(ctx.data)
        return change
