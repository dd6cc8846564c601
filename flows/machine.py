"""Guided conversations as tables, checked when they are defined.

A `Flow` is a named set of `Step`s with one start. A step asks something (a text key from
knowledge/), may offer `Choice`s (buttons) and declares its routes once, in a table: an outcome
(a choice's value, or a word its handler returns such as "rate_limited") → a `Route` to the next
step, to the end or to a person, with a label. A step without a handler routes the chosen
choice's value directly; a handler returns an outcome, `Stay()` or `NotAnAnswer()` and never
names a step. The checks (one start, every step reachable, every step can reach the end), the
transitions at run time and the Mermaid diagrams (`docs/flows/*.mmd`, labelled edges, kept fresh
by a test) all come from that table. A form (flows/form.py) is a `Group` of steps that collects
fields, with one summary and "change field X"; routes may lead into it and it is drawn as one node.

A correction in words ("oj, fel ålder") goes back to a `Field`'s step. Which fields a step may go
back to is derived, not declared: the fields asked on the way to it since the flow last acted on
its own (a step that asks nothing, e.g. one that sends a mail).

Flows are pure: no channel, no storage, no aiohttp. They talk through `FlowContext`, which the
engine builds for every turn, and reach backends through the ports in `ctx.services`
(flows/ports.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Awaitable, Callable, Mapping, Sequence

from common.messages import Button, Reply
from flows.ports import Services

END = "END"
HANDOFF = "HANDOFF"  # leaving the flow to the handoff flow (an escalation point)
_STEP_ID = re.compile(r"^[a-z_]+:[a-z0-9_]+$")


class FlowDefinitionError(ValueError):
    """Raised when a flow's table is inconsistent; the message names the flow and the step."""


@dataclass(frozen=True)
class Answer:
    """What the guardian gave at a step: typed text or the value of a pressed choice."""

    text: str | None = None
    choice: str | None = None


# Transitions (what the engine acts on) ---------------------------------------------------------


@dataclass(frozen=True)
class Goto:
    """Move to another step of the same flow, which is then entered and asked."""

    step: str


@dataclass(frozen=True)
class Stay:
    """Stay at the step; ask it again unless `reprompt` is False (the step already said why)."""

    reprompt: bool = True


@dataclass(frozen=True)
class Finish:
    """End the flow; the guardian is back at the main menu."""

    menu: bool = False  # offer the main menu buttons after the flow's last message


@dataclass(frozen=True)
class Escalate:
    """End the flow and hand the conversation to a person (the handoff flow), saying why."""

    reason: str


@dataclass(frozen=True)
class NotAnAnswer:
    """The input does not answer this step: the engine may treat it as an interruption."""


Transition = Goto | Stay | Finish | Escalate | NotAnAnswer
# What a handler or an entry action returns: a route key of its step, or a transition that keeps
# the guardian at the step (Stay, NotAnAnswer); None reads as "no answer" (an entry: "ask now").
Outcome = str | Transition | None


# Routes ----------------------------------------------------------------------------------------


class Group:
    """Steps built and drawn together (a form). A route into it starts where `enter` says."""

    name: str  # the group's node in the diagram
    steps: tuple["Step", ...]
    fields: tuple["Field", ...]

    @property
    def step_ids(self) -> tuple[str, ...]:
        return tuple(step.id for step in self.steps)

    def enter(self, data: dict) -> Transition:
        raise NotImplementedError

    def describe(self) -> tuple[str, ...]:
        """Return the lines the diagram writes in the group's node."""
        raise NotImplementedError


@dataclass(frozen=True)
class Route:
    """Where an outcome of a step leads, and what the diagram writes on the edge."""

    to: str | Group  # a step id, END, HANDOFF or a group (a form) to enter
    label: str
    reason: str = ""  # HANDOFF: why a person is needed (the agent sees it)
    menu: bool = False  # END: offer the main menu after the flow's last message

    @property
    def targets(self) -> tuple[str, ...]:
        return self.to.step_ids if isinstance(self.to, Group) else (self.to,)

    def transition(self, data: dict) -> Transition:
        if isinstance(self.to, Group):
            return self.to.enter(data)
        if self.to == END:
            return Finish(menu=self.menu)
        if self.to == HANDOFF:
            return Escalate(self.reason)
        return Goto(self.to)


def to(target: str | Group, label: str) -> Route:
    """Route to a step of the flow (or into a form)."""
    return Route(target, label)


