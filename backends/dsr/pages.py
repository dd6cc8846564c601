"""HTML for the data-rights staff pages: plain forms, no JavaScript, every sentence from knowledge/.

Every value is escaped here; the words come from `knowledge/texts/dsr_pages.yaml` through `Texts`.
The pages are accessible by construction: a `lang` attribute, a skip link, one h1, labelled
fields, tables with captions or headings and scoped header cells, errors announced with
role="alert", and a language switch marked with its own language. One inline stylesheet, allowed
by its hash in the Content-Security-Policy.
"""
from __future__ import annotations

import base64
import hashlib
import html
from datetime import date, datetime
from pathlib import Path

from aiohttp import web

from backends import texts as texts_file
from backends.httpkit import pick_language

from .cases import MAX_REASON, STATUSES, TRANSITIONS, TZ, Refused, is_overdue
from .config import CONFIG_KEY, MAX_PASSWORD, StaffSession
from .validation import RIGHTS

TEXTS_FILE = Path("texts") / "dsr_pages.yaml"
TEXT_PREFIX = "dsr_pages."

# Every text the pages use, with the placeholders the code fills in.
PLACEHOLDERS = {
    "signed_in_as": ("username",), "login_throttled": ("seconds",),
    "cases_count": ("count", "overdue"), "case_title": ("reference",),
    "extension_summary": ("reason", "told_on"), "err_bad_transition": ("from", "to"),
    "extend_intro": ("due_date",), "err_told_on_range": ("received", "due_date"),
    "audit.created": ("channel",), "audit.status": ("from", "to"),
    "audit.extended": ("due_date", "told_on"),
}
REQUIRED_TEXTS = {TEXT_PREFIX + key: PLACEHOLDERS.get(key, ()) for key in (
    ["site_title", "skip_link", "switch_language", "nav_label", "nav_cases", "logout",
     "signed_in_as", "form_expired", "none", "error_heading", "login_title", "login_intro",
     "username", "password", "login_button", "login_failed", "login_throttled", "logged_out",
     "cases_title", "cases_intro", "cases_count", "cases_empty", "cases_caption",
     "col_reference", "col_right", "col_received", "col_due", "col_status", "overdue",
     "extended_mark", "case_title", "back_to_list", "section_request", "field_right",
     "field_on_behalf_of", "field_requester", "field_email", "field_phone", "field_child",
     "field_school", "field_description", "field_language", "field_channel", "field_received",
     "field_due", "field_status", "field_extension", "extension_summary", "not_extended",
     "identity_note", "section_status", "new_status", "reason", "save_status", "case_closed",
     "status_saved", "err_reason_required", "err_reason_too_long", "err_bad_transition",
     "section_extend", "extend_intro", "extend_reason", "told_on", "extend_button",
     "extended_done", "err_extend_reason", "err_told_on_format", "err_told_on_range",
     "err_already_extended", "section_history", "section_audit", "col_when", "col_who",
     "col_what", "col_reason", "by_service", "audit.created", "audit.status", "audit.extended",
     "not_found_title", "not_found_body"]
    + [f"right.{r}" for r in RIGHTS]
    + [f"status.{s}" for s in STATUSES]
    + ["behalf.self", "behalf.child", "language.sv", "language.en"]
)}

