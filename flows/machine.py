"""A small state machine for guided conversations, checked when it is defined.

A `Flow` is a named graph of `Step`s. Each step asks something (a text key from knowledge/),
optionally offers `Choice`s (buttons), and handles the guardian's answer in `on_answer`, which
returns a `Transition`. Every transition a step may take is declared in `Step.leads_to`, so the
graph can be checked (one start, every step reachable, every step can reach the end) and drawn as
a Mermaid diagram (`docs/flows/*.mmd`, kept fresh by a test).

Flows are pure: no channel, no storage, no aiohttp. They talk through `FlowContext`, which the
engine builds for every turn, and reach backends through clients in `ctx.services`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable, Callable, Mapping, Sequence

from common.messages import Button, Reply

END = "END"
HANDOFF = "HANDOFF"  # leaving the flow to the handoff flow (an escalation point)
_STEP_ID = re.compile(r"^[a-z_]+:[a-z0-9_]+$")


class FlowDefinitionError(ValueError):
    """Raised when a flow's graph is inconsistent; the message names the flow and the step."""


@dataclass(frozen=True)
class Answer:
    """What the guardian gave at a step: typed text or the value of a pressed choice."""

    text: str | None = None
    choice: str | None = None


# Transitions ---------------------------------------------------------------------------------


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


# Steps and flows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A button a step offers. `label` is a text key; `words` a text key of extra words
    ("ja|japp|yes") that also choose it when typed."""

    value: str
    label: str
    words: str | None = None


OnAnswer = Callable[["FlowContext", Answer], Awaitable[Transition]]
OnEnter = Callable[["FlowContext"], Awaitable[Transition | None]]


@dataclass(frozen=True)
class Step:
    """One point in a flow where the bot waits for the guardian."""

    id: str
    on_answer: OnAnswer
    leads_to: tuple[str, ...]
    prompt: str | None = None  # text key, formatted with ctx.data and the contact facts
    choices: tuple[Choice, ...] = ()
    free_text: bool = False  # any text is a possible answer (a name, a description)
    on_enter: OnEnter | None = None  # runs before the prompt; may move on at once
    help: str | None = None  # text key said for "hjälp"/"help" at this step
    # What typed text answers (flows/answers.py): "name", "contact", "email", "text" (a message or
    # description: the first words never decide alone), "under_18" (a yes/no that also takes an
    # age or a school year), or None (choices).
    expects: str | None = None
    # A confirmation ("Stämmer det här?"): "fel adress" or "nej det stämmer inte" is a correction
    # that goes to the field's step (declared in leads_to) or, with no field named, takes the
    # step's "change" choice.
    confirms: bool = False

    @property
    def flow(self) -> str:
        return self.id.split(":", 1)[0]


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


@dataclass
class Flow:
    """A checked graph of steps with one start."""

    name: str
    title: str  # text key naming the flow for menus and agents
    start: str
    steps: Sequence[Step]
    fields: Sequence[Field] = ()
    by_id: dict[str, Step] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {}
        problems: list[str] = []
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
        for step in self.steps:
            for target in step.leads_to:
                if target not in (END, HANDOFF) and target not in self.by_id:
                    problems.append(f"step {step.id!r} leads to unknown step {target!r}")
            if not step.leads_to:
                problems.append(f"step {step.id!r} leads nowhere")
            if step.confirms and "change" not in {c.value for c in step.choices}:
                problems.append(f"confirmation step {step.id!r} has no 'change' choice")
        for fld in self.fields:
            if fld.step not in self.by_id:
                problems.append(f"field {fld.name!r} is asked at unknown step {fld.step!r}")
        if not problems:
            problems += self._check_graph()
        if problems:
            raise FlowDefinitionError(f"flow {self.name!r}: " + "; ".join(problems))

    def _check_graph(self) -> list[str]:
        problems = []
        reachable = {self.start}
        todo = [self.start]
        while todo:
            for target in self.by_id[todo.pop()].leads_to:
                if target in self.by_id and target not in reachable:
                    reachable.add(target)
                    todo.append(target)
        for step_id in self.by_id:
            if step_id not in reachable:
                problems.append(f"step {step_id!r} cannot be reached from {self.start!r}")
        ends = {s.id for s in self.steps if END in s.leads_to or HANDOFF in s.leads_to}
        changed = True
        while changed:
            changed = False
            for step in self.steps:
                if step.id not in ends and any(t in ends for t in step.leads_to):
                    ends.add(step.id)
                    changed = True
        for step_id in self.by_id:
            if step_id not in ends:
                problems.append(f"step {step_id!r} can never reach the end")
        return problems

    def step(self, step_id: str) -> Step:
        return self.by_id[step_id]

    def check_transition(self, step: Step, transition: Transition) -> None:
        """Refuse a transition the step did not declare, so the diagram never lies."""
        target = None
        if isinstance(transition, Goto):
            target = transition.step
        elif isinstance(transition, Finish):
            target = END
        elif isinstance(transition, Escalate):
            target = HANDOFF
        if target is not None and target not in step.leads_to:
            raise FlowDefinitionError(
                f"flow {self.name!r}: step {step.id!r} moved to {target!r}, which it does not declare"
            )

    def text_keys(self) -> set[str]:
        """Return every text key the flow's steps name, for the knowledge check."""
        keys = {self.title}
        for step in self.steps:
            keys.update(k for k in (step.prompt, step.help) if k)
            for choice in step.choices:
                keys.add(choice.label)
                if choice.words:
                    keys.add(choice.words)
        keys.update(fld.words for fld in self.fields)
        return keys

    def mermaid(self) -> str:
        """Return the flow as a Mermaid state diagram."""
        def node(step_id: str) -> str:
            return step_id.split(":", 1)[1]

        lines = ["stateDiagram-v2", f"    [*] --> {node(self.start)}"]
        for step in self.steps:
            for target in step.leads_to:
                if target == END:
                    lines.append(f"    {node(step.id)} --> [*]")
                elif target == HANDOFF:
                    lines.append(f"    {node(step.id)} --> handoff_to_person")
                else:
                    lines.append(f"    {node(step.id)} --> {node(target)}")
        return "\n".join(lines) + "\n"


# The context a flow sees ----------------------------------------------------------------------


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
        services: Any,
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


Registry = Mapping[str, Flow]