def end(label: str, *, menu: bool = False) -> Route:
    """Route to the end of the flow; `menu` offers the main menu buttons."""
    return Route(END, label, menu=menu)


def person(reason: str, label: str) -> Route:
    """Route to a person at Halmstad direkt (the handoff flow), for `reason`."""
    return Route(HANDOFF, label, reason=reason)


# Steps -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A button a step offers. `label` is a text key; `words` a text key of extra words
    ("ja|japp|yes") that also choose it when typed."""

    value: str
    label: str
    words: str | None = None


YES = Choice("yes", "common.yes", "common.yes_words")
NO = Choice("no", "common.no", "common.no_words")

Handler = Callable[["FlowContext", Answer], Awaitable[Outcome]]
Action = Callable[["FlowContext"], Awaitable[Outcome]]
Routes = Mapping[str, Route] | Sequence[str]


class Step:
    """One point in a flow: it asks (prompt, choices) and routes the answer, or acts and moves on.

    `routes` maps outcomes to `Route`s. (A plain sequence of step ids is read as unlabelled routes
    keyed by their target, for small flows whose handlers return transitions themselves.)
    `on_enter` runs before the prompt and may move on at once; `saves` keeps the chosen value in
    `ctx.data` under that key. `expects` says what typed text answers (flows/answers.py): "name",
    "contact", "email", "text" (a message: the first words never decide alone), "under_18" (a
    yes/no that also takes an age or a school year) or None (choices). A step that `confirms`
    ("Stämmer det här?") takes "fel adress" as a correction and needs a "change" choice.
    """

    def __init__(self, id: str, handler: Handler | None = None, routes: Routes = (), *,
                 prompt: str | None = None, choices: Sequence[Choice] = (), free_text: bool = False,
                 on_enter: Action | None = None, help: str | None = None, expects: str | None = None,
                 confirms: bool = False, saves: str | None = None, field: str | None = None) -> None:
        self.id = id
        self.handler = handler
        self.routes: dict[str, Route] = (dict(routes) if isinstance(routes, Mapping)
                                         else {target: Route(target, "") for target in routes})
        self.prompt = prompt  # text key, formatted with ctx.data and the contact facts
        self.choices = tuple(choices)
        self.free_text = free_text  # any text is a possible answer (a name, a description)
        self.action = on_enter
        self.help = help  # text key said for "hjälp"/"help" at this step
        self.expects = expects
        self.confirms = confirms
        self.saves = saves
        self.field = field  # the form field this step asks (a correction here never goes back to it)

    def __repr__(self) -> str:
        return f"Step({self.id!r})"

    @property
    def flow(self) -> str:
        return self.id.split(":", 1)[0]

    @property
    def asks(self) -> bool:
        """Whether the step waits for the guardian (else it only acts on entry and moves on)."""
        return self.prompt is not None or bool(self.choices)

    @property
    def targets(self) -> frozenset[str]:
        return frozenset(t for route in self.routes.values() for t in route.targets)

    @property
    def on_enter(self) -> Callable[["FlowContext"], Awaitable[Transition | None]] | None:
        """The entry action as the engine calls it (None when the step has none)."""
        return None if self.action is None else self._enter

    async def _enter(self, ctx: "FlowContext") -> Transition | None:
        outcome = await self.action(ctx)
        return None if outcome is None else self.resolve(ctx, outcome)

    async def on_answer(self, ctx: "FlowContext", answer: Answer) -> Transition:
        """Read the answer (the handler, or the chosen choice) and return where it leads."""
        if self.handler is not None:
            outcome = await self.handler(ctx, answer)
        elif answer.choice in {c.value for c in self.choices}:
            outcome = answer.choice
            if self.saves:
                ctx.data[self.saves] = outcome
        else:
            outcome = None
        return NotAnAnswer() if outcome is None else self.resolve(ctx, outcome)

    def resolve(self, ctx: "FlowContext", outcome: Outcome) -> Transition:
        """Turn a route key into its transition; a transition is returned as it is."""
        if not isinstance(outcome, str):
            return outcome
        route = self.routes.get(outcome)
        if route is None:
            raise FlowDefinitionError(f"step {self.id!r} has no route for {outcome!r}")
        return route.transition(ctx.data)


@dataclass(frozen=True)
class Field:
    """A value a flow collects, named so that the guardian can correct it in words ("fel adress").

    `words` is a text key of the words that name it ("namn|namnet|name"); `step` asks for it
    again; `keys` are the `ctx.data` keys it fills, forgotten before it is asked again.
    """

    name: str
    step: str
    words: str
    keys: tuple[str, ...]


# Flows -------------------------------------------------------------------------------------------


@dataclass
class Flow:
    """A checked table of steps with one start."""

    name: str
    title: str  # text key naming the flow for menus and agents
    start: str
    steps: Sequence[Step | Group]
    fields: Sequence[Field] = ()
    said: frozenset[str] = frozenset()  # text keys the flow's code says (not prompts or labels)
    one_shot: bool = False  # answers at once and ends (may run beside another flow)
    # For a one-shot flow: what decides its reply, from the starting entry's flow_args, the question,
    # its language and the day (two entries with equal keys give the same reply; `knowledge eval`
    # counts such an answer as right). None: only the expected entry itself is right.
    reply_key: Callable[[dict, str, str, date], object] | None = None
    groups: tuple[Group, ...] = field(init=False)
    by_id: dict[str, Step] = field(init=False)
    corrects: dict[str, tuple[str, ...]] = field(init=False)  # step id → fields it may go back to

    def __post_init__(self) -> None:
        self.groups = tuple(item for item in self.steps if isinstance(item, Group))
        self.steps = [s for item in self.steps for s in (item.steps if isinstance(item, Group) else (item,))]
        self.fields = tuple(self.fields) + tuple(f for group in self.groups for f in group.fields)
        self.by_id = {}
        problems = self._check_steps()
        problems += [p for step in self.steps for p in self._check_routes(step)]
        if not problems:
            problems += self._check_graph()
        if problems:
            raise FlowDefinitionError(f"flow {self.name!r}: " + "; ".join(problems))
        self.corrects = {step.id: self._correctable(step) for step in self.steps if step.asks}

    def _check_steps(self) -> list[str]:
        problems = []
        for step in self.steps:
            if not _STEP_ID.match(step.id):
                problems.append(f"step id {step.id!r} is not 'flow:step' in lower case")
            elif step.flow != self.name:
                problems.append(f"step {step.id!r} does not belong to flow {self.name!r}")
            if step.id in self.by_id:
                problems.append(f"step {step.id!r} is declared twice")
            self.by_id[step.id] = step
            values = [c.value for c in step.choices]
            if len(values) != len(set(values)):
                problems.append(f"step {step.id!r} has two choices with one value")
        if self.start not in self.by_id:
            problems.append(f"start step {self.start!r} is not a step of the flow")
        for fld in self.fields:
            if fld.step not in self.by_id:
                problems.append(f"field {fld.name!r} is asked at unknown step {fld.step!r}")
        return problems

    def _check_routes(self, step: Step) -> list[str]:
        problems = [f"step {step.id!r} leads to unknown step {target!r}" for target in sorted(step.targets)
                    if target not in (END, HANDOFF) and target not in self.by_id]
        if not step.routes:
            problems.append(f"step {step.id!r} leads nowhere")
        if step.handler is None:
            if step.asks and not step.choices:
                problems.append(f"step {step.id!r} asks but has neither a handler nor choices")
            problems += [f"choice {c.value!r} of step {step.id!r} has no route"
                         for c in step.choices if c.value not in step.routes]
        if step.confirms and "change" not in {c.value for c in step.choices}:
            problems.append(f"confirmation step {step.id!r} has no 'change' choice")
        return problems

    def _check_graph(self) -> list[str]:
        problems = []
        reachable = {self.start}
        todo = [self.start]
        while todo:
            for target in self.by_id[todo.pop()].targets:
                if target in self.by_id and target not in reachable:
                    reachable.add(target)
                    todo.append(target)
        problems += [f"step {step_id!r} cannot be reached from {self.start!r}"
                     for step_id in self.by_id if step_id not in reachable]
        ends = {s.id for s in self.steps if s.targets & {END, HANDOFF}}
        changed = True
        while changed:
            changed = False
            for step in self.steps:
                if step.id not in ends and step.targets & ends:
                    ends.add(step.id)
                    changed = True
        problems += [f"step {step_id!r} can never reach the end" for step_id in self.by_id if step_id not in ends]
        return problems

    def _correctable(self, step: Step) -> tuple[str, ...]:
        """Return the fields asked on the way to `step` since the flow last acted on its own."""
        before: set[str] = set()
        todo = [step.id]
        while todo:
            current = todo.pop()
            for other in self.steps:
                if current in other.targets and other.id not in before:
                    before.add(other.id)
                    if other.asks:
                        todo.append(other.id)
        return tuple(f.name for f in self.fields
                     if f.step in before and f.step != step.id and f.name != step.field)

    def targets(self, step: Step) -> frozenset[str]:
        """Return where `step` may lead: its routes and the fields a correction there goes back to."""
        fields = {f.name: f.step for f in self.fields}
        return step.targets | {fields[name] for name in self.corrects.get(step.id, ())}

    def check_transition(self, step: Step, transition: Transition) -> None:
        """Refuse a transition the step's table does not have, so the diagram never lies."""
        target = None
        if isinstance(transition, Goto):
            target = transition.step
        elif isinstance(transition, Finish):
            target = END
        elif isinstance(transition, Escalate):
            target = HANDOFF
        if target is not None and target not in self.targets(step):
            raise FlowDefinitionError(
                f"flow {self.name!r}: step {step.id!r} moved to {target!r}, which it does not declare"
            )

    def text_keys(self) -> set[str]:
        """Return every text key the flow names, for the knowledge check."""
        keys = {self.title} | set(self.said)
        for step in self.steps:
            keys.update(k for k in (step.prompt, step.help) if k)
            for choice in step.choices:
                keys.add(choice.label)
                if choice.words:
                    keys.add(choice.words)
        keys.update(fld.words for fld in self.fields)
        return keys

    def mermaid(self) -> str:
        """Return the flow as a Mermaid state diagram with labelled edges; a form is one node."""
        return mermaid(self)


