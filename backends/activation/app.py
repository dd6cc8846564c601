"""The reference activation backend: accounts, activation e-mails, the activation pages, app login.

It stands in for Skola24's "aktivera konto för Skola24 mobil-app" service, so the assistant can
run the whole activation with a guardian and the acceptance tests can follow the e-mail's link.
Mounted by `serve` at `/activation/` (every route here is relative) or run alone with
`python -m backends.activation`. This module is the HTTP side (the machine API, the pages a
guardian opens, their middleware); `service.py` holds what happens (accounts, codes, the e-mail),
`pages.py` the HTML, `security.py` the rules for input, limits and CSRF, `store.py` the file.

Privacy and security choices, in short: the API answers byte-identically whether or not an address
is registered and does the lookup after answering, in a background task, so neither body nor
timing tells; codes are 256-bit, stored only as SHA-256 and single-use; passwords are hashed with
argon2id off the event loop; forms carry signed double-submit CSRF tokens; logs never hold an
address, a username or a code.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from backends.httpkit import BadBody, bearer_ok, json_error, parse_json, pick_language, read_capped
from common.loginguard import Attempt, retry_after_header

from . import pages
from .security import (
    CSRF_COOKIE, CsrfGuard, EmailError, email_key, hash_code, normalise_email, password_errors,
    plausible_code, username_errors,
)
from .service import ActivationConfig, ActivationService, add_account, load_texts

__all__ = ["ActivationConfig", "QuerylessAccessLogger", "add_account", "create_app", "load_texts"]

log = logging.getLogger("backends.activation")

STYLE = (Path(__file__).with_name("style.css")).read_bytes()
MAX_FORM_FIELDS = 20
MAX_FIELD_LENGTH = 1024

# The one answer to every accepted activation request, registered address or not.
ACCEPTED_BODY = json.dumps({
    "status": "accepted",
    "message": "If the address is registered, an activation e-mail has been sent.",
}).encode("utf-8")

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                                "base-uri 'none'; object-src 'none'"),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


class BadInput(BadBody):
    """Client input that cannot be used; the message is safe to show (it never echoes input)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(status, message)



SERVICE = web.AppKey("activation_service", ActivationService)


# Request helpers ------------------------------------------------------------------------------

async def read_json_object(request: web.Request) -> dict:
    """Return the body as a JSON object, or raise BadInput saying what is wrong."""
    data = parse_json(await read_capped(request, request.app[SERVICE].config.max_body_bytes))
    if not isinstance(data, dict):
        raise BadInput("body must be a JSON object")
    return data


async def read_form(request: web.Request) -> dict[str, str]:
    """Return an urlencoded form as a dict, refusing oversized, repeated or undecodable fields."""
    svc = request.app[SERVICE]
    if request.content_type != "application/x-www-form-urlencoded":
        raise BadInput("form must be application/x-www-form-urlencoded", 415)
    raw = await read_capped(request, svc.config.max_body_bytes)
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, encoding="utf-8",
                          errors="strict", max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise BadInput("form could not be read") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise BadInput("form field repeated")
        if len(value) > MAX_FIELD_LENGTH or "\x00" in value:
            raise BadInput("form field too long")
        form[name] = value
    return form


def render(svc: ActivationService, lang: str, page: pages.Page, status: int = 200) -> web.Response:
    html = pages.layout(svc.texts, lang, page)
    return web.Response(status=status, text=html, content_type="text/html", charset="utf-8")


def cookie_path(svc: ActivationService) -> str:
    """Return the URL path the CSRF cookie is limited to (where the pages are published)."""
    return urlparse(svc.config.public_url).path.rstrip("/") or "/"


def with_csrf_cookie(svc: ActivationService, response: web.Response, cookie: str,
                     is_new: bool) -> web.Response:
    if is_new:
        response.set_cookie(
            CSRF_COOKIE, cookie, path=cookie_path(svc), httponly=True, samesite="Strict",
            secure=urlparse(svc.config.public_url).scheme == "https",
        )
    return response


def browser_cookie(request: web.Request) -> tuple[str, bool]:
    """Return the browser's CSRF cookie, or a new one (and True) when it has none."""
    value = request.cookies.get(CSRF_COOKIE)
    if CsrfGuard.valid_cookie(value):
        return value, False
    return CsrfGuard.new_cookie(), True


def page_error(request: web.Request, status: int, name: str, lang: str | None = None,
               code: str = "") -> web.Response:
    svc = request.app[SERVICE]
    lang = lang or pick_language(request)
    page = pages.message_page(svc.texts, lang, name=name, code=code if plausible_code(code) else "")
    return render(svc, lang, page, status)


# Middleware -----------------------------------------------------------------------------------

