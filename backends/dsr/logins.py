"""Staff logins for the data-rights pages: accounts, sign-in, sessions and the page guard.

Passwords are argon2id hashes in the backend's file (`halmstad-bot backend add-staff`); a session
is a random token in an HttpOnly, SameSite=Strict cookie whose SHA-256 the server keeps (in memory,
or in Redis with `serve --redis-url`: `DsrConfig.sessions`), with an idle limit and an absolute end. A session also ends as soon as its login gets a new
password or is disabled or removed (its session epoch changes). The login form carries a
double-submit CSRF token; every staff form carries the session's CSRF token. Logins are throttled
per username and client address before the password is checked.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Awaitable, Callable

from aiohttp import web
from argon2 import PasswordHasher

from backends.httpkit import same_secret
from common.loginguard import Attempt, retry_after_header
from common.passwords import check_new_login

from . import pages
from .config import (
    CONFIG_KEY, GUARD_KEY, HASHER_KEY, LOGIN_COOKIE, MAX_PASSWORD, SESSION_COOKIE,
    SESSION_IDLE_SECONDS, STORE_KEY, StaffSession,
)
from .store import change_staff_sync, upsert_staff_sync

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

USERNAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
MIN_PASSWORD = 10

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
StaffHandler = Callable[[web.Request, StaffSession], Awaitable[web.StreamResponse]]


# Accounts (the command line's) ----------------------------------------------------------------

def add_staff(data_dir: Path, username: str, password: str) -> None:
    """Create a staff login, or replace the password of an existing one (used by the CLI).

    Raises ValueError with a sentence for the operator when the username or password is unusable.
    """
    check_new_login(username, password, allowed=USERNAME_CHARS,
                    allowed_words="letters a-z, digits, '.', '_' and '-'",
                    min_password=MIN_PASSWORD, max_password=MAX_PASSWORD)
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


# Sessions -------------------------------------------------------------------------------------

def _epoch_of(account: dict | None) -> str | None:
    """Return a staff login's session epoch, None when it is removed or disabled."""
    if account is None or account.get("disabled"):
        return None
    return account.get("session_epoch", "")


def _digest(token: str) -> str:
    # A forged cookie may hold bytes that are not UTF-8 (surrogate-escaped by aiohttp).
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


async def session_of(request: web.Request) -> StaffSession | None:
    """Return the signed-in staff member, refreshing the idle timeout, or None."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    config = request.app[CONFIG_KEY]
    digest = _digest(token)
    record = await config.sessions.get(digest)
    if record is None:
        return None
    try:
        session = StaffSession(**record)
    except TypeError:
        await config.sessions.drop(digest)
        return None
    now = config.timer()
    if session.expires < now or session.ends < now:
        await config.sessions.drop(digest)
        return None
    if _epoch_of(await request.app[STORE_KEY].staff(session.username)) != session.epoch:
        await config.sessions.drop(digest)
        return None
    session.expires = min(now + SESSION_IDLE_SECONDS, session.ends)
    await config.sessions.put(digest, asdict(session), session.ends - now)
    return session


async def _start_session(request: web.Request, account: dict) -> str:
    """Remember a new session for `account` and return its token (for the cookie)."""
    config = request.app[CONFIG_KEY]
    token = secrets.token_urlsafe(32)
    now = config.timer()
    session = StaffSession(
        username=account["username"], csrf=secrets.token_urlsafe(24),
        expires=now + min(SESSION_IDLE_SECONDS, config.session_lifetime),
        ends=now + config.session_lifetime, epoch=_epoch_of(account) or "")
    await config.sessions.put(_digest(token), asdict(session), config.session_lifetime)
    return token


async def read_form(request: web.Request):
    """Return the posted form; a body that cannot be read as a form is a 400, never a 500."""
    try:
        return await request.post()
    except (ValueError, UnicodeDecodeError, AssertionError, web.RequestPayloadError):
        raise web.HTTPBadRequest(text="the form could not be read") from None
    except ConnectionResetError:  # the client went away mid-body; nobody to answer
        raise web.HTTPBadRequest(text="the request body was cut off") from None


def staff_page(handler: StaffHandler) -> Handler:
    """Wrap a staff page: no login → 303 to the login page; a POST needs the form's CSRF token."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        session = await session_of(request)
        t = pages.texts_for(request)
        if session is None:
            raise web.HTTPSeeOther(pages.url(request, "login", t.lang))
        if request.method == "POST":
            given = (await read_form(request)).get("csrf")
            if not isinstance(given, str) or not same_secret(given, session.csrf):
                return pages.error_page(request, t, session, t("form_expired"), status=403)
        return await handler(request, session)

    return wrapped


