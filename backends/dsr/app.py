"""The data-rights backend's aiohttp app: the machine API the bot files requests with, and the
staff pages where case officers handle them.

Routes are relative to the app's root, so the app runs alone (`python -m backends.dsr`) or mounted
with `root.add_subapp("/dsr/", app)`. Machine API (`api/requests…`) takes the shared bearer token;
staff pages take a login (argon2id-hashed passwords, a random server-side session token in an
HttpOnly, SameSite=Strict cookie, a CSRF token in every form).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Awaitable, Callable
from zoneinfo import ZoneInfo

import yaml
from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from common.loginguard import Attempt, LoginGuard, retry_after_header
from common.netaddr import ClientAddresses

from .deadline import due_date, extended_due_date
from .store import CaseNotFound, DsrStore, IdempotencyConflict, change_staff_sync, upsert_staff_sync
from .validation import (
    REFERENCE_RE,
    RIGHTS,
    RequestError,
    valid_idempotency_key,
    validate_request,
)

log = logging.getLogger(__name__)

TZ = ZoneInfo("Europe/Stockholm")
TEXTS_FILE = Path("texts") / "dsr_pages.yaml"
TEXT_PREFIX = "dsr_pages."
LANGS = ("sv", "en")

MAX_BODY_BYTES = 256 * 1024
MAX_REASON = 2000
SESSION_COOKIE = "dsr_session"
LOGIN_COOKIE = "dsr_login"
SESSION_IDLE_SECONDS = 8 * 3600
SESSION_LIFETIME_SECONDS = 12 * 3600
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024

STATUSES = ("received", "identity_verified", "in_progress", "answered", "refused")
FINAL_STATUSES = ("answered", "refused")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("identity_verified", "refused"),
    "identity_verified": ("in_progress", "refused"),
    "in_progress": ("answered", "refused"),
    "answered": (),
    "refused": (),
}

# Keys every texts file must define, in both languages; checked when the app is built.
REQUIRED_TEXTS = (
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
)

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


def _aware_now() -> datetime:
    """Return the current time, timezone-aware (UTC)."""
    return datetime.now(timezone.utc)


@dataclass
class DsrConfig:
    """Configure one DSR backend: where it stores, the bot's token, its texts and its clock."""

    data_dir: Path
    token: str
    texts: dict
    clock: Callable[[], datetime] = field(default=_aware_now)
    secure_cookies: bool = False
    # However busy, a session ends this long after its login (idle sessions end sooner).
    session_lifetime: float = SESSION_LIFETIME_SECONDS
    clients: ClientAddresses = field(default_factory=ClientAddresses)
    # Seconds for sessions and login throttles, apart from `clock` (the cases' calendar, which
    # `serve --now` and the tests move by months).
    timer: Callable[[], float] = field(default=time.monotonic)


@dataclass
class StaffSession:
    """Remember one signed-in staff member (kept server-side; the cookie holds a random token)."""

    username: str
    csrf: str
    expires: float  # the idle limit, renewed while used
    ends: float = float("inf")  # the absolute limit, never renewed
    epoch: str = ""  # the login's session epoch at login: a new password or disabling changes it


class PasswordCheck:
    """Verify staff passwords with argon2id, spending the same effort for unknown usernames so
    the answer's timing does not reveal who has an account."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher()
        self._dummy: str | None = None

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Return True when `password` matches `stored_hash` (None: no such account)."""
        known = stored_hash is not None
        if not known:
            if self._dummy is None:
                self._dummy = self._hasher.hash(secrets.token_hex(16))
            stored_hash = self._dummy
        try:
            matches = self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return known and matches


CONFIG_KEY = web.AppKey("dsr_config", DsrConfig)
STORE_KEY = web.AppKey("dsr_store", DsrStore)
SESSIONS_KEY = web.AppKey("dsr_sessions", dict)
GUARD_KEY = web.AppKey("dsr_login_guard", LoginGuard)
HASHER_KEY = web.AppKey("dsr_password_check", PasswordCheck)


# --------------------------------------------------------------------------- texts

def load_texts(knowledge_dir: Path) -> dict:
    """Load the staff pages' texts (`texts/dsr_pages.yaml`), failing early on a broken file."""
    path = Path(knowledge_dir) / TEXTS_FILE
    with path.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of key -> {{sv, en}}")
    problems = []
    for key, value in raw.items():
        if not isinstance(value, dict) or any(not isinstance(value.get(l), str) for l in LANGS):
            problems.append(f"{path}: {key}: needs both 'sv' and 'en' as strings")
    if problems:
        raise ValueError("\n".join(problems))
    return raw


def _check_texts(texts: dict) -> None:
    """Raise ValueError naming every text the pages need but the texts lack."""
    missing = [TEXT_PREFIX + k for k in REQUIRED_TEXTS
               if not all(isinstance(texts.get(TEXT_PREFIX + k, {}).get(l), str) for l in LANGS)]
    if missing:
        raise ValueError("dsr_pages.yaml lacks (in sv and en): " + ", ".join(missing))


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