def mermaid(flow: Flow) -> str:
    """Draw `flow`: one node a step (a group's steps as the group's node), one edge a route."""
    node_of = {step_id: group.name for group in flow.groups for step_id in group.step_ids}

    def node(target: str) -> str:
        if target == END:
            return "[*]"
        if target == HANDOFF:
            return "handoff_to_person"
        return node_of.get(target) or target.split(":", 1)[1]

    lines = ["stateDiagram-v2"] + [f"    {group.name}: {line}" for group in flow.groups for line in group.describe()]
    lines.append(f"    [*] --> {node(flow.start)}")
    seen: set[tuple[str, str, str]] = set()
    fields = {f.name: f.step for f in flow.fields}
    for step in flow.steps:
        edges = [(route.to.name if isinstance(route.to, Group) else node(route.to), route.label)
                 for route in step.routes.values()]
        edges += [(node(fields[name]), f"correct {name}") for name in flow.corrects.get(step.id, ())]
        for target, label in edges:
            edge = (node(step.id), target, label)
            if edge in seen or (edge[0] == target and step.id in node_of):
                continue  # a form's own steps are inside its node
            seen.add(edge)
            lines.append(f"    {edge[0]} --> {target}" + (f": {label}" if label else ""))
    return "\n".join(lines) + "\n"