# Signing in and out ---------------------------------------------------------------------------

def _login_page(request: web.Request, t: pages.Texts, **shown) -> web.Response:
    """Render the login form with a fresh double-submit CSRF token in the form and a cookie."""
    token = secrets.token_urlsafe(24)
    resp = pages.login_page(request, t, token, **shown)
    resp.set_cookie(LOGIN_COOKIE, token, path=pages.base_path(request), httponly=True,
                    samesite="Strict", secure=request.app[CONFIG_KEY].secure_cookies)
    return resp


@routes.get("/login", name="login")
async def get_login(request: web.Request) -> web.Response:
    """Show the login form (or go to the cases when already signed in)."""
    t = pages.texts_for(request)
    if await session_of(request) is not None:
        raise web.HTTPSeeOther(pages.url(request, "cases", t.lang))
    notice = t("logged_out") if request.query.get("done") == "logout" else None
    return _login_page(request, t, notice=notice)


async def _check_password(request: web.Request, username: str, password: str) -> dict | None:
    """Return the enabled account whose password this is, or None (same effort either way)."""
    account = await request.app[STORE_KEY].staff(username) if username else None
    stored = account.get("password_hash") if _epoch_of(account) is not None else None
    if len(password) > MAX_PASSWORD:
        stored, password = None, ""
    ok = await asyncio.to_thread(request.app[HASHER_KEY].verify, stored, password)
    return account if ok else None


@routes.post("/login", name="login_post")
async def post_login(request: web.Request) -> web.Response:
    """Check the staff member's password (argon2id) and start a session."""
    t = pages.texts_for(request)
    form = await read_form(request)
    given_csrf, cookie_csrf = form.get("csrf"), request.cookies.get(LOGIN_COOKIE, "")
    if not isinstance(given_csrf, str) or not cookie_csrf or not same_secret(given_csrf, cookie_csrf):
        return _login_page(request, t, error=t("form_expired"), status=400)
    username, password = form.get("username"), form.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return _login_page(request, t, error=t("login_failed"), status=401)
    username = username.strip()[:64]
    guard = request.app[GUARD_KEY]
    # Counted before argon2 runs, so logins sent together cannot all pass the check.
    attempt = guard.begin(username, request.app[CONFIG_KEY].clients.of(request))
    if not isinstance(attempt, Attempt):
        log.info("dsr staff login throttled")
        retry = retry_after_header(attempt)
        resp = _login_page(request, t, error=t("login_throttled", seconds=retry["Retry-After"]),
                           status=429, username=username)
        resp.headers.update(retry)
        return resp
    account = await _check_password(request, username, password)
    if account is None:
        guard.failed(attempt)
        log.info("dsr staff login failed")
        return _login_page(request, t, error=t("login_failed"), status=401, username=username)
    guard.succeeded(attempt)
    log.info("dsr staff login ok")
    redirect = web.HTTPSeeOther(pages.url(request, "cases", t.lang))
    redirect.set_cookie(SESSION_COOKIE, await _start_session(request, account), path=pages.base_path(request),
                        httponly=True, samesite="Strict", secure=request.app[CONFIG_KEY].secure_cookies)
    redirect.del_cookie(LOGIN_COOKIE, path=pages.base_path(request))
    raise redirect


@routes.post("/logout", name="logout")
@staff_page
async def post_logout(request: web.Request, session: StaffSession) -> web.Response:
    """End the staff session."""
    await request.app[CONFIG_KEY].sessions.drop(_digest(request.cookies.get(SESSION_COOKIE, "")))
    redirect = web.HTTPSeeOther(str(request.app.router["login"].url_for().with_query(
        lang=pages.texts_for(request).lang, done="logout")))
    redirect.del_cookie(SESSION_COOKIE, path=pages.base_path(request))
    raise redirect
