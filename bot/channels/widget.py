"""The embeddable web chat widget and its pages: /, /widget.js, /widget.css, /tillganglighet,
/integritet.

The widget is one `<script src=".../widget.js" data-api="https://chat.example" defer>` tag. Its UI
strings come from knowledge/texts/widget.yaml and are written into widget.js when it is served,
so a knowledge reload changes the widget without a deploy. Every response carries an ETag (and
answers If-None-Match with 304) so browsers revalidate cheaply. The pages carry a strict CSP that
still lets the widget talk to its own server over HTTP and WebSocket.

Cross-origin use (the widget on www.halmstad.se, the API on another host) needs the page's origin
in the environment variable HALMSTAD_WIDGET_ORIGINS (comma-separated, or "*"); the chat API then
answers CORS preflights and adds Access-Control-Allow-Origin for those origins only.
"""
from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
from pathlib import Path
from string import Template
from typing import Callable

from aiohttp import web

from common.expect import safe_expect
from common.privacy import public_retention_decision

log = logging.getLogger("halmstad.widget")
STATIC = Path(__file__).resolve().parent / "static"
LANGS = ("sv", "en")
ORIGINS_ENV = "HALMSTAD_WIDGET_ORIGINS"

# The text keys widget.js needs (both languages are sent; the widget switches without a request).
WIDGET_KEYS = (
    "launcher", "title", "welcome", "show_menu", "messages_label", "input_label", "input_hint", "send",
    "close", "close_label", "typing", "switch_language", "privacy_link", "accessibility_link",
    "from_user", "from_bot", "from_agent", "from_system", "error_unreachable", "error_generic", "retry",
    "empty", "new_messages",
)

_LINK_RE = re.compile(r"(https?://[^\s<>\"]+[^\s<>\".,;:!?)])|([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")


# Helpers ---------------------------------------------------------------------------------


def allowed_origins() -> set[str] | None:
    """Return the extra origins allowed to use the chat API from a browser (None means any)."""
    raw = os.environ.get(ORIGINS_ENV, "").strip()
    if raw == "*":
        return None
    return {o.strip().rstrip("/") for o in raw.split(",") if o.strip()}


