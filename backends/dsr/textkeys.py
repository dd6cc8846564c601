"""Every text the data-rights backend uses, with the placeholders its code fills in.

Two files in knowledge/texts/: `dsr_pages.yaml` (the staff pages and the reminder to the
data-protection officer's mailbox) and `dsr_letter.yaml` (what reaches the requester: the
response letter and the receipt e-mail). Start-up refuses a missing text or a placeholder the
code does not fill (`backends/texts.py`), so a broken edit never shows as a hole in a page.
"""
from __future__ import annotations

from pathlib import Path

from .cases import STATUSES
from .parts import GROUNDS, OUTCOMES
from .validation import RIGHTS
from .worklist import FILTERS

PAGES_FILE = Path("texts") / "dsr_pages.yaml"
LETTER_FILE = Path("texts") / "dsr_letter.yaml"
PAGES_PREFIX = "dsr_pages."
LETTER_PREFIX = "dsr_letter."

_PAGE_PLACEHOLDERS = {
    "signed_in_as": ("username",), "login_throttled": ("seconds",),
    "cases_count": ("count", "overdue"), "case_title": ("reference",),
    "cases_caption": ("filter",), "filter_count": ("label", "count"),
    "extension_summary": ("reason", "told_on"), "err_bad_transition": ("from", "to"),
    "extend_intro": ("due_date",), "err_told_on_range": ("received", "due_date"),
    "err_extend_overdue": ("due_date",), "waiting_summary": ("since", "reason", "days"),
    "audit.created": ("channel",), "audit.status": ("from", "to"),
    "audit.resumed": ("from", "to", "due_date"), "audit.corrected": ("from", "to"),
    "audit.extended": ("due_date", "told_on"), "audit.assigned": ("to",),
    "audit.letter": ("language",), "audit.part_added": ("outcome",),
    "days.left_many": ("days",), "days.late_many": ("days",), "days.answered_late_many": ("days",),
    "receipt.sent": ("at",), "note_by": ("who", "at"),
    "reminder.subject": ("count",), "reminder.line": ("reference", "right", "due_date", "days",
                                                      "assignee"),
    "reminder.link": ("url",),
}
_PAGE_KEYS = (
    ["site_title", "skip_link", "switch_language", "nav_label", "nav_cases", "logout",
     "signed_in_as", "form_expired", "none", "error_heading", "login_title", "login_intro",
     "username", "password", "login_button", "login_failed", "login_throttled", "logged_out",
     "cases_title", "cases_intro", "cases_count", "cases_empty", "cases_caption", "filter_label",
     "filter_count", "col_reference", "col_requester", "col_right", "col_received", "col_due",
     "col_days", "col_status", "col_assignee", "overdue", "extended_mark", "unassigned",
     "case_title", "back_to_list", "section_request", "field_right", "field_on_behalf_of",
     "field_requester", "field_email", "field_phone", "field_child", "field_school",
     "field_description", "field_language", "field_channel", "field_received", "field_due",
     "field_status", "field_extension", "field_assignee", "field_waiting", "field_conversation",
     "field_receipt", "extension_summary", "not_extended", "waiting_summary", "open_conversation",
     "identity_note", "section_status", "new_status", "reason", "save_status", "case_closed",
     "status_saved", "waiting_note", "err_reason_required", "err_reason_partly",
     "err_reason_waiting", "err_reason_withdrawn", "err_reason_too_long", "err_bad_transition",
     "err_partly_needs_parts", "err_answered_has_refused", "section_extend", "extend_intro",
     "extend_reason", "told_on", "extend_button", "extended_done", "extend_overdue_note",
     "extend_waiting_note", "err_extend_reason", "err_told_on_format", "err_told_on_range",
     "err_already_extended", "err_extend_overdue", "err_extend_waiting",
     "section_assign", "assign_to", "assign_button", "assigned_done", "err_unknown_assignee",
     "section_note", "note_label", "note_button", "note_saved", "err_note_empty",
     "section_notes", "notes_empty", "note_by",
     "section_parts", "parts_intro", "parts_empty", "part_text", "part_outcome", "part_ground",
     "part_ground_none", "part_explanation", "part_add", "part_remove", "part_saved",
     "part_removed", "col_part", "col_decision", "col_ground", "err_parts_closed",
     "err_part_text", "err_part_outcome", "err_too_many_parts", "err_part_ground",
     "err_part_explanation", "err_no_such_part",
     "section_correct", "correct_intro", "correct_to", "correct_button", "corrected_done",
     "err_not_closed", "err_bad_correction", "err_correction_reason", "correction_mark",
     "section_letter", "letter_intro", "letter_sv", "letter_en", "letter_print_hint",
     "section_history", "section_audit", "col_when", "col_who", "col_what", "col_reason",
     "by_service", "audit.created", "audit.status", "audit.resumed", "audit.extended",
     "audit.viewed", "audit.letter", "audit.note", "audit.assigned", "audit.unassigned",
     "audit.corrected", "audit.part_added", "audit.part_removed", "audit.receipt_sent",
     "audit.receipt_failed", "not_found_title", "not_found_body",
     "days.left_one", "days.left_many", "days.today", "days.late_one", "days.late_many",
     "days.waiting", "days.on_time", "days.answered_late_one", "days.answered_late_many",
     "days.closed", "receipt.pending", "receipt.sent", "receipt.failed", "receipt.none",
     "reminder.subject", "reminder.intro", "reminder.overdue", "reminder.soon", "reminder.line",
     "reminder.link", "reminder.footer"]
    + [f"right.{r}" for r in RIGHTS]
    + [f"status.{s}" for s in STATUSES]
    + [f"filter.{f}" for f in FILTERS]
    + [f"outcome.{o}" for o in OUTCOMES]
    + [f"ground.{g}" for g in GROUNDS]
    + ["behalf.self", "behalf.child", "language.sv", "language.en"]
)

_LETTER_PLACEHOLDERS = {
    "greeting": ("name",), "requested": ("received", "right"), "requested_child": ("child",),
    "reference_line": ("reference",), "date_line": ("date",), "contact": ("reference",),
    "refusal_reason": ("reason",), "receipt.subject": ("reference",),
    "receipt.body": ("name", "reference", "right", "received", "due_date"),
}
_LETTER_KEYS = (
    ["sender", "title", "draft", "to", "greeting", "requested", "requested_child",
     "you_wrote", "reference_line", "date_line", "section_decision", "col_part", "col_decision",
     "section_grounds", "refusal_reason", "section_complaint", "complaint",
     "appeal", "contact", "closing", "receipt.subject", "receipt.body", "receipt.identity",
     "receipt.footer"]
    + [f"decision.{s}" for s in STATUSES]
    + [f"outcome.{o}" for o in OUTCOMES]
    + [f"ground.{g}" for g in GROUNDS]
)

PAGE_TEXTS = {PAGES_PREFIX + key: _PAGE_PLACEHOLDERS.get(key, ()) for key in _PAGE_KEYS}
LETTER_TEXTS = {LETTER_PREFIX + key: _LETTER_PLACEHOLDERS.get(key, ()) for key in _LETTER_KEYS}
REQUIRED_TEXTS = {**PAGE_TEXTS, **LETTER_TEXTS}
