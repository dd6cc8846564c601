"""The response letter to the requester, as a page staff print or save as PDF from the browser.

The letter is in Swedish or English (the requester's language unless staff choose the other),
its every sentence from `knowledge/texts/dsr_letter.yaml` so staff edit it without code: who
writes, to whom, the reference and date, what was requested, the decision (per part when parts
are recorded, `parts.py`), the legal grounds of any refusal, the right to complain to IMY and to
appeal, and whom to contact. A case still open is marked as a draft. The print stylesheet
(`pages.CSS`) leaves out the navigation and the staff's hints.
"""
from __future__ import annotations

import html
from datetime import date

from aiohttp import web

from .cases import FINAL_STATUSES, is_open
from .config import StaffSession
from .pages import Texts, layout, url
from .textkeys import LETTER_PREFIX


def paragraphs(text: str, css: str = "") -> str:
    """Turn escaped text into paragraphs: a blank line starts a new one, a newline breaks a line."""
    cls = f' class="{css}"' if css else ""
    return "".join(f"<p{cls}>{block.strip().replace(chr(10), '<br>')}</p>"
                   for block in text.split("\n\n") if block.strip())


def _refusal_reason(case: dict) -> str | None:
    """Return the reason given when the case was last closed as refused or partly granted."""
    for entry in reversed(case.get("history") or []):
        if entry.get("status") in FINAL_STATUSES:
            return entry.get("reason") if entry["status"] in ("refused", "partly_granted") else None
    return None


def _decision(lt: Texts, case: dict) -> list[str]:
    """The decision: a sentence for the status, the parts and their outcomes, then each refused
    part with its legal ground."""
    out = [f'<h2>{lt("section_decision")}</h2>', paragraphs(lt(f"decision.{case['status']}"))]
    parts = case.get("parts") or []
    if parts:
        rows = "".join(f'<tr><td>{html.escape(p["text"])}</td><td>{lt("outcome." + p["outcome"])}</td></tr>'
                       for p in parts)
        out.append(f'<div class="table-wrap"><table><thead><tr><th scope="col">{lt("col_part")}</th>'
                   f'<th scope="col">{lt("col_decision")}</th></tr></thead><tbody>{rows}</tbody></table></div>')
    refused = [p for p in parts if p["outcome"] == "refused"]
    reason = _refusal_reason(case)
    if refused or reason:
        grounds = "".join(f'<li><p>{html.escape(p["text"])}: {lt("ground." + p["ground"])}</p>'
                          + (paragraphs(html.escape(p["explanation"])) if p.get("explanation") else "")
                          + "</li>" for p in refused)
        out.append(f'<h2>{lt("section_grounds")}</h2>' + (f"<ul>{grounds}</ul>" if grounds else "")
                   + (paragraphs(lt("refusal_reason", reason=reason)) if reason else ""))
    return out


def _heading(lt: Texts, t: Texts, case: dict, today: date) -> list[str]:
    """Sender, recipient, reference, date, title and what was requested."""
    requester = case["requester"]
    recipient = "<br>".join(html.escape(v) for v in (requester.get("name"), requester.get("email"))
                            if v)
    child = (case.get("child") or {}).get("name")
    out = [f'<p class="draft">{lt("draft")}</p>' if is_open(case) else "",
           paragraphs(lt("sender"), "sender"),
           f'<p class="meta">{lt("to")}<br>{recipient}<br>{lt("reference_line", reference=case["reference"])}'
           f'<br>{lt("date_line", date=today.isoformat())}</p>',
           f'<h1>{lt("title")}</h1>', paragraphs(lt("greeting", name=requester.get("name") or "")),
           paragraphs(lt("requested", received=case["received_date"],
                         right=html.unescape(t("right." + case["right"])))
                      + (" " + lt("requested_child", child=child) if child else ""))]
    if case.get("description"):
        out.append(f'<p>{lt("you_wrote")}</p><blockquote><p class="description">'
                   f'{html.escape(case["description"])}</p></blockquote>')
    return out


def letter_page(request: web.Request, t: Texts, session: StaffSession, case: dict,
                today: date) -> web.Response:
    """Render the response letter of `case` in `t.lang`, ready to print."""
    lt = t.other(prefix=LETTER_PREFIX)
    refused = case["status"] in ("refused", "partly_granted") or any(
        p["outcome"] == "refused" for p in case.get("parts") or [])
    back = html.escape(url(request, "case", t.lang, reference=case["reference"]))
    body = [f'<p class="no-print"><a href="{back}">{t("case_title", reference=case["reference"])}</a></p>',
            f'<p class="no-print">{t("letter_print_hint")}</p>',
            '<article class="letter">', *_heading(lt, t, case, today), *_decision(lt, case),
            f'<h2>{lt("section_complaint")}</h2>', paragraphs(lt("complaint")),
            paragraphs(lt("appeal")) if refused else "",
            paragraphs(lt("contact", reference=case["reference"])),
            paragraphs(lt("closing"), "closing"), "</article>"]
    return layout(request, t, lt("title"), "\n".join(b for b in body if b), session)