CSS = """
:root{color-scheme:light}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;line-height:1.5;margin:0;
color:#1a1a1a;background:#fff;font-size:1rem}
header,main{max-width:72rem;margin:0 auto;padding:1rem}
header{border-bottom:1px solid #595959;display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;
align-items:center;justify-content:space-between}
header p{margin:0;font-weight:bold}
nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center}
a{color:#0645ad}
a:visited{color:#5a2a82}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,
textarea:focus-visible,[tabindex]:focus-visible{outline:3px solid #b34700;outline-offset:2px}
a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #b34700;outline-offset:2px}
.skip{position:absolute;left:-10000px;top:auto}
.skip:focus{position:static;display:inline-block;padding:.5rem;background:#fff}
.table-wrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-weight:bold;padding:.25rem 0}
th,td{border:1px solid #767676;padding:.4rem .5rem;text-align:left;vertical-align:top}
thead th{background:#f0f0f0}
.overdue{font-weight:bold;color:#8b0000}
.error{border:2px solid #8b0000;padding:.5rem 1rem;color:#8b0000;background:#fff}
.notice{border:2px solid #1d6b2f;padding:.5rem 1rem;color:#14501f}
label{display:block;font-weight:bold;margin-top:.75rem}
input,select,textarea,button{font:inherit;max-width:100%;color:#1a1a1a}
input,select,textarea{border:1px solid #595959;padding:.35rem;background:#fff}
textarea{width:100%;min-height:5rem}
button{margin-top:.75rem;padding:.4rem 1rem;border:2px solid #0b3d91;background:#0b3d91;color:#fff;
cursor:pointer}
button.link{background:none;border:none;color:#0645ad;text-decoration:underline;padding:0;margin:0}
.description{white-space:pre-wrap;overflow-wrap:anywhere;margin:0}
dl{display:grid;grid-template-columns:minmax(9rem,max-content) 1fr;gap:.25rem 1rem}
dt{font-weight:bold}
dd{margin:0;overflow-wrap:anywhere}
@media (max-width:30rem){dl{grid-template-columns:1fr}dd{margin-bottom:.5rem}}
""".strip()
CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode("utf-8")).digest()).decode("ascii")
CSP = (f"default-src 'none'; style-src 'sha256-{CSS_HASH}'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


# Texts ----------------------------------------------------------------------------------------

def load_texts(knowledge_dir: Path) -> dict:
    """Load the staff pages' texts (`texts/dsr_pages.yaml`), failing early on a broken file."""
    return texts_file.load_texts(Path(knowledge_dir) / TEXTS_FILE, REQUIRED_TEXTS)


def check_texts(texts: dict) -> None:
    """Raise ValueError naming every text the pages need but `texts` lacks or spoils."""
    problems = texts_file.text_problems(texts, REQUIRED_TEXTS)
    if problems:
        raise ValueError("dsr_pages.yaml: " + "; ".join(problems))


class Texts:
    """Give a page its sentences in one language, HTML-escaped, placeholders filled in."""

    def __init__(self, texts: dict, lang: str) -> None:
        self._texts = texts
        self.lang = lang

    def __call__(self, key: str, **values: object) -> str:
        """Return the escaped text of `key` with escaped `values` in its placeholders."""
        template = html.escape(self._texts[TEXT_PREFIX + key][self.lang], quote=False)
        if not values:
            return template.replace("{{", "{").replace("}}", "}")
        return template.format(**{k: html.escape(str(v)) for k, v in values.items()})


def texts_for(request: web.Request) -> Texts:
    """Return the texts in the language this request asks for."""
    return Texts(request.app[CONFIG_KEY].texts, pick_language(request))


def status_name(t: Texts, status: object) -> str:
    """Return a status's display name as plain text (unescaped; Texts escapes it again)."""
    if status in STATUSES:
        return html.unescape(t(f"status.{status}"))
    return str(status)


def _named_statuses(t: Texts, values: dict) -> dict:
    """Replace the status codes under "from" and "to" with their display names."""
    return {k: status_name(t, v) if k in ("from", "to") else v for k, v in values.items()}


def refusal_text(t: Texts, refused: Refused) -> str:
    """Say in the page's language why a change was refused."""
    return t(refused.key, **_named_statuses(t, refused.values))


# Links and values -----------------------------------------------------------------------------

def url(request: web.Request, name: str, lang: str | None = None, **parts: str) -> str:
    """Build the URL of a named route of this app (prefix included when mounted)."""
    target = request.app.router[name].url_for(**parts)
    if lang:
        target = target.with_query(lang=lang)
    return str(target)


def base_path(request: web.Request) -> str:
    """Return the app's root path ("/" alone, "/dsr/" when mounted), for the cookie path."""
    login = str(request.app.router["login"].url_for())
    return login[: -len("login")]


def local_time(iso: str) -> str:
    """Render a stored ISO time as Stockholm local "YYYY-MM-DD HH:MM"."""
    try:
        return datetime.fromisoformat(iso).astimezone(TZ).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return iso


def _csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{html.escape(token)}">'


def _due(t: Texts, case: dict, today: date, mark_extension: bool) -> str:
    """Render a case's due date, marked when extended (in the list) and when overdue."""
    due = html.escape(case["due_date"])
    if mark_extension and case.get("extension"):
        due += f' ({t("extended_mark")})'
    if is_overdue(case, today):
        due += f' <strong class="overdue">{t("overdue")}</strong>'
    return due


# The layout -----------------------------------------------------------------------------------

def _nav(request: web.Request, t: Texts, session: StaffSession | None) -> str:
    """Render the navigation: the case list, the language switch, who is signed in, log out."""
    other = "en" if t.lang == "sv" else "sv"
    switch = str(request.rel_url.with_query(lang=other).path_qs)
    items = [f'<li><a href="{html.escape(switch)}" lang="{other}" hreflang="{other}">'
             f'{t("switch_language")}</a></li>']
    if session is not None:
        items.insert(0, f'<li><a href="{html.escape(url(request, "cases", t.lang))}">'
                        f'{t("nav_cases")}</a></li>')
        items.append(f'<li>{t("signed_in_as", username=session.username)}</li>')
        items.append(
            f'<li><form method="post" action="{html.escape(url(request, "logout", t.lang))}">'
            f'{_csrf_field(session.csrf)}'
            f'<button type="submit" class="link">{t("logout")}</button></form></li>')
    return f'<nav aria-label="{t("nav_label")}"><ul>{"".join(items)}</ul></nav>'


def layout(request: web.Request, t: Texts, title: str, body: str,
           session: StaffSession | None, status: int = 200) -> web.Response:
    """Wrap page content in the accessible layout every staff page shares."""
    doc = (
        f'<!doctype html>\n<html lang="{t.lang}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<title>{title} – {t("site_title")}</title>\n<style>{CSS}</style>\n</head>\n<body>\n'
        f'<a class="skip" href="#main">{t("skip_link")}</a>\n'
        f'<header><p>{t("site_title")}</p>{_nav(request, t, session)}</header>\n'
        f'<main id="main" tabindex="-1">\n{body}\n</main>\n</body>\n</html>\n'
    )
    resp = web.Response(text=doc, status=status, content_type="text/html", charset="utf-8")
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    return resp


def error_page(request: web.Request, t: Texts, session: StaffSession | None, message: str,
               status: int) -> web.Response:
    """Render an error (an expired form) with its heading."""
    body = f'<h1>{t("error_heading")}</h1><p class="error" role="alert">{message}</p>'
    return layout(request, t, t("error_heading"), body, session, status=status)


def not_found_page(request: web.Request, t: Texts, session: StaffSession) -> web.Response:
    """Render the page for an unknown case reference."""
    body = (f'<h1>{t("not_found_title")}</h1><p>{t("not_found_body")}</p>'
            f'<p><a href="{html.escape(url(request, "cases", t.lang))}">{t("back_to_list")}</a></p>')
    return layout(request, t, t("not_found_title"), body, session, status=404)


def login_page(request: web.Request, t: Texts, csrf: str, *, error: str | None = None,
               notice: str | None = None, status: int = 200, username: str = "") -> web.Response:
    """Render the login form carrying the double-submit CSRF token `csrf`."""
    parts = [f'<h1>{t("login_title")}</h1>', f'<p>{t("login_intro")}</p>']
    if error:
        parts.append(f'<p class="error" role="alert" id="login-error">{error}</p>')
    if notice:
        parts.append(f'<p class="notice" role="status">{notice}</p>')
    described = ' aria-describedby="login-error"' if error else ""
    parts.append(
        f'<form method="post" action="{html.escape(url(request, "login", t.lang))}">'
        f'<input type="hidden" name="csrf" value="{csrf}">'
        f'<label for="username">{t("username")}</label>'
        f'<input id="username" name="username" type="text" autocomplete="username" required '
        f'maxlength="64" value="{html.escape(username)}"{described}>'
        f'<label for="password">{t("password")}</label>'
        f'<input id="password" name="password" type="password" autocomplete="current-password" '
        f'required maxlength="{MAX_PASSWORD}"{described}>'
        f'<div><button type="submit">{t("login_button")}</button></div></form>')
    return layout(request, t, t("login_title"), "\n".join(parts), None, status=status)


# The case list --------------------------------------------------------------------------------

def cases_page(request: web.Request, t: Texts, session: StaffSession, cases: list[dict],
               today: date) -> web.Response:
    """List the cases (in the order given), overdue ones marked in words."""
    overdue = sum(is_overdue(c, today) for c in cases)
    parts = [f'<h1>{t("cases_title")}</h1>', f'<p>{t("cases_intro")}</p>',
             f'<p>{t("cases_count", count=len(cases), overdue=overdue)}</p>']
    if not cases:
        parts.append(f'<p>{t("cases_empty")}</p>')
    else:
        rows = "".join(
            f'<tr><th scope="row"><a href="{html.escape(url(request, "case", t.lang, reference=c["reference"]))}">'
            f'{html.escape(c["reference"])}</a></th>'
            f'<td>{t("right." + c["right"])}</td>'
            f'<td>{html.escape(local_time(c["received_at"]))}</td>'
            f'<td>{_due(t, c, today, mark_extension=True)}</td>'
            f'<td>{t("status." + c["status"])}</td></tr>' for c in cases)
        parts.append(
            f'<div class="table-wrap" role="region" aria-labelledby="cases-caption" tabindex="0">'
            f'<table><caption id="cases-caption">{t("cases_caption")}</caption><thead><tr>'
            f'<th scope="col">{t("col_reference")}</th><th scope="col">{t("col_right")}</th>'
            f'<th scope="col">{t("col_received")}</th><th scope="col">{t("col_due")}</th>'
            f'<th scope="col">{t("col_status")}</th></tr></thead><tbody>'
            + rows + "</tbody></table></div>")
    return layout(request, t, t("cases_title"), "\n".join(parts), session)


# One case -------------------------------------------------------------------------------------

def _value(t: Texts, value: object) -> str:
    """Render a stored value escaped, or "none" in words when it is empty."""
    return html.escape(str(value)) if value not in (None, "") else f'<em>{t("none")}</em>'


def _who(t: Texts, by: str) -> str:
    """Render who made a change: a staff username, or the service itself."""
    return t("by_service") if by == "api" else html.escape(by)


def _audit_text(t: Texts, entry: dict) -> str:
    """Describe one audit entry in the page's language."""
    action = entry.get("action")
    if action == "created":
        return t("audit.created", channel=entry.get("channel", ""))
    if action == "status":
        return t("audit.status", **_named_statuses(t, {"from": entry.get("from"),
                                                       "to": entry.get("to")}))
    if action == "extended":
        return t("audit.extended", due_date=entry.get("due_date", ""),
                 told_on=entry.get("told_on", ""))
    return html.escape(str(action))


def _outcome(request: web.Request, t: Texts, error: str | None) -> list[str]:
    """Render what the last form did: its error, or that the change was saved."""
    done = request.query.get("done")
    if error:
        return [f'<div class="error" role="alert"><h2>{t("error_heading")}</h2><p>{error}</p></div>']
    if done == "status":
        return [f'<p class="notice" role="status">{t("status_saved")}</p>']
    if done == "extended":
        return [f'<p class="notice" role="status">{t("extended_done")}</p>']
    return []


def _details(t: Texts, case: dict, today: date) -> str:
    """Render the request as filed, with its status and deadline."""
    ext = case.get("extension")
    ext_text = (t("extension_summary", reason=ext["reason"], told_on=ext["told_on"])
                if ext else t("not_extended"))
    child = case.get("child") or {}
    requester = case["requester"]
    fields = [
        ("field_status", t("status." + case["status"])),
        ("field_due", _due(t, case, today, mark_extension=False)),
        ("field_extension", ext_text),
        ("field_received", html.escape(local_time(case["received_at"]))),
        ("field_right", t("right." + case["right"])),
        ("field_on_behalf_of", t("behalf." + case["on_behalf_of"])),
        ("field_requester", _value(t, requester.get("name"))),
        ("field_email", _value(t, requester.get("email"))),
        ("field_phone", _value(t, requester.get("phone"))),
        ("field_child", _value(t, child.get("name"))),
        ("field_school", _value(t, child.get("school"))),
        ("field_language", t("language." + case["language"])),
        ("field_channel", _value(t, case.get("channel"))),
        ("field_description", f'<p class="description">{_value(t, case.get("description"))}</p>'),
    ]
    rows = "".join(f"<dt>{t(key)}</dt><dd>{value}</dd>" for key, value in fields)
    return f'<h2>{t("section_request")}</h2><dl>{rows}</dl><p>{t("identity_note")}</p>'


def _status_form(request: web.Request, t: Texts, case: dict, csrf: str, form: dict) -> list[str]:
    """Render the form that moves the case on (or that it is closed)."""
    heading = f'<h2 id="status-heading">{t("section_status")}</h2>'
    next_statuses = TRANSITIONS.get(case["status"], ())
    if not next_statuses:
        return [heading, f'<p>{t("case_closed")}</p>']
    chosen = form.get("status")
    options = "".join(
        f'<option value="{s}"{" selected" if s == chosen else ""}>{t("status." + s)}</option>'
        for s in next_statuses)
    action = url(request, "case_status", t.lang, reference=case["reference"])
    return [heading,
            f'<form method="post" action="{html.escape(action)}" '
            f'aria-labelledby="status-heading">{_csrf_field(csrf)}'
            f'<label for="status">{t("new_status")}</label><select id="status" name="status">{options}</select>'
            f'<label for="reason">{t("reason")}</label>'
            f'<textarea id="reason" name="reason" maxlength="{MAX_REASON}">'
            f'{html.escape(form.get("reason", ""))}</textarea>'
            f'<div><button type="submit">{t("save_status")}</button></div></form>']


def _extend_form(request: web.Request, t: Texts, case: dict, csrf: str, form: dict) -> list[str]:
    """Render the form that extends the deadline (only for an open case not yet extended)."""
    if not TRANSITIONS.get(case["status"]) or case.get("extension"):
        return []
    action = url(request, "case_extend", t.lang, reference=case["reference"])
    return [f'<h2 id="extend-heading">{t("section_extend")}</h2>'
            f'<p>{t("extend_intro", due_date=case["original_due_date"])}</p>'
            f'<form method="post" action="{html.escape(action)}" '
            f'aria-labelledby="extend-heading">{_csrf_field(csrf)}'
            f'<label for="extend-reason">{t("extend_reason")}</label>'
            f'<textarea id="extend-reason" name="reason" required maxlength="{MAX_REASON}">'
            f'{html.escape(form.get("extend_reason", ""))}</textarea>'
            f'<label for="told-on">{t("told_on")}</label>'
            f'<input id="told-on" name="told_on" type="date" required '
            f'min="{case["received_date"]}" max="{case["original_due_date"]}" '
            f'value="{html.escape(form.get("told_on", ""))}">'
            f'<div><button type="submit">{t("extend_button")}</button></div></form>']


def _table(name: str, heading: str, columns: list[str], rows: list[list[str]]) -> str:
    """Render a headed table in a scrollable region (the case's history and audit log)."""
    head = "".join(f'<th scope="col">{column}</th>' for column in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return (f'<h2 id="{name}-heading">{heading}</h2>'
            f'<div class="table-wrap" role="region" aria-labelledby="{name}-heading" tabindex="0"><table>'
            f'<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>')


def case_page(request: web.Request, t: Texts, session: StaffSession, case: dict,
              audit: list[dict], today: date, *, error: str | None = None, status: int = 200,
              form: dict | None = None) -> web.Response:
    """Render one case: the request, its deadline, the forms to act on it, history and audit.
    `form` holds what staff typed when a change was refused, to show it again."""
    form = form or {}
    ref = case["reference"]
    history = [[html.escape(local_time(h["at"])), _who(t, h["by"]), t("status." + h["status"]),
                _value(t, h.get("reason"))] for h in case.get("history", [])]
    log = [[html.escape(local_time(a["at"])), _who(t, a["by"]), _audit_text(t, a),
            _value(t, a.get("reason"))] for a in audit]
    parts = [f'<p><a href="{html.escape(url(request, "cases", t.lang))}">{t("back_to_list")}</a></p>',
             f'<h1>{t("case_title", reference=ref)}</h1>',
             *_outcome(request, t, error),
             _details(t, case, today),
             *_status_form(request, t, case, session.csrf, form),
             *_extend_form(request, t, case, session.csrf, form),
             _table("history", t("section_history"),
                    [t("col_when"), t("col_who"), t("col_status"), t("col_reason")], history),
             _table("audit", t("section_audit"),
                    [t("col_when"), t("col_who"), t("col_what"), t("col_reason")], log)]
    return layout(request, t, t("case_title", reference=ref), "\n".join(parts), session,
                  status=status)
