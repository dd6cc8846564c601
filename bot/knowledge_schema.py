"""What a valid knowledge file looks like: pydantic models of every file staff edit.

Each field names the problem it reports when its value is missing or wrong: `Says("bad_id")` is a
key of `bot.knowledge.PROBLEMS`, which words it as `path:line: what is wrong — how to fix it` (and
knowledge/texts/staff.yaml in Swedish). A model's `unknown` names the problem of a key it does
not know (None: such keys are allowed); its `rules` are the checks across fields. `explain` turns
a pydantic error into the problem's name; the loader finds the YAML line of the error's location.

The models check; they are not what the bot reads: the loader builds `Entry`, the texts and the
facts from the validated values and keeps contact.yaml and settings.yaml as written.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import date
from types import UnionType
from typing import Annotated, Any, ClassVar, Container, Literal, Union, get_args, get_origin
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, RootModel, Strict,
                      ValidationError, create_model, model_validator)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from common.calendar import KINDS, WEEKDAYS, ClosesBeforeOpens, parse_date, parse_span, parse_weekday

FLOW_NAMES = ("account", "activation", "contact_hours", "data_rights", "handoff")
PAYLOAD_COMMANDS = ("menu", "help", "cancel", "human", "privacy", "lang:sv", "lang:en")
ENTRY_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Says:
    """The problem (a key of `bot.knowledge.PROBLEMS`) a field reports when it is wrong.

    `what` names the field for the problems a kind of value shares ("the answer" has no English
    text); "{key}" in it stands for the name the value is written under ("the text 'core.menu'").
    """

    problem: str
    what: str = ""


def _fail(problem: str) -> PydanticCustomError:
    """An error that names its problem itself (a field that can be wrong in more than one way)."""
    return PydanticCustomError(problem, problem)


# Values -------------------------------------------------------------------------------------


def _text(value: str) -> str:
    """A non-empty text; a block text ('|') keeps its inner lines, others lose outer spaces."""
    if not value.strip():
        raise ValueError("empty")
    return value.rstrip("\n") if value.endswith("\n") else value.strip()


def _template(value: str) -> str:
    try:
        list(string.Formatter().parse(value))
    except ValueError:
        raise _fail("unclosed_brace") from None
    return value


def _hours(value: str) -> str:
    try:
        parse_span(value)
    except ClosesBeforeOpens:
        raise _fail("hours_reversed") from None
    return value


def _day(value: Any) -> date:
    """A YAML date or "YYYY-MM-DD", as the calendar reads it (a time of day is refused)."""
    return parse_date(value)


def _review_day(value: Any) -> date:
    """A review date as written: present but no real date is its own problem (not "add one")."""
    try:
        return parse_date(value)
    except ValueError:
        raise _fail("bad_review_by") from None


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone") from None
    return name


def _web_address(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or " " in url:
        raise ValueError("not a web address")
    return url


def _payload(payload: str) -> str:
    kind, _, value = payload.partition(":")
    known = {"flow": value in FLOW_NAMES, "faq": bool(ENTRY_ID.match(value)), "cmd": value in PAYLOAD_COMMANDS}
    if not known.get(kind):
        raise ValueError("unknown payload")
    return payload


def _same_in_both_languages(value: Any) -> Any:
    """A fact may be one plain value for both languages: phone: "035-13 70 00"."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return {"sv": str(value), "en": str(value)}
    return value


Text = Annotated[str, AfterValidator(_text)]
Day = Annotated[date, BeforeValidator(_day)]
Hours = Annotated[str, AfterValidator(_hours), Says("not_hours")]
Share = Annotated[float, Strict(), Field(gt=0, le=1), Says("eval_threshold")]
Score = Annotated[float, Strict(), Field(gt=0, le=100), Says("threshold_range")]


# Models -------------------------------------------------------------------------------------


