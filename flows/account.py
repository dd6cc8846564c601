"""Applying for a Skola24 account or a link (koppling) to a child: find the right route.

The questions follow DOMAIN.md: new account or another child; is the pupil under 18 (the
e-service works only then; a pupil of 18+ gives permission at the school); protected identity
(never use the e-service, never share details here); can the guardian log in with
e-legitimation (else apply at the child's school).
"""
from __future__ import annotations

from flows.machine import NO, YES, Choice, Field, Flow, FlowContext, Step, end, to


def _final(text_key: str, *, human: bool = False):
    """Build the entry action of a route's last step: say where to apply, offer the menu."""
    async def enter(ctx: FlowContext) -> str:
        buttons = [ctx.button("menu.human", "cmd:human")] if human else []
        buttons.append(ctx.button("account.back_to_menu", "cmd:menu"))
        ctx.say(text_key, buttons=buttons)
        return "told"
    return enter


TOLD = {"told": end("route told")}

FLOW = Flow(
    name="account",
    title="account.title",
    start="account:purpose",
    steps=[
        Step("account:purpose", routes={"new": to("account:age", "new account"),
                                        "link": to("account:age", "link a child")},
             saves="purpose", prompt="account.ask_purpose",
             choices=(Choice("new", "account.choice_new", "account.new_words"),
                      Choice("link", "account.choice_link", "account.link_words")),
             help="account.help"),
        Step("account:age", routes={"yes": to("account:protected", "under 18"),
                                    "no": to("account:adult_pupil", "18 or older")},
             saves="under_18", prompt="account.ask_under_18", choices=(YES, NO), help="account.help_age",
             expects="under_18"),
        Step("account:protected", routes={"yes": to("account:protected_identity", "protected identity"),
                                          "no": to("account:eleg", "no protected identity")},
             saves="protected", prompt="account.ask_protected", choices=(NO, YES),
             help="account.help_protected"),
        Step("account:eleg", routes={"yes": to("account:eservice", "has e-legitimation"),
                                     "no": to("account:at_school", "no e-legitimation")},
             prompt="account.ask_eleg", choices=(YES, NO), help="account.help_eleg"),
        Step("account:eservice", routes=TOLD, on_enter=_final("account.route_eservice")),
        Step("account:at_school", routes=TOLD, on_enter=_final("account.route_school")),
        Step("account:adult_pupil", routes=TOLD, on_enter=_final("account.route_adult_pupil")),
        Step("account:protected_identity", routes=TOLD,
             on_enter=_final("account.route_protected", human=True)),
    ],
    # "fel, det gäller ett nytt konto" or "oj, fel ålder, hon är 19" at a later step goes back to
    # that answer and takes what the sentence says there (flows/answers.py).
    fields=(Field("purpose", "account:purpose", "account.field_purpose_words", ("purpose",)),
            Field("age", "account:age", "account.field_age_words", ("under_18",)),
            Field("protected", "account:protected", "account.field_protected_words", ("protected",))),
)
