"""The frame of the data-rights staff pages: plain forms, no JavaScript, every sentence from
knowledge/. The case list is drawn in `listing.py`, one case in `case_view.py`, the response
letter in `letter.py`; this module holds what they share (texts, links, the layout, login and
error pages).

Every value is escaped; the words come from `knowledge/texts/dsr_pages.yaml` (and the letter's
from `dsr_letter.yaml`) through `Texts`.
The pages are accessible by construction: a `lang` attribute, a skip link, one h1, labelled
fields, tables with captions or headings and scoped header cells, errors announced with
role="alert", and a language switch marked with its own language. One inline stylesheet, allowed
by its hash in the Content-Security-Policy, with print rules (the letter is printed or saved as
PDF from the browser; the navigation and forms are not printed).
"""
from __future__ import annotations

import base64
import hashlib
import html
from datetime import datetime
from pathlib import Path

from aiohttp import web

from backends import texts as texts_file
from backends.httpkit import pick_language

from .cases import STATUSES, TZ, Refused
from .config import CONFIG_KEY, MAX_PASSWORD, StaffSession
from .textkeys import LETTER_FILE, LETTER_TEXTS, PAGE_TEXTS, PAGES_FILE, PAGES_PREFIX, REQUIRED_TEXTS

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
.nowrap{white-space:nowrap}
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
.filters ul{list-style:none;margin:0 0 1rem;padding:0;display:flex;flex-wrap:wrap;gap:.5rem}
.filters a{display:inline-block;padding:.3rem .7rem;border:1px solid #0b3d91;border-radius:1rem;
text-decoration:none}
.filters a[aria-current=page]{background:#0b3d91;color:#fff;font-weight:bold}
.inline{display:inline;margin:0}
.inline button{margin:0}
.letter{max-width:44rem;border:1px solid #767676;padding:2rem;margin:1rem 0;overflow-wrap:anywhere}
.letter table{table-layout:fixed}
.letter h1{font-size:1.5rem}
@media (max-width:30rem){.letter{padding:1rem .5rem}}
.letter .sender{white-space:pre-line;margin:0 0 1.5rem}
.letter .meta{margin:0 0 1.5rem}
.letter .closing{white-space:pre-line;margin-top:2rem}
.draft{border:2px dashed #8b0000;color:#8b0000;padding:.25rem .75rem;font-weight:bold}
@media print{header,.skip,.no-print{display:none}
body{font-size:11pt;color:#000}main{max-width:none;padding:0}
.letter{border:none;padding:0;margin:0;max-width:none}a{color:#000;text-decoration:none}
.table-wrap{overflow:visible}th,td{border-color:#000}}
""".strip()
CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode("utf-8")).digest()).decode("ascii")
CSP = (f"default-src 'none'; style-src 'sha256-{CSS_HASH}'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


# Texts ----------------------------------------------------------------------------------------

def load_texts(knowledge_dir: Path) -> dict:
    """Load the pages' and the letter's texts (`texts/dsr_pages.yaml`, `texts/dsr_letter.yaml`),
    failing early on a broken file."""
    root = Path(knowledge_dir)
    return {**texts_file.load_texts(root / PAGES_FILE, PAGE_TEXTS),
            **texts_file.load_texts(root / LETTER_FILE, LETTER_TEXTS)}


def check_texts(texts: dict) -> None:
    """Raise ValueError naming every text the backend needs but `texts` lacks or spoils."""
    problems = texts_file.text_problems(texts, REQUIRED_TEXTS)
    if problems:
        raise ValueError("dsr_pages.yaml / dsr_letter.yaml: " + "; ".join(problems))


class Texts:
    """Give a page its sentences in one language, HTML-escaped, placeholders filled in."""

    def __init__(self, texts: dict, lang: str, prefix: str = PAGES_PREFIX) -> None:
        self._texts = texts
        self.lang = lang
        self.prefix = prefix

    def plain(self, key: str, **values: object) -> str:
        """Return the text of `key` unescaped, for an e-mail (placeholders filled in)."""
        template = self._texts[self.prefix + key][self.lang]
        if not values:
            return template.replace("{{", "{").replace("}}", "}")
        return template.format(**{k: str(v) for k, v in values.items()})

    def __call__(self, key: str, **values: object) -> str:
        """Return the escaped text of `key` with escaped `values` in its placeholders."""
        template = html.escape(self._texts[self.prefix + key][self.lang], quote=False)
        if not values:
            return template.replace("{{", "{").replace("}}", "}")
        return template.format(**{k: html.escape(str(v)) for k, v in values.items()})

    def other(self, lang: str | None = None, prefix: str | None = None) -> "Texts":
        """Return these texts in another language or file (prefix)."""
        return Texts(self._texts, lang or self.lang, prefix or self.prefix)


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

def url(request: web.Request, name: str, lang: str | None = None, query: dict | None = None,
        **parts: str) -> str:
    """Build the URL of a named route of this app (prefix included when mounted)."""
    target = request.app.router[name].url_for(**parts)
    if lang or query:
        target = target.with_query({**({"lang": lang} if lang else {}), **(query or {})})
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


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{html.escape(token)}">'


# The layout -----------------------------------------------------------------------------------

def _nav(request: web.Request, t: Texts, session: StaffSession | None) -> str:
    """Render the navigation: the case list, the language switch, who is signed in, log out."""
    other = "en" if t.lang == "sv" else "sv"
    kept = {k: v for k, v in request.query.items() if k not in ("lang", "done")}
    switch = str(request.rel_url.with_query({**kept, "lang": other}).path_qs)
    items = [f'<li><a href="{html.escape(switch)}" lang="{other}" hreflang="{other}">'
             f'{t("switch_language")}</a></li>']
    if session is not None:
        items.insert(0, f'<li><a href="{html.escape(url(request, "cases", t.lang))}">'
                        f'{t("nav_cases")}</a></li>')
        items.append(f'<li>{t("signed_in_as", username=session.username)}</li>')
        items.append(
            f'<li><form method="post" action="{html.escape(url(request, "logout", t.lang))}">'
            f'{csrf_field(session.csrf)}'
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
