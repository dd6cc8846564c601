"""The case list page: the filters as links (the chosen one marked aria-current), then a table
with the requester, the right, the due date, the days left in words and the assignee.

Which cases a filter shows and in what order is `worklist.py`; this module only draws them.
"""
from __future__ import annotations

import html
from datetime import date

from aiohttp import web

from .cases import effective_due, is_overdue
from .config import StaffSession
from .pages import Texts, layout, local_time, url
from .worklist import FILTERS, counts, days_left, select


def due_cell(t: Texts, case: dict, today: date, mark_extension: bool) -> str:
    """Render a case's due date (a waiting case's as if the wait ended today), marked when
    extended (in the list) and when overdue."""
    due = f'<span class="nowrap">{effective_due(case, today).isoformat()}</span>'
    if mark_extension and case.get("extension"):
        due += f' ({t("extended_mark")})'
    if is_overdue(case, today):
        due += f' <strong class="overdue">{t("overdue")}</strong>'
    return due


def days_text(t: Texts, case: dict, today: date) -> str:
    """Say in words how many days the case has left (or how it ended against its deadline)."""
    left = days_left(case, today)
    if left.kind in ("left", "late", "answered_late"):
        if left.days == 1:
            return t(f"days.{left.kind}_one")
        return t(f"days.{left.kind}_many", days=left.days)
    return t(f"days.{left.kind}")


def _filters(request: web.Request, t: Texts, chosen: str, numbers: dict[str, int]) -> str:
    """Render the filter links, the chosen one marked as the current page."""
    items = []
    for name in FILTERS:
        href = html.escape(url(request, "cases", t.lang, query={"filter": name}))
        current = ' aria-current="page"' if name == chosen else ""
        label = t("filter_count", label=html.unescape(t(f"filter.{name}")), count=numbers[name])
        items.append(f'<li><a href="{href}"{current}>{label}</a></li>')
    return f'<nav class="filters no-print" aria-label="{t("filter_label")}"><ul>{"".join(items)}</ul></nav>'


def _row(request: web.Request, t: Texts, case: dict, today: date) -> str:
    link = html.escape(url(request, "case", t.lang, reference=case["reference"]))
    late = ' class="overdue"' if is_overdue(case, today) else ""
    assignee = html.escape(case["assignee"]) if case.get("assignee") else t("unassigned")
    return (f'<tr><th scope="row" class="nowrap"><a href="{link}">{html.escape(case["reference"])}</a></th>'
            f'<td>{html.escape(case["requester"].get("name") or "")}</td>'
            f'<td>{t("right." + case["right"])}</td>'
            f'<td class="nowrap">{html.escape(local_time(case["received_at"]))}</td>'
            f'<td>{due_cell(t, case, today, mark_extension=True)}</td>'
            f'<td{late}>{days_text(t, case, today)}</td>'
            f'<td>{t("status." + case["status"])}</td><td>{assignee}</td></tr>')


def cases_page(request: web.Request, t: Texts, session: StaffSession, every: list[dict],
               today: date, chosen: str) -> web.Response:
    """List the cases of filter `chosen`, with the filters and their counts above."""
    numbers = counts(every, today, session.username)
    shown = select(every, chosen, today, session.username)
    parts = [f'<h1>{t("cases_title")}</h1>', f'<p>{t("cases_intro")}</p>',
             _filters(request, t, chosen, numbers),
             f'<p>{t("cases_count", count=len(shown), overdue=sum(is_overdue(c, today) for c in shown))}</p>']
    if not shown:
        parts.append(f'<p>{t("cases_empty")}</p>')
    else:
        columns = ("col_reference", "col_requester", "col_right", "col_received", "col_due",
                   "col_days", "col_status", "col_assignee")
        head = "".join(f'<th scope="col">{t(c)}</th>' for c in columns)
        caption = t("cases_caption", filter=html.unescape(t(f"filter.{chosen}")))
        parts.append(
            f'<div class="table-wrap" role="region" aria-labelledby="cases-caption" tabindex="0">'
            f'<table><caption id="cases-caption">{caption}</caption><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(_row(request, t, c, today) for c in shown)}</tbody></table></div>')
    return layout(request, t, t("cases_title"), "\n".join(parts), session)
