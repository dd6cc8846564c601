"""One case's page: the request as filed, where it stands against its deadline, the links to the
response letter, the forms that act on it (status, decision per part, note, assignee,
extension, correction of a closed case) and its status history and audit log.

Each form posts to its own route in `staff.py` / `staff_actions.py`; a refused change comes back
here with its error and what was typed.
"""
from __future__ import annotations

import html
from datetime import date

from aiohttp import web

from .cases import (
    CORRECTIONS, MAX_REASON, TRANSITIONS, WAITING, first_month_end, is_open, is_overdue,
    paused_days,
)
from .config import CONFIG_KEY, StaffSession
from .listing import days_text, due_cell
from .pages import Texts, csrf_field, layout, local_time, status_name, url
from .parts import GROUNDS, MAX_PART, OUTCOMES

DONE = {"status": "status_saved", "extended": "extended_done", "note": "note_saved",
        "assigned": "assigned_done", "part": "part_saved", "part_removed": "part_removed",
        "corrected": "corrected_done"}


def value(t: Texts, text: object) -> str:
    """Render a stored value escaped, or "none" in words when it is empty."""
    return html.escape(str(text)) if text not in (None, "") else f'<em>{t("none")}</em>'


def _who(t: Texts, by: str) -> str:
    """Render who made a change: a staff username, or the service itself."""
    return t("by_service") if by == "api" else html.escape(by)


def _audit_text(t: Texts, entry: dict) -> str:
    """Describe one audit entry in the page's language."""
    action = entry.get("action")
    named = {k: status_name(t, entry.get(k)) for k in ("from", "to")}
    if action == "created":
        return t("audit.created", channel=entry.get("channel", ""))
    if action == "status":
        if entry.get("due_date"):
            return t("audit.resumed", **named, due_date=entry["due_date"])
        return t("audit.status", **named)
    if action == "corrected":
        return t("audit.corrected", **named)
    if action == "extended":
        return t("audit.extended", due_date=entry.get("due_date", ""),
                 told_on=entry.get("told_on", ""))
    if action == "assigned":
        return t("audit.assigned", to=entry["to"]) if entry.get("to") else t("audit.unassigned")
    if action == "letter":
        return t("audit.letter", language=html.unescape(t(f"language.{entry.get('language')}")))
    if action == "part_added":
        return t("audit.part_added", outcome=html.unescape(t(f"outcome.{entry.get('outcome')}")))
    if action in ("viewed", "note", "part_removed", "receipt_sent", "receipt_failed"):
        return t(f"audit.{action}")
    return html.escape(str(action))


def _outcome(request: web.Request, t: Texts, error: str | None) -> list[str]:
    """Render what the last form did: its error, or that the change was saved."""
    if error:
        return [f'<div class="error" role="alert"><h2>{t("error_heading")}</h2><p>{error}</p></div>']
    done = DONE.get(request.query.get("done", ""))
    return [f'<p class="notice" role="status">{t(done)}</p>'] if done else []


def _deadline_rows(t: Texts, case: dict, today: date) -> list[tuple[str, str]]:
    """The rows that say where the case stands against its deadline."""
    ext = case.get("extension")
    rows = [("field_status", t("status." + case["status"])),
            ("field_due", due_cell(t, case, today, mark_extension=False) + " – "
             + days_text(t, case, today)),
            ("field_extension", t("extension_summary", reason=ext["reason"], told_on=ext["told_on"])
             if ext else t("not_extended"))]
    waits = case.get("waits") or []
    if waits:
        last = waits[-1]
        rows.append(("field_waiting", t("waiting_summary", since=last["from"],
                                        reason=last.get("reason") or "",
                                        days=paused_days(case, today))))
    return rows


def _conversation(request: web.Request, t: Texts, case: dict) -> str:
    """Link the conversation the request came from (staff only), or say there is none."""
    ref = case.get("conversation")
    template = request.app[CONFIG_KEY].conversation_url
    if not ref:
        return value(t, None)
    if not template:
        return html.escape(ref)
    href = template.replace("{conversation}", ref)
    return f'<a href="{html.escape(href)}">{t("open_conversation")}</a>'