@web.middleware
async def guard(request: web.Request, handler) -> web.StreamResponse:
    """Turn every failure into a clear 4xx (JSON for the API, a page for people), add headers."""
    is_api = "/api/" in request.path
    try:
        response = await handler(request)
    except BadBody as exc:
        if is_api:
            response = json_error(exc.status, exc.message)
        else:
            response = page_error(request, exc.status, "bad_request")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if is_api:
            response = json_error(exc.status, exc.reason, {"Allow": exc.headers["Allow"]}
                                  if "Allow" in exc.headers else None)
        elif exc.status == 404:
            response = page_error(request, 404, "not_found")
        else:
            response = page_error(request, exc.status, "bad_request")
    except Exception as exc:  # noqa: BLE001 - never leak a traceback or a 500 body to a client
        log.error("activation unhandled_error path=%s error=%s", request.match_info.route.name,
                  type(exc).__name__)
        if is_api:
            response = json_error(500, "internal error")
        else:
            response = page_error(request, 500, "error")
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# API handlers ---------------------------------------------------------------------------------

async def activation_requests(request: web.Request) -> web.Response:
    """Accept a request to mail an activation link; answer identically for any valid address."""
    svc = request.app[SERVICE]
    if not bearer_ok(request, svc.config.token):
        return json_error(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
    data = await read_json_object(request)
    if "email" not in data:
        raise BadInput("missing field: email")
    client = data.get("client")
    if client is not None and (not isinstance(client, str) or not 1 <= len(client) <= 128):
        raise BadInput("client must be a string of 1-128 characters")
    try:
        address = normalise_email(data["email"])
    except EmailError as exc:
        raise BadInput(str(exc), 422) from None
    address_key = hashlib.sha256(email_key(address).encode("utf-8")).hexdigest()
    client_key = client or svc.config.clients.of(request)
    wait = max(svc.client_limiter.retry_after(client_key) or 0,
               svc.address_limiter.retry_after(address_key) or 0)
    if wait:
        log.info("activation_request rate_limited")
        return json_error(429, "too many activation requests; try again later",
                          {"Retry-After": str(wait)})
    svc.client_limiter.hit(client_key)
    svc.address_limiter.hit(address_key)
    svc.spawn(svc.process_request(address))
    log.info("activation_request accepted")
    return web.Response(status=202, body=ACCEPTED_BODY, content_type="application/json")


async def app_login(request: web.Request) -> web.Response:
    """Check app credentials (stands in for the mobile app's login), throttling guesses."""
    svc = request.app[SERVICE]
    data = await read_json_object(request)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise BadInput("username and password are required strings")
    if not 1 <= len(username) <= 256 or not 1 <= len(password) <= 1024:
        raise BadInput("username or password has an impossible length")
    user_key = hashlib.sha256(username.casefold().encode("utf-8")).hexdigest()
    # Counted before argon2 runs, so logins sent together cannot all pass the check.
    attempt = svc.login_guard.begin(user_key, svc.config.clients.of(request))
    if not isinstance(attempt, Attempt):
        log.info("app_login throttled")
        return json_error(429, "too many failed logins; try again later", retry_after_header(attempt))
    stored = await asyncio.to_thread(svc.store.password_hash_for, username)
    if not await asyncio.to_thread(svc.passwords.verify, stored, password):
        svc.login_guard.failed(attempt)
        log.info("app_login failed")
        return json_error(401, "wrong username or password")
    svc.login_guard.succeeded(attempt)
    log.info("app_login ok")
    return web.json_response({"status": "ok"})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


# Page handlers --------------------------------------------------------------------------------

async def start_get(request: web.Request) -> web.Response:
    """Show the page the e-mail link opens, with the code filled in."""
    svc = request.app[SERVICE]
    lang = pick_language(request)
    code = request.query.get("code", "")[:pages.CODE_MAX_LENGTH]
    cookie, is_new = browser_cookie(request)
    page = pages.start_page(svc.texts, lang, code=code, csrf=svc.csrf.token(cookie, "start"),
                            errors=[])
    return with_csrf_cookie(svc, render(svc, lang, page), cookie, is_new)


@dataclass
class Posted:
    """A submitted activation form whose CSRF token checked out."""

    form: dict[str, str]
    lang: str
    code: str
    cookie: str


async def posted_form(request: web.Request, step: str) -> Posted | web.Response:
    """Read the form of `step` ("start" or "credentials"); a 403 page when its token is wrong."""
    svc = request.app[SERVICE]
    form = await read_form(request)
    lang = pick_language(request, form.get("lang"))
    code = form.get("code", "").strip()
    cookie = request.cookies.get(CSRF_COOKIE)
    if not svc.csrf.check(cookie, step, form.get("csrf")):
        log.info("activation_page csrf_refused step=%s", step)
        return page_error(request, 403, "forbidden", lang, code)
    return Posted(form, lang, code, cookie)


async def code_is_live(svc: ActivationService, code: str) -> bool:
    """Tell whether `code` is one we issued, unused and not expired."""
    return plausible_code(code) and await asyncio.to_thread(
        svc.store.code_is_valid, hash_code(code), svc.config.clock())


def code_gone(svc: ActivationService, lang: str, step: str) -> web.Response:
    """Answer a code that is unknown, used or expired with the page that says how to get one."""
    log.info("activation_page code_invalid step=%s", step)
    return render(svc, lang, pages.invalid_page(svc.texts, lang, hours=svc.ttl_hours), 410)


async def start_post(request: web.Request) -> web.Response:
    """Check the code ("Nästa") and show the username and password form."""
    svc = request.app[SERVICE]
    posted = await posted_form(request, "start")
    if isinstance(posted, web.Response):
        return posted
    lang = posted.lang
    if not posted.code:
        page = pages.start_page(svc.texts, lang, code="", csrf=svc.csrf.token(posted.cookie, "start"),
                                errors=["activation_page.code_missing"])
        return render(svc, lang, page, 422)
    if not await code_is_live(svc, posted.code):
        return code_gone(svc, lang, "start")
    return credentials_form(svc, posted, [])


def credentials_form(svc: ActivationService, posted: Posted, errors: list[str],
                     username: str = "") -> web.Response:
    """Render the username and password form (again, with `errors`, after a refused try)."""
    page = pages.credentials_page(svc.texts, posted.lang, code=posted.code,
                                  csrf=svc.csrf.token(posted.cookie, "credentials"),
                                  username=username[:pages.USERNAME_MAX * 2], errors=errors)
    return render(svc, posted.lang, page, 422 if errors else 200)


async def credentials_post(request: web.Request) -> web.Response:
    """Create the app credentials, spending the code; re-show the form with errors otherwise."""
    svc = request.app[SERVICE]
    posted = await posted_form(request, "credentials")
    if isinstance(posted, web.Response):
        return posted
    if not await code_is_live(svc, posted.code):
        return code_gone(svc, posted.lang, "credentials")
    code_hash = hash_code(posted.code)
    username = posted.form.get("username", "").strip()
    password = posted.form.get("password", "")
    errors = (username_errors(username)
              + password_errors(password, posted.form.get("password_confirm", ""), username))
    if not errors and await asyncio.to_thread(svc.store.username_taken, username, code_hash):
        errors.append("activation_page.error_username_taken")
    if errors:
        log.info("activation_page form_errors count=%d", len(errors))
        return credentials_form(svc, posted, errors, username)
    password_hash = await asyncio.to_thread(svc.config.password_hasher.hash, password)
    result = await asyncio.to_thread(svc.store.consume_code, code_hash, username, password_hash,
                                     svc.config.clock())
    if result.outcome == "invalid":
        return code_gone(svc, posted.lang, "commit")
    if result.outcome == "username_taken":
        return credentials_form(svc, posted, ["activation_page.error_username_taken"], username)
    log.info("activation credentials_created")
    # Post/redirect/get: a reload of the success page never re-submits the form.
    return web.Response(status=303, headers={"Location": pages.query("done", lang=posted.lang)})


async def done_get(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    lang = pick_language(request)
    return render(svc, lang, pages.done_page(svc.texts, lang))


async def invalid_get(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    lang = pick_language(request)
    return render(svc, lang, pages.invalid_page(svc.texts, lang, hours=svc.ttl_hours))


async def style(request: web.Request) -> web.Response:
    response = web.Response(body=STYLE, content_type="text/css", charset="utf-8")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


# Application ----------------------------------------------------------------------------------

class QuerylessAccessLogger(AbstractAccessLogger):
    """Log each request as method, path, status and time, never the query string or client IP.

    aiohttp's default access log writes the whole request line, and the activation link carries
    its code in the query, so a runner serving these pages must use this class
    (`web.AppRunner(app, access_log_class=QuerylessAccessLogger)`).
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %.1fms", request.method, request.path, response.status,
                         time * 1000)


def create_app(config: ActivationConfig) -> web.Application:
    """Build the backend as an aiohttp app with relative routes (mountable or standalone)."""
    app = web.Application(middlewares=[guard], client_max_size=config.max_body_bytes)
    service = ActivationService(config)
    app[SERVICE] = service
    app.router.add_post("/api/activation-requests", activation_requests, name="activation_requests")
    app.router.add_post("/api/app-login", app_login, name="app_login")
    app.router.add_get("/api/health", health, name="health")
    app.router.add_get("/", start_get, name="index")
    app.router.add_get("/activate", start_get, name="activate")
    app.router.add_post("/activate", start_post, name="activate_post")
    app.router.add_post("/credentials", credentials_post, name="credentials")
    app.router.add_get("/done", done_get, name="done")
    app.router.add_get("/invalid", invalid_get, name="invalid")
    app.router.add_get("/style.css", style, name="style")

    async def on_shutdown(_: web.Application) -> None:
        await service.drain()

    async def on_cleanup(_: web.Application) -> None:
        await service.drain()
        service.store.close()

    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app