def origin_allowed(request: web.Request) -> bool:
    """Tell whether a browser request's Origin may use the API (same origin always may)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a cross-site browser request
    own = {f"{scheme}://{request.host}" for scheme in ("http", "https")}
    if origin in own:
        return True
    allowed = allowed_origins()
    return allowed is None or origin in allowed


def linkify(text: str) -> str:
    """Escape `text` for HTML and turn web and e-mail addresses in it into links."""
    out, pos = [], 0
    for m in _LINK_RE.finditer(text):
        out.append(html.escape(text[pos:m.start()]))
        url, email = m.group(1), m.group(2)
        if url:
            out.append(f'<a href="{html.escape(url)}">{html.escape(url)}</a>')
        else:
            out.append(f'<a href="mailto:{html.escape(email)}">{html.escape(email)}</a>')
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def rich(text: str) -> str:
    """Render a staff-written text: blank lines make paragraphs, "- " lines make a list."""
    parts = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        group: list[str] = []
        for line in lines + [""]:
            is_item = line.startswith("- ")
            if group and (not line or is_item != group[0].startswith("- ")):
                if group[0].startswith("- "):
                    parts.append("<ul>" + "".join(f"<li>{linkify(g[2:])}</li>" for g in group) + "</ul>")
                else:
                    parts.append(f"<p>{linkify(' '.join(group))}</p>")
                group = []
            if line:
                group.append(line)
    return "\n".join(parts)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def cached_response(request: web.Request, body: bytes, content_type: str, cache_control: str,
                    headers: dict[str, str] | None = None) -> web.Response:
    """Answer with `body` and its ETag, or 304 when the browser already has this version."""
    etag = etag_of(body)
    all_headers = {"ETag": etag, "Cache-Control": cache_control, "X-Content-Type-Options": "nosniff",
                   **(headers or {})}
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=all_headers)
    resp = web.Response(body=body, content_type=content_type, charset="utf-8", headers=all_headers)
    if len(body) > 1024:
        resp.enable_compression()
    return resp


def page_lang(request: web.Request) -> str:
    lang = request.query.get("lang", "sv")
    return lang if lang in LANGS else "sv"


def api_base(request: web.Request, runtime) -> str:
    """Return the URL the widget on our own pages talks to."""
    if runtime.config.public_url:
        return runtime.config.public_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


def page_csp(request: web.Request, runtime) -> str:
    """Return the Content-Security-Policy of our pages: only our own scripts, styles and server."""
    base = api_base(request, runtime)
    ws = re.sub(r"^http", "ws", base)
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {base} {ws}; font-src 'self'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")


# The widget's assets ---------------------------------------------------------------------


class Assets:
    """Builds widget.js (with the texts of the knowledge in force) and caches it per version."""

    def __init__(self, runtime, static: Path = STATIC) -> None:
        self.runtime = runtime
        self.static = static
        self._cache: dict[str, bytes] = {}

    def texts(self) -> dict[str, dict[str, str]]:
        knowledge = self.runtime.holder.knowledge
        return {lang: {key: knowledge.text(f"widget.{key}", lang) for key in WIDGET_KEYS} for lang in LANGS}

    def widget_js(self) -> bytes:
        key = f"js:{self.runtime.holder.version}"
        if key not in self._cache:
            source = (self.static / "widget.js").read_text("utf-8")
            texts = json.dumps(self.texts(), ensure_ascii=False, separators=(",", ":"))
            texts = texts.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
            self._cache = {key: source.replace("/*TEXTS*/null", texts).encode("utf-8")}
        return self._cache[key]

    def file(self, name: str) -> bytes:
        if name not in self._cache:
            self._cache[name] = (self.static / name).read_bytes()
        return self._cache[name]


# Pages -----------------------------------------------------------------------------------


def render_page(runtime, request: web.Request, *, title: str, main: str, path: str,
                widget: bool = False) -> bytes:
    """Fill the page template: header, main content, footer and (optionally) the widget tag."""
    lang = page_lang(request)
    other = "en" if lang == "sv" else "sv"
    t: Callable[..., str] = lambda key, **fmt: runtime.holder.knowledge.text(key, lang, **fmt)
    q = "?lang=en" if lang == "en" else ""
    script = ""
    if widget:
        # No data-lang: the widget starts in the browser's language (the guardian's, not the page's).
        script = f'<script src="/widget.js" data-api="{html.escape(api_base(request, runtime))}" defer></script>'
    template = Template((STATIC / "page.html").read_text("utf-8"))
    return template.substitute(
        lang=lang, other=other, title=html.escape(title), site=html.escape(t("widget.site_name")),
        skip=html.escape(t("widget.skip_link")), switch=html.escape(t("widget.page_switch_language")),
        switch_href=html.escape(path + ("?lang=en" if other == "en" else "")), q=q, main=main,
        contact=linkify(t("widget.footer_contact")),
        a11y=html.escape(t("widget.footer_accessibility")),
        privacy=html.escape(t("widget.footer_privacy")), home=html.escape(t("widget.footer_home")),
        script=script,
    ).encode("utf-8")


def demo_main(runtime, lang: str) -> str:
    k = runtime.holder.knowledge
    return (f"<h1>{html.escape(k.text('widget.demo_title', lang))}</h1>\n"
            f"{rich(k.text('widget.demo_body', lang))}\n"
            f"<p class=\"hint\">{html.escape(k.text('widget.demo_chat_hint', lang))}</p>")


def statement_main(runtime, lang: str) -> str:
    k = runtime.holder.knowledge
    parts = [f"<h1>{html.escape(k.text('widget.a11y_title', lang))}</h1>", rich(k.text("widget.a11y_intro", lang))]
    for section in ("status", "known", "report", "enforcement", "method"):
        parts.append(f"<h2>{html.escape(k.text(f'widget.a11y_{section}_heading', lang))}</h2>")
        parts.append(rich(k.text(f"widget.a11y_{section}", lang)))
    parts.append(f"<p class=\"date\">{html.escape(k.text('widget.a11y_date', lang))}</p>")
    return "\n".join(parts)


def privacy_main(runtime, lang: str) -> str:
    k = runtime.holder.knowledge
    settings = k.settings.get("privacy", {})
    notice = k.text("privacy.notice", lang, retention_days=settings.get("retention_days", 90),
                    retention_decision=public_retention_decision(k.settings, lang))
    return (f"<h1>{html.escape(k.text('widget.privacy_title', lang))}</h1>\n{rich(notice)}\n"
            f"{rich(k.text('widget.privacy_more', lang))}")


# Routes ----------------------------------------------------------------------------------


def add_routes(app: web.Application, runtime) -> None:
    """Add the widget's assets, the demo page, the accessibility statement and privacy notice."""
    assets = Assets(runtime)
    page_cache = "no-cache"
    asset_cache = "public, max-age=300, must-revalidate"

    def page_headers(request: web.Request) -> dict[str, str]:
        return {"Content-Security-Policy": page_csp(request, runtime), "Referrer-Policy": "same-origin",
                "X-Frame-Options": "DENY"}

    def page(builder, title_key: str, path: str, widget: bool = False):
        async def handler(request: web.Request) -> web.Response:
            lang = page_lang(request)
            body = render_page(runtime, request, title=runtime.holder.knowledge.text(title_key, lang),
                               main=builder(runtime, lang), path=path, widget=widget)
            return cached_response(request, body, "text/html", page_cache, page_headers(request))
        return handler

    async def widget_js(request: web.Request) -> web.Response:
        return cached_response(request, assets.widget_js(), "application/javascript", asset_cache,
                               {"Cross-Origin-Resource-Policy": "cross-origin"})

    async def widget_css(request: web.Request) -> web.Response:
        return cached_response(request, assets.file("widget.css"), "text/css", asset_cache,
                               {"Cross-Origin-Resource-Policy": "cross-origin"})

    async def page_css(request: web.Request) -> web.Response:
        return cached_response(request, assets.file("page.css"), "text/css", asset_cache)

    async def texts_json(request: web.Request) -> web.Response:
        body = json.dumps(assets.texts(), ensure_ascii=False).encode("utf-8")
        return cached_response(request, body, "application/json", asset_cache)

    app.router.add_get("/", page(demo_main, "widget.demo_title", "/", widget=True), expect_handler=safe_expect)
    app.router.add_get("/tillganglighet", page(statement_main, "widget.a11y_title", "/tillganglighet"), expect_handler=safe_expect)
    app.router.add_get("/integritet", page(privacy_main, "widget.privacy_title", "/integritet"), expect_handler=safe_expect)
    app.router.add_get("/widget.js", widget_js, expect_handler=safe_expect)
    app.router.add_get("/widget.css", widget_css, expect_handler=safe_expect)
    app.router.add_get("/page.css", page_css, expect_handler=safe_expect)
    app.router.add_get("/widget/texts.json", texts_json, expect_handler=safe_expect)
    setup_cors(app)


def setup_cors(app: web.Application) -> None:
    """Let pages on the origins in HALMSTAD_WIDGET_ORIGINS use the chat API from a browser."""

    async def preflight(request: web.Request) -> web.Response:
        if "Origin" not in request.headers or not origin_allowed(request):
            return web.json_response({"error": "this origin may not use the chat API"}, status=403)
        return web.Response(status=204, headers={
            "Access-Control-Allow-Origin": request.headers["Origin"],
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        })

    async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get("Origin")
        if origin and request.path.startswith("/api/chat") and origin_allowed(request):
            if "Access-Control-Allow-Origin" not in response.headers:
                response.headers["Access-Control-Allow-Origin"] = origin
                response.headers["Vary"] = "Origin"

    app.router.add_route("OPTIONS", "/api/chat", preflight, expect_handler=safe_expect)
    app.router.add_route("OPTIONS", "/api/chat/{session}/messages", preflight, expect_handler=safe_expect)
    app.on_response_prepare.append(add_cors_headers)