def _receipt(t: Texts, case: dict) -> str:
    receipt = case.get("receipt")
    if not receipt:
        return t("receipt.none")
    if receipt.get("status") == "sent":
        return t("receipt.sent", at=local_time(receipt.get("at", "")))
    return t("receipt.failed") if receipt.get("status") == "failed" else t("receipt.pending")


def _details(request: web.Request, t: Texts, case: dict, today: date) -> str:
    """Render the request as filed, with its status, deadline and follow-through."""
    child = case.get("child") or {}
    requester = case["requester"]
    fields = _deadline_rows(t, case, today) + [
        ("field_assignee", value(t, case.get("assignee"))),
        ("field_received", html.escape(local_time(case["received_at"]))),
        ("field_right", t("right." + case["right"])),
        ("field_on_behalf_of", t("behalf." + case["on_behalf_of"])),
        ("field_requester", value(t, requester.get("name"))),
        ("field_email", value(t, requester.get("email"))),
        ("field_phone", value(t, requester.get("phone"))),
        ("field_child", value(t, child.get("name"))),
        ("field_school", value(t, child.get("school"))),
        ("field_language", t("language." + case["language"])),
        ("field_channel", value(t, case.get("channel"))),
        ("field_conversation", _conversation(request, t, case)),
        ("field_receipt", _receipt(t, case)),
        ("field_description", f'<p class="description">{value(t, case.get("description"))}</p>'),
    ]
    rows = "".join(f"<dt>{t(key)}</dt><dd>{text}</dd>" for key, text in fields)
    return f'<h2>{t("section_request")}</h2><dl>{rows}</dl><p>{t("identity_note")}</p>'


def _letter_links(request: web.Request, t: Texts, case: dict) -> str:
    """Link the response letter in Swedish and in English."""
    links = "".join(
        f'<li><a href="{html.escape(url(request, "case_letter", lang, reference=case["reference"]))}"'
        f' hreflang="{lang}">{t("letter_" + lang)}</a></li>' for lang in ("sv", "en"))
    return (f'<section class="no-print" aria-labelledby="letter-heading">'
            f'<h2 id="letter-heading">{t("section_letter")}</h2><p>{t("letter_intro")}</p>'
            f'<ul>{links}</ul></section>')


def _form(request: web.Request, t: Texts, case: dict, session: StaffSession, name: str,
          route: str, body: str, button: str) -> str:
    """Render one headed form posting to `route` for this case."""
    action = url(request, route, t.lang, reference=case["reference"])
    return (f'<section class="no-print" aria-labelledby="{name}-heading">'
            f'<h2 id="{name}-heading">{t("section_" + name)}</h2>'
            f'<form method="post" action="{html.escape(action)}">{csrf_field(session.csrf)}'
            f'{body}<div><button type="submit">{t(button)}</button></div></form></section>')


def _options(t: Texts, values, chosen: object, text_key: str) -> str:
    return "".join(f'<option value="{html.escape(str(v))}"{" selected" if v == chosen else ""}>'
                   f'{t(text_key + str(v)) if text_key else html.escape(str(v))}</option>'
                   for v in values)


def _textarea(t: Texts, field: str, name: str, label: str, form: dict, limit: int = MAX_REASON,
              required: bool = False) -> str:
    needed = " required" if required else ""
    return (f'<label for="{field}">{t(label)}</label><textarea id="{field}" name="{name}" '
            f'maxlength="{limit}"{needed}>{html.escape(form.get(field, ""))}</textarea>')


def _status_form(request, t: Texts, case: dict, session: StaffSession, form: dict) -> str:
    """Render the form that moves the case on (or that it is closed)."""
    nexts = TRANSITIONS.get(case["status"], ())
    if not nexts:
        return f'<h2>{t("section_status")}</h2><p>{t("case_closed")}</p>'
    body = (f'<label for="status">{t("new_status")}</label><select id="status" name="status">'
            f'{_options(t, nexts, form.get("status"), "status.")}</select>'
            f'<p>{t("waiting_note")}</p>' + _textarea(t, "reason", "reason", "reason", form))
    return _form(request, t, case, session, "status", "case_status", body, "save_status")