def _lang_of(request: web.Request) -> str:
    """Pick the page language: ?lang= first, then Accept-Language, else Swedish."""
    asked = request.query.get("lang")
    if asked in LANGS:
        return asked
    best, best_q = "sv", -1.0
    for part in request.headers.get("Accept-Language", "").split(","):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower().split("-")[0]
        q = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag in LANGS and q > best_q:
            best, best_q = tag, q
    return best


# --------------------------------------------------------------------------- helpers

def _json_error(status: int, message: str) -> web.Response:
    """Answer a machine client with {"error": message}."""
    return web.json_response({"error": message}, status=status)


def _check_bearer(request: web.Request) -> web.Response | None:
    """Return a 401 answer unless the request carries the shared backend token."""
    token = request.app[CONFIG_KEY].token
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given or not token or not hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8")
    ):
        resp = _json_error(401, "missing or wrong bearer token")
        resp.headers["WWW-Authenticate"] = 'Bearer realm="dsr"'
        return resp
    return None


class _TooLarge(Exception):
    """Signal a request body over MAX_BODY_BYTES."""


async def _read_capped(request: web.Request, limit: int) -> bytes:
    """Read the body but stop past `limit` bytes, whatever the parent app's size limit is."""
    if request.content_length is not None and request.content_length > limit:
        raise _TooLarge()
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_constant(name: str) -> None:
    """Refuse NaN and Infinity, which are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


def _canonical_hash(body: dict) -> str:
    """Hash a request canonically so the same request always gives the same digest."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _today(config: DsrConfig) -> date:
    """Return today's Europe/Stockholm date by the configured clock."""
    return config.clock().astimezone(TZ).date()


def _now_iso(config: DsrConfig) -> str:
    """Return the current Europe/Stockholm time as ISO 8601 with offset."""
    return config.clock().astimezone(TZ).isoformat(timespec="seconds")


def _is_overdue(case: dict, today: date) -> bool:
    """Tell whether an open case has passed its due date."""
    return case["status"] not in FINAL_STATUSES and date.fromisoformat(case["due_date"]) < today


def _public_case(case: dict) -> dict:
    """Return what the bot may tell the requester about a case (no personal data)."""
    return {
        "reference": case["reference"],
        "status": case["status"],
        "received_at": case["received_at"],
        "due_date": case["due_date"],
        "extended": case.get("extension") is not None,
    }


def _url(request: web.Request, name: str, lang: str | None = None, **parts: str) -> str:
    """Build the URL of a named route of this app (prefix included when mounted)."""
    url = request.app.router[name].url_for(**parts)
    if lang:
        url = url.with_query(lang=lang)
    return str(url)


def _base_path(request: web.Request) -> str:
    """Return the app's root path ("/" alone, "/dsr/" when mounted), for the cookie path."""
    login = str(request.app.router["login"].url_for())
    return login[: -len("login")]


def _local_time(iso: str) -> str:
    """Render a stored ISO time as Stockholm local "YYYY-MM-DD HH:MM"."""
    try:
        return datetime.fromisoformat(iso).astimezone(TZ).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return iso


# --------------------------------------------------------------------------- machine API

async def post_request(request: web.Request) -> web.Response:
    """File a data-subject request once per Idempotency-Key and answer its reference."""
    denied = _check_bearer(request)
    if denied:
        return denied
    key = request.headers.get("Idempotency-Key")
    if not valid_idempotency_key(key):
        return _json_error(400, "an Idempotency-Key header of 1-128 visible ASCII characters is required")
    try:
        raw = await _read_capped(request, MAX_BODY_BYTES)
    except _TooLarge:
        return _json_error(413, f"the body is too large (at most {MAX_BODY_BYTES // 1024} KB)")
    except (web.RequestPayloadError, ConnectionResetError):  # bad compression, a cut-off body
        return _json_error(400, "the body could not be read")
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _json_error(400, "the body is not valid JSON (UTF-8)")
    try:  # a "\\ud800" escape is valid JSON but no text: refuse it before it reaches the file
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return _json_error(400, "the body holds a \\u escape that is no character")
    try:
        fields = validate_request(body)
    except RequestError as exc:
        return _json_error(exc.status, exc.message)

    config = request.app[CONFIG_KEY]

    def build(data: dict) -> tuple[dict, dict, dict]:
        """Number the case in its receipt year and compute its deadline."""
        now = config.clock().astimezone(TZ)
        received = now.date()
        seq = 1 + max((c["seq"] for c in data["cases"].values() if c.get("year") == received.year),
                      default=0)
        reference = f"DSR-{received.year}-{seq:05d}"
        at = now.isoformat(timespec="seconds")
        due = due_date(received).isoformat()
        case = {
            "reference": reference, "year": received.year, "seq": seq,
            "received_at": at, "received_date": received.isoformat(),
            "due_date": due, "original_due_date": due, "extension": None,
            "status": "received",
            "history": [{"status": "received", "at": at, "by": "api", "reason": None}],
            **fields,
        }
        response = {"reference": reference, "received_at": at, "due_date": due,
                    "status": "received"}
        audit = {"reference": reference, "at": at, "by": "api", "action": "created",
                 "channel": fields["channel"]}
        return case, response, audit

    try:
        response, created = await request.app[STORE_KEY].create_case(
            key, _canonical_hash(fields), build)
    except IdempotencyConflict:
        return _json_error(409, "this Idempotency-Key was already used with a different request")
    if created:
        log.info("dsr case created reference=%s right=%s channel=%s",
                 response["reference"], fields["right"], fields["channel"])
        return web.json_response(response, status=201)
    log.info("dsr idempotent replay reference=%s", response["reference"])
    return web.json_response(response, status=200, headers={"Idempotent-Replayed": "true"})