# The context a flow sees -------------------------------------------------------------------------


class FlowContext:
    """What a flow may use during one turn: the session's language and data, texts, the clock
    and the injected services. Replies said through it are collected by the engine."""

    def __init__(
        self,
        *,
        session: str,
        channel: str,
        lang: str,
        data: dict,
        now: datetime,
        texts: Callable[..., str],
        services: Services,
        knowledge: Any,
        client: str | None = None,
    ) -> None:
        self.session = session
        self.client = client  # a keyed hash of the client address (Inbound.client), or None
        self.channel = channel
        self.lang = lang
        self.data = data
        self.now = now
        self._texts = texts
        self.services = services
        self.knowledge = knowledge
        self.out: list[Reply] = []

    def t(self, key: str, **fmt: Any) -> str:
        """Return the text for `key` in the session's language, formatted."""
        return self._texts(key, self.lang, **fmt)

    def say(self, key: str, *, buttons: Sequence[Button] = (), **fmt: Any) -> None:
        """Queue the text for `key` as a reply, with optional buttons."""
        self.out.append(Reply(self.t(key, **fmt), tuple(buttons)))

    def say_text(self, text: str, buttons: Sequence[Button] = ()) -> None:
        """Queue an already rendered text (e.g. from an FAQ answer or the hours module)."""
        self.out.append(Reply(text, tuple(buttons)))

    def button(self, label_key: str, payload: str, **fmt: Any) -> Button:
        """Build a button whose label is the text for `label_key`."""
        return Button(self.t(label_key, **fmt), payload)


def choice_payload(value: str) -> str:
    """Return the button payload a step's choice travels as."""
    return f"ans:{value}"