def _extend_form(request, t: Texts, case: dict, session: StaffSession, form: dict,
                 today: date) -> str:
    """Render the extension form (open, not extended, not waiting, not overdue) or say why not."""
    if not is_open(case) or case.get("extension"):
        return ""
    heading = f'<h2>{t("section_extend")}</h2>'
    if case["status"] == WAITING:
        return heading + f'<p>{t("extend_waiting_note")}</p>'
    if is_overdue(case, today):
        return heading + f'<p>{t("extend_overdue_note")}</p>'
    month_end = first_month_end(case, today).isoformat()
    body = (f'<p>{t("extend_intro", due_date=month_end)}</p>'
            + _textarea(t, "extend-reason", "reason", "extend_reason", form, required=True)
            + f'<label for="told-on">{t("told_on")}</label>'
            f'<input id="told-on" name="told_on" type="date" required '
            f'min="{case["received_date"]}" max="{month_end}" '
            f'value="{html.escape(form.get("told-on", ""))}">')
    return _form(request, t, case, session, "extend", "case_extend", body, "extend_button")


def _parts(request, t: Texts, case: dict, session: StaffSession, form: dict) -> str:
    """Render the decision per part, with a remove button each and the form to add one."""
    parts = case.get("parts") or []
    editable = is_open(case)
    rows = []
    for part in parts:
        ground = t(f"ground.{part['ground']}") if part.get("ground") else ""
        if part.get("explanation"):
            ground += (" – " if ground else "") + html.escape(part["explanation"])
        remove = ""
        if editable:
            action = url(request, "case_part_remove", t.lang, reference=case["reference"])
            remove = (f'<form class="inline" method="post" action="{html.escape(action)}">'
                      f'{csrf_field(session.csrf)}<input type="hidden" name="part" value="{part["id"]}">'
                      f'<button type="submit" class="link">{t("part_remove")}</button></form>')
        rows.append(f'<tr><td>{html.escape(part["text"])}</td><td>{t("outcome." + part["outcome"])}</td>'
                    f'<td>{ground or value(t, None)}</td>' + (f'<td>{remove}</td>' if editable else "")
                    + '</tr>')
    columns = ("col_part", "col_decision", "col_ground") + (("part_remove",) if editable else ())
    head = "".join(f'<th scope="col">{t(c)}</th>' for c in columns)
    table = (f'<div class="table-wrap" role="region" aria-labelledby="parts-heading" tabindex="0"><table>'
             f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
             ) if parts else f'<p>{t("parts_empty")}</p>'
    shown = (f'<section aria-labelledby="parts-heading"><h2 id="parts-heading">{t("section_parts")}</h2>'
             f'<p class="no-print">{t("parts_intro")}</p>{table}</section>')
    if not editable:
        return shown
    body = (_textarea(t, "part-text", "text", "part_text", form, MAX_PART, required=True)
            + f'<label for="part-outcome">{t("part_outcome")}</label><select id="part-outcome" '
            f'name="outcome">{_options(t, OUTCOMES, form.get("part-outcome"), "outcome.")}</select>'
            f'<label for="part-ground">{t("part_ground")}</label><select id="part-ground" name="ground">'
            f'<option value="">{t("part_ground_none")}</option>'
            f'{_options(t, GROUNDS, form.get("part-ground"), "ground.")}</select>'
            + _textarea(t, "part-explanation", "explanation", "part_explanation", form))
    return shown + _part_form(request, t, case, session, body)


def _part_form(request, t: Texts, case: dict, session: StaffSession, body: str) -> str:
    action = url(request, "case_part", t.lang, reference=case["reference"])
    return (f'<form class="no-print" method="post" action="{html.escape(action)}" '
            f'aria-labelledby="parts-heading">{csrf_field(session.csrf)}{body}'
            f'<div><button type="submit">{t("part_add")}</button></div></form>')