async def get_request(request: web.Request) -> web.Response:
    """Tell the bot a case's public status, so it can answer "what happened to my request?"."""
    denied = _check_bearer(request)
    if denied:
        return denied
    reference = request.match_info["reference"]
    case = None
    if REFERENCE_RE.match(reference):
        case = await request.app[STORE_KEY].get_case(reference)
    if case is None:
        return _json_error(404, "no case with that reference")
    return web.json_response(_public_case(case))


async def healthz(request: web.Request) -> web.Response:
    """Answer liveness checks."""
    return web.json_response({"status": "ok"})


# --------------------------------------------------------------------------- staff sessions

def _epoch_of(account: dict | None) -> str | None:
    """Return a staff login's session epoch, None when it is removed or disabled."""
    if account is None or account.get("disabled"):
        return None
    return account.get("session_epoch", "")


async def _session_of(request: web.Request) -> StaffSession | None:
    """Return the signed-in staff member, refreshing the idle timeout, or None.

    A session ends when idle too long, at its absolute end, and as soon as its login gets a new
    password or is disabled or removed (`halmstad-bot backend add-staff|disable-staff|remove-staff`).
    """
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    sessions = request.app[SESSIONS_KEY]
    # A forged cookie may hold bytes that are not UTF-8 (surrogate-escaped by aiohttp): no session.
    digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()
    session = sessions.get(digest)
    if session is None:
        return None
    now = request.app[CONFIG_KEY].timer()
    if session.expires < now or session.ends < now:
        sessions.pop(digest, None)
        return None
    if _epoch_of(await request.app[STORE_KEY].staff(session.username)) != session.epoch:
        sessions.pop(digest, None)
        return None
    session.expires = min(now + SESSION_IDLE_SECONDS, session.ends)
    return session


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _read_form(request: web.Request):
    """Return the posted form; a body that cannot be read as a form is a 400, never a 500."""
    try:
        return await request.post()
    except (ValueError, UnicodeDecodeError, AssertionError, web.RequestPayloadError):
        raise web.HTTPBadRequest(text="the form could not be read") from None
    except ConnectionResetError:  # the client went away mid-body; nobody to answer
        raise web.HTTPBadRequest(text="the request body was cut off") from None


def _same(given: str, expected: str) -> bool:
    """Compare secrets in constant time; bytes, since compare_digest refuses non-ASCII text."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                               expected.encode("utf-8", "surrogateescape"))


def staff_page(handler: Callable[[web.Request, StaffSession], Awaitable[web.StreamResponse]]) -> Handler:
    """Wrap a staff page: no login → 303 to the login page; a POST needs the form's CSRF token."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        session = await _session_of(request)
        lang = _lang_of(request)
        if session is None:
            raise web.HTTPSeeOther(_url(request, "login", lang))
        if request.method == "POST":
            form = await _read_form(request)
            given = form.get("csrf")
            if not isinstance(given, str) or not _same(given, session.csrf):
                t = Texts(request.app[CONFIG_KEY].texts, lang)
                body = f'<h1>{t("error_heading")}</h1><p class="error" role="alert">{t("form_expired")}</p>'
                return _page(request, t, t("error_heading"), body, session, status=403)
        return await handler(request, session)

    return wrapped


async def staff_api_cases(request: web.Request) -> web.Response:
    """List cases for staff tools as JSON (401 without a login: it is an API, not a page)."""
    if await _session_of(request) is None:
        return _json_error(401, "log in first")
    today = _today(request.app[CONFIG_KEY])
    cases = sorted(await request.app[STORE_KEY].cases(),
                   key=lambda c: (c["due_date"], c["received_at"]))
    return web.json_response({"cases": [
        {**_public_case(c), "right": c["right"], "overdue": _is_overdue(c, today)} for c in cases
    ]})


# --------------------------------------------------------------------------- HTML

