"""Applying for a Skola24 account or a link (koppling) to a child: find the right route.

The questions follow DOMAIN.md: new account or another child; is the pupil under 18 (the
e-service works only then; a pupil of 18+ gives permission at the school); protected identity
(never use the e-service, never share details here); can the guardian log in with
e-legitimation (else apply at the child's school).
"""
from __future__ import annotations

from flows.machine import END, Answer, Choice, Field, Finish, Flow, FlowContext, Goto, NotAnAnswer, Step

YES = Choice("yes", "common.yes", "common.yes_words")
NO = Choice("no", "common.no", "common.no_words")


def _choice(answer: Answer) -> str | None:
    return answer.choice


async def _purpose(ctx: FlowContext, answer: Answer):
    if answer.choice in ("new", "link"):
        ctx.data["purpose"] = answer.choice
        return Goto("account:age")
    return NotAnAnswer()


async def _age(ctx: FlowContext, answer: Answer):
    if answer.choice in ("yes", "no"):
        ctx.data["under_18"] = answer.choice  # kept so that "oj, fel ålder" can go back to it
    if answer.choice == "yes":
        return Goto("account:protected")
    if answer.choice == "no":
        return Goto("account:adult_pupil")
    return NotAnAnswer()


async def _protected(ctx: FlowContext, answer: Answer):
    if answer.choice in ("yes", "no"):
        ctx.data["protected"] = answer.choice
    if answer.choice == "yes":
        return Goto("account:protected_identity")
    if answer.choice == "no":
        return Goto("account:eleg")
    return NotAnAnswer()


async def _eleg(ctx: FlowContext, answer: Answer):
    if answer.choice == "yes":
        return Goto("account:eservice")
    if answer.choice == "no":
        return Goto("account:at_school")
    return NotAnAnswer()


def _final(text_key: str, *, human: bool = False):
    async def enter(ctx: FlowContext):
        buttons = [ctx.button("menu.human", "cmd:human")] if human else []
        buttons.append(ctx.button("account.back_to_menu", "cmd:menu"))
        ctx.say(text_key, buttons=buttons)
        return Finish()
    return enter


async def _never(ctx: FlowContext, answer: Answer):
    return NotAnAnswer()


FLOW = Flow(
    name="account",
    title="account.title",
    start="account:purpose",
    steps=[
        Step("account:purpose", _purpose, ("account:age",), prompt="account.ask_purpose",
             choices=(Choice("new", "account.choice_new", "account.new_words"),
                      Choice("link", "account.choice_link", "account.link_words")),
             help="account.help"),
        Step("account:age", _age, ("account:protected", "account:adult_pupil", "account:purpose"),
             prompt="account.ask_under_18", choices=(YES, NO), help="account.help_age", expects="under_18"),
        Step("account:protected", _protected,
             ("account:protected_identity", "account:eleg", "account:purpose", "account:age"),
             prompt="account.ask_protected", choices=(NO, YES), help="account.help_protected"),
        Step("account:eleg", _eleg,
             ("account:eservice", "account:at_school", "account:purpose", "account:age", "account:protected"),
             prompt="account.ask_eleg", choices=(YES, NO), help="account.help_eleg"),
        Step("account:eservice", _never, (END,), on_enter=_final("account.route_eservice")),
        Step("account:at_school", _never, (END,), on_enter=_final("account.route_school")),
        Step("account:adult_pupil", _never, (END,), on_enter=_final("account.route_adult_pupil")),
        Step("account:protected_identity", _never, (END,),
             on_enter=_final("account.route_protected", human=True)),
    ],
    # "fel, det gäller ett nytt konto" or "oj, fel ålder, hon är 19" at a later step goes back to
    # that answer and takes what the sentence says there (flows/answers.py).
    fields=(Field("purpose", "account:purpose", "account.field_purpose_words", ("purpose",)),
            Field("age", "account:age", "account.field_age_words", ("under_18",)),
            Field("protected", "account:protected", "account.field_protected_words", ("protected",))),
)