def _notes(request, t: Texts, case: dict, session: StaffSession, form: dict) -> str:
    """Render the notes (newest last) and the form to add one; a note changes no status."""
    notes = case.get("notes") or []
    listed = "".join(f'<li><p class="description">{html.escape(n["text"])}</p>'
                     f'<p>{t("note_by", who=html.unescape(_who(t, n["by"])), at=local_time(n["at"]))}</p></li>'
                     for n in notes)
    shown = (f'<h2 id="notes-heading">{t("section_notes")}</h2>'
             + (f'<ul aria-labelledby="notes-heading">{listed}</ul>' if notes else f'<p>{t("notes_empty")}</p>'))
    body = _textarea(t, "note", "text", "note_label", form, required=True)
    return shown + _form(request, t, case, session, "note", "case_note", body, "note_button")


def _assign_form(request, t: Texts, case: dict, session: StaffSession, staff: list[str]) -> str:
    """Render the form that gives the open case to a staff member (or to nobody)."""
    if not is_open(case):
        return ""
    current = case.get("assignee") or ""
    choices = [""] + sorted(set(staff) | ({current} - {""}))
    options = "".join(f'<option value="{html.escape(name)}"{" selected" if name == current else ""}>'
                      f'{html.escape(name) if name else t("unassigned")}</option>' for name in choices)
    body = (f'<label for="assignee">{t("assign_to")}</label>'
            f'<select id="assignee" name="assignee">{options}</select>')
    return _form(request, t, case, session, "assign", "case_assign", body, "assign_button")


def _correct_form(request, t: Texts, case: dict, session: StaffSession, form: dict) -> str:
    """Render the correction of a closed case (another closing status, or open it again)."""
    if is_open(case):
        return ""
    choices = [s for s in CORRECTIONS if s != case["status"]]
    body = (f'<p>{t("correct_intro")}</p><label for="correct-to">{t("correct_to")}</label>'
            f'<select id="correct-to" name="status">{_options(t, choices, form.get("correct-to"), "status.")}'
            f'</select>' + _textarea(t, "correct-reason", "reason", "reason", form, required=True))
    return _form(request, t, case, session, "correct", "case_correct", body, "correct_button")


def _table(name: str, heading: str, columns: list[str], rows: list[list[str]]) -> str:
    """Render a headed table in a scrollable region (the case's history and audit log)."""
    head = "".join(f'<th scope="col">{column}</th>' for column in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return (f'<h2 id="{name}-heading">{heading}</h2>'
            f'<div class="table-wrap" role="region" aria-labelledby="{name}-heading" tabindex="0"><table>'
            f'<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>')


def _records(t: Texts, case: dict, audit: list[dict]) -> list[str]:
    """Render the status history (corrections marked) and the audit log."""
    history = [[html.escape(local_time(h["at"])), _who(t, h["by"]),
                t("status." + h["status"]) + (f' {t("correction_mark")}' if h.get("correction") else ""),
                value(t, h.get("reason"))] for h in case.get("history", [])]
    log = [[html.escape(local_time(a["at"])), _who(t, a["by"]), _audit_text(t, a),
            value(t, a.get("reason"))] for a in audit]
    return [_table("history", t("section_history"),
                   [t("col_when"), t("col_who"), t("col_status"), t("col_reason")], history),
            _table("audit", t("section_audit"),
                   [t("col_when"), t("col_who"), t("col_what"), t("col_reason")], log)]


def case_page(request: web.Request, t: Texts, session: StaffSession, case: dict,
              audit: list[dict], today: date, staff: list[str], *, error: str | None = None,
              status: int = 200, form: dict | None = None) -> web.Response:
    """Render one case: the request, its deadline, the forms to act on it, history and audit.
    `form` holds what staff typed when a change was refused (by field id), to show it again."""
    form = form or {}
    ref = case["reference"]
    parts = [f'<p class="no-print"><a href="{html.escape(url(request, "cases", t.lang))}">{t("back_to_list")}</a></p>',
             f'<h1>{t("case_title", reference=ref)}</h1>',
             *_outcome(request, t, error),
             _details(request, t, case, today),
             _letter_links(request, t, case),
             _status_form(request, t, case, session, form),
             _parts(request, t, case, session, form),
             _notes(request, t, case, session, form),
             _assign_form(request, t, case, session, staff),
             _extend_form(request, t, case, session, form, today),
             _correct_form(request, t, case, session, form),
             *_records(t, case, audit)]
    return layout(request, t, t("case_title", reference=ref), "\n".join(p for p in parts if p),
                  session, status=status)