def _page(request: web.Request, t: Texts, title: str, body: str,
          session: StaffSession | None, status: int = 200) -> web.Response:
    """Wrap page content in the accessible layout every staff page shares."""
    other = "en" if t.lang == "sv" else "sv"
    switch = str(request.rel_url.with_query(lang=other).path_qs)
    nav_items = [f'<li><a href="{html.escape(switch)}" lang="{other}" hreflang="{other}">'
                 f'{t("switch_language")}</a></li>']
    if session is not None:
        nav_items.insert(0, f'<li><a href="{html.escape(_url(request, "cases", t.lang))}">'
                            f'{t("nav_cases")}</a></li>')
        nav_items.append(f'<li>{t("signed_in_as", username=session.username)}</li>')
        nav_items.append(
            f'<li><form method="post" action="{html.escape(_url(request, "logout", t.lang))}">'
            f'<input type="hidden" name="csrf" value="{html.escape(session.csrf)}">'
            f'<button type="submit" class="link">{t("logout")}</button></form></li>')
    doc = (
        f'<!doctype html>\n<html lang="{t.lang}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<title>{title} – {t("site_title")}</title>\n<style>{CSS}</style>\n</head>\n<body>\n'
        f'<a class="skip" href="#main">{t("skip_link")}</a>\n'
        f'<header><p>{t("site_title")}</p><nav aria-label="{t("nav_label")}"><ul>'
        f'{"".join(nav_items)}</ul></nav></header>\n'
        f'<main id="main" tabindex="-1">\n{body}\n</main>\n</body>\n</html>\n'
    )
    resp = web.Response(text=doc, status=status, content_type="text/html", charset="utf-8")
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    return resp


def _login_page(request: web.Request, t: Texts, error: str | None = None,
                notice: str | None = None, status: int = 200, username: str = "") -> web.Response:
    """Render the login form with a fresh double-submit CSRF token."""
    token = secrets.token_urlsafe(24)
    parts = [f'<h1>{t("login_title")}</h1>', f'<p>{t("login_intro")}</p>']
    if error:
        parts.append(f'<p class="error" role="alert" id="login-error">{error}</p>')
    if notice:
        parts.append(f'<p class="notice" role="status">{notice}</p>')
    described = ' aria-describedby="login-error"' if error else ""
    parts.append(
        f'<form method="post" action="{html.escape(_url(request, "login", t.lang))}">'
        f'<input type="hidden" name="csrf" value="{token}">'
        f'<label for="username">{t("username")}</label>'
        f'<input id="username" name="username" type="text" autocomplete="username" required '
        f'maxlength="64" value="{html.escape(username)}"{described}>'
        f'<label for="password">{t("password")}</label>'
        f'<input id="password" name="password" type="password" autocomplete="current-password" '
        f'required maxlength="{MAX_PASSWORD}"{described}>'
        f'<div><button type="submit">{t("login_button")}</button></div></form>')
    resp = _page(request, t, t("login_title"), "\n".join(parts), None, status=status)
    resp.set_cookie(LOGIN_COOKIE, token, path=_base_path(request), httponly=True,
                    samesite="Strict", secure=request.app[CONFIG_KEY].secure_cookies)
    return resp


async def get_login(request: web.Request) -> web.Response:
    """Show the login form (or go to the cases when already signed in)."""
    t = Texts(request.app[CONFIG_KEY].texts, _lang_of(request))
    if await _session_of(request) is not None:
        raise web.HTTPSeeOther(_url(request, "cases", t.lang))
    notice = t("logged_out") if request.query.get("done") == "logout" else None
    return _login_page(request, t, notice=notice)


async def post_login(request: web.Request) -> web.Response:
    """Check the staff member's password (argon2id) and start a session."""
    config = request.app[CONFIG_KEY]
    t = Texts(config.texts, _lang_of(request))
    form = await _read_form(request)
    given_csrf = form.get("csrf")
    cookie_csrf = request.cookies.get(LOGIN_COOKIE, "")
    if (not isinstance(given_csrf, str) or not cookie_csrf
            or not _same(given_csrf, cookie_csrf)):
        return _login_page(request, t, error=t("form_expired"), status=400)
    username = form.get("username")
    password = form.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return _login_page(request, t, error=t("login_failed"), status=401)
    username = username.strip()[:64]
    guard = request.app[GUARD_KEY]
    # Counted before argon2 runs, so logins sent together cannot all pass the check.
    attempt = guard.begin(username, config.clients.of(request))
    if not isinstance(attempt, Attempt):
        log.info("dsr staff login throttled")
        retry = retry_after_header(attempt)
        resp = _login_page(request, t, error=t("login_throttled", seconds=retry["Retry-After"]),
                           status=429, username=username)
        resp.headers.update(retry)
        return resp
    account = await request.app[STORE_KEY].staff(username) if username else None
    stored = account.get("password_hash") if _epoch_of(account) is not None else None
    if len(password) > MAX_PASSWORD:
        stored, password = None, ""
    ok = await asyncio.to_thread(request.app[HASHER_KEY].verify, stored, password)
    if not ok:
        guard.failed(attempt)
        log.info("dsr staff login failed")
        return _login_page(request, t, error=t("login_failed"), status=401, username=username)
    guard.succeeded(attempt)
    token = secrets.token_urlsafe(32)
    now = config.timer()
    request.app[SESSIONS_KEY][hashlib.sha256(token.encode("utf-8")).hexdigest()] = StaffSession(
        username=username, csrf=secrets.token_urlsafe(24),
        expires=now + min(SESSION_IDLE_SECONDS, config.session_lifetime),
        ends=now + config.session_lifetime, epoch=_epoch_of(account) or "")
    log.info("dsr staff login ok")
    redirect = web.HTTPSeeOther(_url(request, "cases", t.lang))
    redirect.set_cookie(SESSION_COOKIE, token, path=_base_path(request), httponly=True,
                        samesite="Strict", secure=config.secure_cookies)
    redirect.del_cookie(LOGIN_COOKIE, path=_base_path(request))
    raise redirect