class Model(BaseModel):
    """A mapping in a knowledge file whose other keys are ignored.

    A field that may be left out but not left empty has the default None without None in its
    type (`note: LangText = None`): `note:` with nothing after it is then reported.
    """

    model_config = ConfigDict(extra="ignore")
    unknown: ClassVar[str | None] = None
    shape: ClassVar[str] = ""  # the problem when a whole file is no mapping

    @classmethod
    def rules(cls, data: dict) -> list[tuple[tuple, str]]:
        """Checks across fields, on the mapping as written: (location, problem) for each broken one."""
        return []

    @model_validator(mode="wrap")
    @classmethod
    def _check_rules(cls, data: Any, handler: Any) -> Any:
        broken = cls.rules(data) if isinstance(data, dict) else []
        if not broken:
            return handler(data)
        errors: list[InitErrorDetails] = [{"type": _fail(problem), "loc": loc, "input": data}
                                          for loc, problem in broken]
        try:
            handler(data)
        except ValidationError as exc:
            errors[:0] = [{"type": PydanticCustomError(e["type"], e["type"]), "loc": e["loc"], "input": e["input"]}
                          for e in exc.errors()]
        raise ValidationError.from_exception_data(cls.__name__, errors)


class ClosedModel(Model):
    """A mapping that knows all its keys: another key is the problem `unknown`."""

    model_config = ConfigDict(extra="forbid")


class LangText(ClosedModel):
    """A text in Swedish and English: {sv: "...", en: "..."}."""

    unknown = "unknown_language_in"
    sv: Annotated[Text, Says("no_swedish_text")]
    en: Annotated[Text, Says("no_english_text")]


class LangTemplate(LangText):
    """A text with placeholders ({phone}); a literal brace is written {{ or }}."""

    sv: Annotated[Text, AfterValidator(_template), Says("no_swedish_text")]
    en: Annotated[Text, AfterValidator(_template), Says("no_english_text")]


LANGS: tuple[str, ...] = tuple(LangText.model_fields)


def _both_languages(what: str, model: type[LangText] = LangText) -> Any:
    """A field holding a text in both languages; `what` names it in the problems it shares."""
    return Annotated[model, Says("needs_both_languages", what)]


TextKey = Annotated[str, Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$"), Says("bad_text_key")]


class TextsFile(RootModel[dict[TextKey, _both_languages("the text '{key}'", LangTemplate)]]):
    """A file of texts/: key: {sv: ..., en: ...}."""

    shape: ClassVar[str] = "text_file_shape"


# contact.yaml

class Week(create_model("Days", __base__=ClosedModel, **{day: (Hours, None) for day in WEEKDAYS})):
    """mon: "07:00-17:00" ... sun; a day left out is closed."""

    unknown = "not_weekday"


class WeeklyHours(create_model("Kinds", __base__=ClosedModel, **{
        kind: (Annotated[Week, Says("hours_need_weekdays")], None) for kind in KINDS})):
    unknown = "unknown_hours_kind"


Fact = Annotated[LangText, BeforeValidator(_same_in_both_languages), Says("needs_both_languages", "the fact '{key}'")]


def _weekday(value: Any) -> int:
    return parse_weekday(value)


class Rule(create_model("RuleDays", __base__=ClosedModel, **{
        "weekday": (Annotated[int, BeforeValidator(_weekday), Says("not_weekday_name")], ...),
        "from": (Annotated[Day, Says("not_a_date")], ...),
        "to": (Annotated[Day, Says("not_a_date")], ...)})):
    """A repeating exception: {weekday: fredag, from: 2026-12-01, to: 2026-12-31}."""

    unknown = "rule_unknown_field"

    @classmethod
    def rules(cls, data: dict) -> list[tuple[tuple, str]]:
        missing = [((), "rule_shape")] if not {"weekday", "from", "to"} <= set(data) else []
        try:
            backwards = parse_date(data["to"]) < parse_date(data["from"])
        except (KeyError, ValueError):
            backwards = False
        return missing + ([(("to",), "rule_backwards")] if backwards else [])


class DayException(ClosedModel):
    """One day of the staff calendar, or a repeating rule: other hours, or closed."""

    unknown = "exception_unknown_field"
    date: Annotated[Day, Says("not_a_date")] = None
    rule: Annotated[Rule, Says("rule_shape")] = None
    phone: Hours = None
    visiting: Hours = None
    closed: Annotated[bool, Strict(), Says("closed_bool")] = False
    open_on_holiday: Annotated[bool, Strict(), Says("open_on_holiday_bool")] = False
    note: _both_languages("the exception's note") = None

    @classmethod
    def rules(cls, data: dict) -> list[tuple[tuple, str]]:
        says_nothing = data.get("closed", False) is False and not any(kind in data for kind in KINDS)
        dated = ("date" in data) + ("rule" in data)
        return ([((), "exception_empty")] if says_nothing else []) + ([((), "exception_shape")] if dated != 1 else [])


class Contact(ClosedModel):
    unknown = "unknown_field_contact"
    shape = "contact_not_mapping"
    timezone: Annotated[str, AfterValidator(_zone), Says("unknown_timezone")] = "Europe/Stockholm"
    facts: Annotated[dict[str, Fact], Says("facts_missing")]
    hours: Annotated[WeeklyHours, Says("hours_missing")]
    staffed: Annotated[Literal[KINDS], Says("staffed_unknown")] = "phone"
    exceptions: Annotated[list[Annotated[DayException, Says("exception_shape")]] | None,
                          Says("exceptions_not_list")] = None


# settings.yaml


class Understanding(Model):
    answer_threshold: Score = 82
    clarify_threshold: Score = 62

    @classmethod
    def rules(cls, data: dict) -> list[tuple[tuple, str]]:
        answer, clarify = data.get("answer_threshold", 82), data.get("clarify_threshold", 62)
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (answer, clarify))
        return [(("clarify_threshold",), "thresholds_order")] if numbers and clarify >= answer else []


