"""The knowledge page's sub-application at /staff/: the page itself (bot/staff_page/static/),
signing in and out, who is signed in, the page's texts, and every API module's routes."""
from __future__ import annotations

import asyncio
import json
import logging
import re
from html import escape
from pathlib import Path

from aiohttp import web

from bot.staff_page import entries, gaps, hours, preview, publish, reviews
from bot.staff_page.accounts import StaffUser
from bot.staff_page.page import COOKIE, PAGE_KEY, StaffPage, api, errors, json_reply, lang_of, page_of, user_of
from common.loginguard import Attempt

log = logging.getLogger("halmstad.staff_page")
STATIC = Path(__file__).parent / "static"
PAGE_TEXTS = "staff_page."
_WORD = re.compile(r"\{\{([a-z0-9_.]+)\}\}")
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
}
PLACEHOLDER = """<!doctype html><html lang="sv"><head><meta charset="utf-8"><title>Kunskapssidan</title></head>
<body><main><h1>Kunskapssidan</h1><form method="post" action="/staff/login">
<label>Användarnamn <input name="username" autocomplete="username"></label>
<label>Lösenord <input name="password" type="password" autocomplete="current-password"></label>
<button>Logga in</button></form></main></body></html>"""


def page_texts(knowledge, lang: str) -> dict[str, str]:
    """The page's words (staff_page.* of knowledge/texts/staff_page.yaml) in `lang`, without the
    prefix; placeholders the page fills itself ({count}, {date}) stay as written."""
    return {key[len(PAGE_TEXTS):]: knowledge.text(key, lang) for key in knowledge.texts if key.startswith(PAGE_TEXTS)}


def render(html: str, lang: str, words: dict[str, str]) -> str:
    """index.html with its language (__LANG__), its words as JSON for the script (__DATA__) and
    each {{key}} as text, so the login form reads right before (and without) the script."""
    data = json.dumps({"lang": lang, "texts": words}, ensure_ascii=False)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    html = _WORD.sub(lambda m: escape(words.get(m[1], m[1])), html)
    return html.replace("__LANG__", lang).replace("__DATA__", data)


async def index(request: web.Request) -> web.Response:
    """The page (its script asks /staff/api/me and shows the login form when not signed in)."""
    page_file, lang = STATIC / "index.html", lang_of(request)
    html = page_file.read_text(encoding="utf-8") if page_file.is_file() else PLACEHOLDER
    html = render(html, lang, page_texts(page_of(request).holder.knowledge, lang))
    return web.Response(text=html, content_type="text/html", headers=HEADERS)


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = (STATIC / name).resolve()
    if STATIC.resolve() not in path.parents or not path.is_file() or name == "index.html":
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})


def _same_origin(request: web.Request) -> bool:
    """A login form posted from our own page, or by a client that does not say ("null": a
    browser that keeps the origin private); another site's page is refused."""
    origin = request.headers.get("Origin")
    return (origin in (None, "null") or origin.rstrip("/") == page_of(request).origin
            or origin.split("://", 1)[-1] == request.host)


async def login(request: web.Request) -> web.Response:
    """Check the password (argon2id, throttled as every login) and start a session."""
    page = page_of(request)
    try:
        form = await request.post()
    except (ValueError, UnicodeDecodeError, AssertionError, web.HTTPException):
        form = {}
    username, password = form.get("username"), form.get("password")
    home = f"/staff/?lang={form.get('lang') if form.get('lang') in ('sv', 'en') else lang_of(request)}"
    if not _same_origin(request) or not isinstance(username, str) or not isinstance(password, str):
        raise web.HTTPSeeOther(f"{home}&login=failed")
    username = username.strip()[:64]
    attempt = await page.guard.reserve(username, page.clients.of(request))
    if not isinstance(attempt, Attempt):
        log.info("staff page login throttled")
        raise web.HTTPSeeOther(f"{home}&login=throttled&wait={int(attempt)}")
    user = await asyncio.to_thread(page.logins.verify, username, password)
    if user is None:
        await page.guard.settle(attempt, False)
        log.info("staff page login failed")
        raise web.HTTPSeeOther(f"{home}&login=failed")
    await page.guard.settle(attempt, True)
    log.info("staff page login ok")
    redirect = web.HTTPSeeOther(home)
    redirect.set_cookie(COOKIE, page.sessions.start(user), path="/staff/", httponly=True, samesite="Strict",
                        secure=page.secure)
    raise redirect


async def logout(request: web.Request) -> web.Response:
    page = page_of(request)
    token = request.cookies.get(COOKIE)
    given = request.headers.get("X-CSRF-Token")
    if given is None:
        form = await request.post() if request.content_type == "application/x-www-form-urlencoded" else {}
        given = form.get("csrf") if isinstance(form.get("csrf"), str) else None
    if user_of(request) is not None and page.sessions.csrf_ok(token, given):
        page.sessions.end(token)
    redirect = web.HTTPSeeOther(f"/staff/?lang={lang_of(request)}&login=out")
    redirect.del_cookie(COOKIE, path="/staff/")
    raise redirect


@api
async def me(request: web.Request, user: StaffUser) -> web.Response:
    page = page_of(request)
    return json_reply({"user": user.username, "role": user.role,
                              "csrf": page.sessions.csrf(request.cookies.get(COOKIE, "")),
                              "review_needed": page.review_needed, "may_publish": page.may_publish(user),
                              "publish_allowed": page.may_publish(user)})


async def texts(request: web.Request) -> web.Response:
    """The page's words (knowledge/texts/staff_page.yaml) in one language. Open at /staff/texts
    for the login form; /staff/api/texts needs a login like every API route."""
    lang = lang_of(request)
    return json_reply({"lang": lang, "texts": page_texts(page_of(request).holder.knowledge, lang)})


def create_app(page: StaffPage) -> web.Application:
    """The /staff/ sub-application."""
    app = web.Application(middlewares=[errors], client_max_size=1024 * 1024)
    app[PAGE_KEY] = page
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static_file)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/api/me", me)
    app.router.add_get("/texts", texts)
    app.router.add_get("/api/texts", api(lambda request, _user: texts(request)))
    for module in (entries, hours, preview, publish, gaps, reviews):
        app.add_routes(module.routes)
    return app