@staff_page
async def post_logout(request: web.Request, session: StaffSession) -> web.Response:
    """End the staff session."""
    sessions = request.app[SESSIONS_KEY]
    token = request.cookies.get(SESSION_COOKIE, "")
    sessions.pop(hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest(), None)
    redirect = web.HTTPSeeOther(str(request.app.router["login"].url_for().with_query(
        lang=_lang_of(request), done="logout")))
    redirect.del_cookie(SESSION_COOKIE, path=_base_path(request))
    raise redirect


async def get_index(request: web.Request) -> web.Response:
    """Send the app's root to the case list (which itself asks for a login)."""
    raise web.HTTPSeeOther(_url(request, "cases", _lang_of(request)))


@staff_page
async def get_cases(request: web.Request, session: StaffSession) -> web.Response:
    """List every case by due date, overdue ones marked in words."""
    config = request.app[CONFIG_KEY]
    t = Texts(config.texts, _lang_of(request))
    today = _today(config)
    cases = sorted(await request.app[STORE_KEY].cases(),
                   key=lambda c: (c["due_date"], c["received_at"]))
    overdue = sum(_is_overdue(c, today) for c in cases)
    parts = [f'<h1>{t("cases_title")}</h1>', f'<p>{t("cases_intro")}</p>',
             f'<p>{t("cases_count", count=len(cases), overdue=overdue)}</p>']
    if not cases:
        parts.append(f'<p>{t("cases_empty")}</p>')
    else:
        rows = []
        for case in cases:
            ref = case["reference"]
            due = html.escape(case["due_date"])
            if case.get("extension"):
                due += f' ({t("extended_mark")})'
            if _is_overdue(case, today):
                due += f' <strong class="overdue">{t("overdue")}</strong>'
            rows.append(
                f'<tr><th scope="row"><a href="{html.escape(_url(request, "case", t.lang, reference=ref))}">'
                f'{html.escape(ref)}</a></th>'
                f'<td>{t("right." + case["right"])}</td>'
                f'<td>{html.escape(_local_time(case["received_at"]))}</td>'
                f'<td>{due}</td>'
                f'<td>{t("status." + case["status"])}</td></tr>')
        parts.append(
            f'<div class="table-wrap" role="region" aria-labelledby="cases-caption" tabindex="0">'
            f'<table><caption id="cases-caption">{t("cases_caption")}</caption><thead><tr>'
            f'<th scope="col">{t("col_reference")}</th><th scope="col">{t("col_right")}</th>'
            f'<th scope="col">{t("col_received")}</th><th scope="col">{t("col_due")}</th>'
            f'<th scope="col">{t("col_status")}</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></div>")
    return _page(request, t, t("cases_title"), "\n".join(parts), session)


def _who(t: Texts, by: str) -> str:
    """Render who made a change: a staff username, or the service itself."""
    return t("by_service") if by == "api" else html.escape(by)


def _audit_text(t: Texts, entry: dict) -> str:
    """Describe one audit entry in the page's language."""
    action = entry.get("action")
    if action == "created":
        return t("audit.created", channel=entry.get("channel", ""))
    if action == "status":
        return t("audit.status", **{"from": _status_name(t, entry.get("from")),
                                    "to": _status_name(t, entry.get("to"))})
    if action == "extended":
        return t("audit.extended", due_date=entry.get("due_date", ""),
                 told_on=entry.get("told_on", ""))
    return html.escape(str(action))


def _status_name(t: Texts, status: str | None) -> str:
    """Return a status's display name as plain text (unescaped; Texts escapes it again)."""
    if status in STATUSES:
        return html.unescape(t("status." + status))
    return str(status)


def _case_page(request: web.Request, session: StaffSession, case: dict, audit: list[dict],
               *, error: str | None = None, status: int = 200,
               form: dict | None = None) -> web.Response:
    """Render one case: the request, its deadline, the forms to act on it, history and audit."""
    config = request.app[CONFIG_KEY]
    t = Texts(config.texts, _lang_of(request))
    form = form or {}
    ref = case["reference"]
    today = _today(config)
    none = f'<em>{t("none")}</em>'

    def val(v: object) -> str:
        return html.escape(str(v)) if v not in (None, "") else none

    parts = [f'<p><a href="{html.escape(_url(request, "cases", t.lang))}">{t("back_to_list")}</a></p>',
             f'<h1>{t("case_title", reference=ref)}</h1>']
    done = request.query.get("done")
    if error:
        parts.append(f'<div class="error" role="alert"><h2>{t("error_heading")}</h2><p>{error}</p></div>')
    elif done == "status":
        parts.append(f'<p class="notice" role="status">{t("status_saved")}</p>')
    elif done == "extended":
        parts.append(f'<p class="notice" role="status">{t("extended_done")}</p>')

    due = html.escape(case["due_date"])
    if _is_overdue(case, today):
        due += f' <strong class="overdue">{t("overdue")}</strong>'
    ext = case.get("extension")
    ext_text = (t("extension_summary", reason=ext["reason"], told_on=ext["told_on"])
                if ext else t("not_extended"))
    child = case.get("child") or {}
    requester = case["requester"]
    parts.append(f'<h2>{t("section_request")}</h2><dl>'
                 f'<dt>{t("field_status")}</dt><dd>{t("status." + case["status"])}</dd>'
                 f'<dt>{t("field_due")}</dt><dd>{due}</dd>'
                 f'<dt>{t("field_extension")}</dt><dd>{ext_text}</dd>'
                 f'<dt>{t("field_received")}</dt><dd>{html.escape(_local_time(case["received_at"]))}</dd>'
                 f'<dt>{t("field_right")}</dt><dd>{t("right." + case["right"])}</dd>'
                 f'<dt>{t("field_on_behalf_of")}</dt><dd>{t("behalf." + case["on_behalf_of"])}</dd>'
                 f'<dt>{t("field_requester")}</dt><dd>{val(requester.get("name"))}</dd>'
                 f'<dt>{t("field_email")}</dt><dd>{val(requester.get("email"))}</dd>'
                 f'<dt>{t("field_phone")}</dt><dd>{val(requester.get("phone"))}</dd>'
                 f'<dt>{t("field_child")}</dt><dd>{val(child.get("name"))}</dd>'
                 f'<dt>{t("field_school")}</dt><dd>{val(child.get("school"))}</dd>'
                 f'<dt>{t("field_language")}</dt><dd>{t("language." + case["language"])}</dd>'
                 f'<dt>{t("field_channel")}</dt><dd>{val(case.get("channel"))}</dd>'
                 f'<dt>{t("field_description")}</dt><dd><p class="description">'
                 f'{val(case.get("description"))}</p></dd></dl>'
                 f'<p>{t("identity_note")}</p>')

    csrf = f'<input type="hidden" name="csrf" value="{html.escape(session.csrf)}">'
    parts.append(f'<h2 id="status-heading">{t("section_status")}</h2>')
    next_statuses = TRANSITIONS.get(case["status"], ())
    if not next_statuses:
        parts.append(f'<p>{t("case_closed")}</p>')
    else:
        chosen = form.get("status")
        options = "".join(
            f'<option value="{s}"{" selected" if s == chosen else ""}>{t("status." + s)}</option>'
            for s in next_statuses)
        parts.append(
            f'<form method="post" action="{html.escape(_url(request, "case_status", t.lang, reference=ref))}" '
            f'aria-labelledby="status-heading">{csrf}'
            f'<label for="status">{t("new_status")}</label><select id="status" name="status">{options}</select>'
            f'<label for="reason">{t("reason")}</label>'
            f'<textarea id="reason" name="reason" maxlength="{MAX_REASON}">'
            f'{html.escape(form.get("reason", ""))}</textarea>'
            f'<div><button type="submit">{t("save_status")}</button></div></form>')
        if not ext:
            parts.append(
                f'<h2 id="extend-heading">{t("section_extend")}</h2>'
                f'<p>{t("extend_intro", due_date=case["original_due_date"])}</p>'
                f'<form method="post" action="{html.escape(_url(request, "case_extend", t.lang, reference=ref))}" '
                f'aria-labelledby="extend-heading">{csrf}'
                f'<label for="extend-reason">{t("extend_reason")}</label>'
                f'<textarea id="extend-reason" name="reason" required maxlength="{MAX_REASON}">'
                f'{html.escape(form.get("extend_reason", ""))}</textarea>'
                f'<label for="told-on">{t("told_on")}</label>'
                f'<input id="told-on" name="told_on" type="date" required '
                f'min="{case["received_date"]}" max="{case["original_due_date"]}" '
                f'value="{html.escape(form.get("told_on", ""))}">'
                f'<div><button type="submit">{t("extend_button")}</button></div></form>')

    history_rows = "".join(
        f'<tr><td>{html.escape(_local_time(h["at"]))}</td><td>{_who(t, h["by"])}</td>'
        f'<td>{t("status." + h["status"])}</td><td>{val(h.get("reason"))}</td></tr>'
        for h in case.get("history", []))
    parts.append(
        f'<h2 id="history-heading">{t("section_history")}</h2>'
        f'<div class="table-wrap" role="region" aria-labelledby="history-heading" tabindex="0"><table>'
        f'<thead><tr><th scope="col">{t("col_when")}</th><th scope="col">{t("col_who")}</th>'
        f'<th scope="col">{t("col_status")}</th><th scope="col">{t("col_reason")}</th></tr></thead>'
        f'<tbody>{history_rows}</tbody></table></div>')
    audit_rows = "".join(
        f'<tr><td>{html.escape(_local_time(a["at"]))}</td><td>{_who(t, a["by"])}</td>'
        f'<td>{_audit_text(t, a)}</td><td>{val(a.get("reason"))}</td></tr>'
        for a in audit)
    parts.append(
        f'<h2 id="audit-heading">{t("section_audit")}</h2>'
        f'<div class="table-wrap" role="region" aria-labelledby="audit-heading" tabindex="0"><table>'
        f'<thead><tr><th scope="col">{t("col_when")}</th><th scope="col">{t("col_who")}</th>'
        f'<th scope="col">{t("col_what")}</th><th scope="col">{t("col_reason")}</th></tr></thead>'
        f'<tbody>{audit_rows}</tbody></table></div>')
    return _page(request, t, t("case_title", reference=ref), "\n".join(parts), session, status=status)


def _not_found(request: web.Request, session: StaffSession) -> web.Response:
    """Render the page for an unknown case reference."""
    t = Texts(request.app[CONFIG_KEY].texts, _lang_of(request))
    body = (f'<h1>{t("not_found_title")}</h1><p>{t("not_found_body")}</p>'
            f'<p><a href="{html.escape(_url(request, "cases", t.lang))}">{t("back_to_list")}</a></p>')
    return _page(request, t, t("not_found_title"), body, session, status=404)


async def _load_case(request: web.Request) -> dict | None:
    """Return the case named in the URL, or None for an unknown or malformed reference."""
    reference = request.match_info["reference"]
    if not REFERENCE_RE.match(reference):
        return None
    return await request.app[STORE_KEY].get_case(reference)


@staff_page
async def get_case(request: web.Request, session: StaffSession) -> web.Response:
    """Show one case with its history, audit log and the forms to act on it."""
    case = await _load_case(request)
    if case is None:
        return _not_found(request, session)
    audit = await request.app[STORE_KEY].audit_for(case["reference"])
    return _case_page(request, session, case, audit)


class _Refused(ValueError):
    """Signal a change staff asked for that the rules do not allow; `message` is page HTML."""

    def __init__(self, message: str) -> None:
        super().__init__("change refused")
        self.message = message


async def _apply(request: web.Request, session: StaffSession, change: Callable[[dict, str], dict],
                 form: dict, done: str) -> web.Response:
    """Apply a staff change to the case in the URL; redirect on success, re-render on refusal."""
    config = request.app[CONFIG_KEY]
    case = await _load_case(request)
    if case is None:
        return _not_found(request, session)
    store = request.app[STORE_KEY]
    try:
        await store.update_case(case["reference"], lambda c: change(c, _now_iso(config)))
    except CaseNotFound:
        return _not_found(request, session)
    except _Refused as exc:
        current = await store.get_case(case["reference"]) or case
        audit = await store.audit_for(case["reference"])
        return _case_page(request, session, current, audit, error=exc.message, status=400, form=form)
    raise web.HTTPSeeOther(str(request.app.router["case"].url_for(reference=case["reference"])
                               .with_query(lang=_lang_of(request), done=done)))


def _form_text(form, name: str) -> str:
    """Return a form field as stripped text ("" when missing or not text)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@staff_page
async def post_status(request: web.Request, session: StaffSession) -> web.Response:
    """Move a case to its next status (a refusal needs a reason) and log who and when."""
    t = Texts(request.app[CONFIG_KEY].texts, _lang_of(request))
    form = await _read_form(request)
    new = _form_text(form, "status")
    reason = _form_text(form, "reason")

    def change(case: dict, at: str) -> dict:
        old = case["status"]
        if old in FINAL_STATUSES:
            raise _Refused(t("case_closed"))
        if new not in TRANSITIONS.get(old, ()):
            raise _Refused(t("err_bad_transition", **{"from": _status_name(t, old),
                                                       "to": _status_name(t, new)}))
        if new == "refused" and not reason:
            raise _Refused(t("err_reason_required"))
        if len(reason) > MAX_REASON:
            raise _Refused(t("err_reason_too_long"))
        case["status"] = new
        case.setdefault("history", []).append(
            {"status": new, "at": at, "by": session.username, "reason": reason or None})
        return {"reference": case["reference"], "at": at, "by": session.username,
                "action": "status", "from": old, "to": new, "reason": reason or None}

    response = await _apply(request, session, change, {"status": new, "reason": reason}, "status")
    log.info("dsr status change reference=%s to=%s ok=%s",
             request.match_info["reference"][:40], new[:40], response.status < 400)
    return response


@staff_page
async def post_extend(request: web.Request, session: StaffSession) -> web.Response:
    """Extend a case's deadline by two months once, recording the reason and when the requester
    was told (which must be within the first month)."""
    config = request.app[CONFIG_KEY]
    t = Texts(config.texts, _lang_of(request))
    form = await _read_form(request)
    reason = _form_text(form, "reason")
    told_on_raw = _form_text(form, "told_on")
    today = _today(config)

    def change(case: dict, at: str) -> dict:
        if case["status"] in FINAL_STATUSES:
            raise _Refused(t("case_closed"))
        if case.get("extension"):
            raise _Refused(t("err_already_extended"))
        if not reason:
            raise _Refused(t("err_extend_reason"))
        if len(reason) > MAX_REASON:
            raise _Refused(t("err_reason_too_long"))
        try:
            told_on = date.fromisoformat(told_on_raw)
        except ValueError:
            raise _Refused(t("err_told_on_format")) from None
        received = date.fromisoformat(case["received_date"])
        first_month_end = date.fromisoformat(case["original_due_date"])
        if not received <= told_on <= min(first_month_end, today):
            raise _Refused(t("err_told_on_range", received=received.isoformat(),
                             due_date=first_month_end.isoformat()))
        new_due = extended_due_date(received).isoformat()
        case["extension"] = {"reason": reason, "told_on": told_on.isoformat(), "at": at,
                             "by": session.username, "previous_due_date": case["due_date"]}
        case["due_date"] = new_due
        return {"reference": case["reference"], "at": at, "by": session.username,
                "action": "extended", "due_date": new_due, "told_on": told_on.isoformat(),
                "reason": reason}

    response = await _apply(request, session, change,
                            {"extend_reason": reason, "told_on": told_on_raw}, "extended")
    log.info("dsr extension reference=%s ok=%s",
             request.match_info["reference"][:40], response.status < 400)
    return response


# --------------------------------------------------------------------------- app

@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Keep API errors JSON and never let an unexpected fault leak details (or personal data)."""
    is_api = "/api/" in request.path
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if is_api and exc.status >= 400:
            return _json_error(exc.status, exc.reason or "error")
        raise
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        log.error("dsr unexpected error type=%s path_kind=%s", type(exc).__name__,
                  "api" if is_api else "page")
        if is_api:
            return _json_error(500, "internal error")
        return web.Response(status=500, text="Internal error", content_type="text/plain")


def create_app(config: DsrConfig) -> web.Application:
    """Build the DSR backend app; it can run alone or be mounted with add_subapp("/dsr/", app)."""
    _check_texts(config.texts)
    if not config.token:
        raise ValueError("the DSR backend needs a non-empty bearer token")
    app = web.Application(middlewares=[_errors], client_max_size=MAX_BODY_BYTES)
    store = DsrStore(Path(config.data_dir))
    app[CONFIG_KEY] = config
    app[STORE_KEY] = store
    app[SESSIONS_KEY] = {}
    app[GUARD_KEY] = LoginGuard(clock=config.timer)
    app[HASHER_KEY] = PasswordCheck()

    async def close_store(_: web.Application) -> None:
        store.close()

    app.on_cleanup.append(close_store)
    app.router.add_post("/api/requests", post_request, name="api_requests")
    app.router.add_get("/api/requests/{reference}", get_request, name="api_request")
    app.router.add_get("/api/staff/cases", staff_api_cases, name="api_staff_cases")
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/", get_index, name="index")
    app.router.add_get("/login", get_login, name="login")
    app.router.add_post("/login", post_login, name="login_post")
    app.router.add_post("/logout", post_logout, name="logout")
    app.router.add_get("/cases", get_cases, name="cases")
    app.router.add_get("/cases/{reference}", get_case, name="case")
    app.router.add_post("/cases/{reference}/status", post_status, name="case_status")
    app.router.add_post("/cases/{reference}/extend", post_extend, name="case_extend")
    return app


def add_staff(data_dir: Path, username: str, password: str) -> None:
    """Create a staff login, or replace the password of an existing one (used by the CLI).

    Raises ValueError with a sentence for the operator when the username or password is unusable.
    """
    if not isinstance(username, str) or not 2 <= len(username) <= 64:
        raise ValueError("the username must be 2-64 characters long")
    if not set(username) <= USERNAME_CHARS:
        raise ValueError("the username may contain only letters a-z, digits, '.', '_' and '-'")
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must be at least {MIN_PASSWORD} characters long")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"the password must be at most {MAX_PASSWORD} characters long")
    if password.strip() != password or "\n" in password:
        raise ValueError("the password must not start or end with spaces or contain line breaks")
    record = {
        "username": username,
        "password_hash": PasswordHasher().hash(password),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        # A new password ends every session started with the old one (a running server checks
        # the epoch on each request).
        "session_epoch": secrets.token_urlsafe(12),
    }
    upsert_staff_sync(Path(data_dir), record)


def disable_staff(data_dir: Path, username: str) -> None:
    """Refuse a staff login and end its sessions (`add-staff` with a new password enables it).

    Raises LookupError when there is no such login.
    """
    change_staff_sync(Path(data_dir), username,
                      {"disabled": True, "session_epoch": secrets.token_urlsafe(12)})


def remove_staff(data_dir: Path, username: str) -> None:
    """Delete a staff login; its sessions end at their next request. LookupError if none."""
    change_staff_sync(Path(data_dir), username, None)