class Privacy(Model):
    retention_days: Annotated[int, Strict(), Field(ge=1), Says("retention_days")] = 90
    retention_decision: _both_languages("the retention decision") = None


class Settings(Model):
    shape = "settings_not_mapping"
    understanding: Annotated[Understanding | None, Says("settings_not_mapping")] = None
    privacy: Annotated[Privacy | None, Says("settings_not_mapping")] = None


# faq/*.yaml


Questions = Annotated[list[Annotated[Text, Says("empty_phrasing")]], Field(min_length=1)]


class Phrasings(ClosedModel):
    """The ways guardians ask for an entry, in both languages."""

    unknown = "unknown_language"
    sv: Annotated[Questions, Says("no_swedish_phrasings")]
    en: Annotated[Questions, Says("no_english_phrasings")]


class Link(Model):
    label: _both_languages("the link's label")
    url: Annotated[str, AfterValidator(_web_address), Says("bad_link")]


class Button(Model):
    label: _both_languages("the button's label")
    payload: Annotated[str, AfterValidator(_payload), Says("bad_payload")]


class FaqEntry(ClosedModel):
    """One FAQ entry or flow starter."""

    unknown = "unknown_field_entry"
    shape = "entry_not_group"
    id: Annotated[str, Field(pattern=ENTRY_ID.pattern), Says("bad_id")]
    topic: Any = None
    phrasings: Annotated[Phrasings, Says("no_phrasings")]
    answer: _both_languages("the answer", LangTemplate) = None
    flow: Annotated[Literal[FLOW_NAMES] | None, Says("unknown_flow")] = None
    flow_args: Annotated[dict | None, Says("flow_args")] = None
    links: Annotated[list[Annotated[Link, Says("link_shape")]] | None, Says("link_shape")] = None
    buttons: Annotated[list[Annotated[Button, Says("button_shape")]] | None, Says("button_shape")] = None
    owner: Annotated[Text, Says("no_owner")]
    review_by: Annotated[date, BeforeValidator(_review_day), Says("no_review_by")]
    out_of_scope: Annotated[bool, Strict(), Says("out_of_scope_bool")] = False

    @classmethod
    def rules(cls, data: dict) -> list[tuple[tuple, str]]:
        answers = "answer" in data or data.get("flow") is not None
        if data.get("out_of_scope") is True:
            return [(("out_of_scope",), "out_of_scope_answer")] if answers else []
        return [] if answers else [((), "no_answer")]


class FaqFile(Model):
    shape = "faq_file_shape"
    entries: Annotated[list, Says("faq_file_shape")]  # each entry is checked on its own (FaqEntry)


# synonyms.yaml and tests/*.yaml


class Synonyms(ClosedModel):
    unknown = "unknown_field_synonyms"
    shape = "synonyms_shape"
    groups: Annotated[list[Annotated[list[Text], Field(min_length=2), Says("synonym_group_size")]] | None,
                      Says("synonym_groups")] = None
    domain_words: Annotated[list[Text] | None, Says("domain_words")] = None


class Thresholds(ClosedModel):
    """knowledge/tests/thresholds.yaml; the defaults are what `knowledge eval` requires without it."""

    unknown = "unknown_threshold"
    tuning: Share = 0.95
    holdout: Share = 0.95
    out_of_scope: Share = 0.95
    cross_validation: Share = 0.90


class Case(Model):
    shape = "case_shape"
    text: str
    lang: Literal[LANGS]
    expect: Any = None  # entry ids are checked by the loader, which knows the entries


class CaseFile(Model):
    """A file of labelled questions; a threshold here is the one of its set (tuning or held-out)."""

    threshold: Share | None = None
    out_of_scope_threshold: Share | None = None
    cross_validation_threshold: Share | None = None
    cases: Annotated[list | None, Says("case_shape")] = None  # each case is checked on its own (Case)


# From a pydantic error to the problem it is -------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """What `explain` finds: the problem's name, the field's description, the name the wrong
    value stands under and, for an unknown name, the names the mapping knows."""

    problem: str
    what: str = ""
    key: Any = None
    fields: tuple[str, ...] = ()

    def hearing(self, meta: list[Any]) -> "Reason":
        """Take the problem (and description) a type's `Says` gives; the innermost one wins."""
        reason = self
        for says in (m for m in meta if isinstance(m, Says)):
            what = says.what.format(key=self.key) if says.what else reason.what
            reason = Reason(says.problem, what, self.key)
        return reason


def _peel(tp: Any) -> tuple[Any, list[Any]]:
    """Take Annotated, Optional and RootModel off a type; return the bare type and its metadata."""
    meta: list[Any] = []
    while True:
        if get_origin(tp) is Annotated:
            tp, *more = get_args(tp)
            meta += more
        elif get_origin(tp) in (Union, UnionType):
            tp = next(a for a in get_args(tp) if a is not type(None))
        elif isinstance(tp, type) and issubclass(tp, RootModel):
            tp = tp.model_fields["root"].annotation
        else:
            return tp, meta


def explain(model: type[BaseModel], error: ErrorDetails, problems: Container[str]) -> Reason:
    """Name the problem of one error: a validator's own name, else the innermost field's `Says`."""
    reason, tp, key_type = Reason(getattr(model, "shape", "")), model, Any
    for part in error["loc"]:
        tp, meta = _peel(tp)
        reason = reason.hearing(meta)
        if part == "[key]":
            reason = reason.hearing(_peel(key_type)[1])
            break
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if part not in tp.model_fields:
                fields = tuple(tp.model_fields)
                reason = Reason(getattr(tp, "unknown", None) or reason.problem, reason.what, part, fields)
                break
            field = tp.model_fields[part]
            tp = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        elif get_origin(tp) is dict:
            key_type, tp = get_args(tp)
        elif get_origin(tp) is list:
            tp = get_args(tp)[0]
        else:
            break
        reason = Reason(reason.problem, reason.what, part)
    else:
        reason = reason.hearing(_peel(tp)[1])
    if error["type"] in problems:
        reason = Reason(error["type"], reason.what, reason.key, reason.fields)
    if not reason.problem:
        raise LookupError(f"no Says(...) names the problem of {model.__name__} at {error['loc']}")
    return reason
