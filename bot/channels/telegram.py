"""The Telegram channel: python-telegram-bot v22 between the Bot API and the engine.

Thin, like the web channel: an Update becomes an `Inbound`, the engine answers with `Reply`s, and
each reply becomes a `sendMessage` (buttons as an inline keyboard). Messages the core sends on its
own (an agent's reply after handoff, a late data-rights reference) arrive through the
engine's listener `on_outbound` (wired in bot/app.py) and go out the same way.

Switched on by the environment:
- `TELEGRAM_BOT_TOKEN`: the channel is on when set.
- `TELEGRAM_API_BASE_URL`: python-telegram-bot's `base_url` form (`http://127.0.0.1:9000/bot`), for
  a local Bot API server or an emulator; the file URL is derived from it.
- `TELEGRAM_WEBHOOK_URL`: webhook mode; updates arrive on the `serve` server at that URL's path.
  Otherwise the bot polls (getUpdates).
- `TELEGRAM_WEBHOOK_SECRET`: the secret token given to setWebhook and required in the
  `X-Telegram-Bot-Api-Secret-Token` header. Unset: a random one per process. Empty: no secret and no
  header check (for emulators that do not send the header, e.g. telemelya).

Privacy: the session id is "tg-" and an HMAC of the chat id under a key kept in
`DATA_DIR/telegram/session.key`, so it is stable across restarts but does not reveal the chat id.
The chat id itself (needed to deliver later messages) travels on `Inbound.reply_to`; the engine
keeps it with the conversation (`ConversationState.reply_to`) and hands it back on `Outbound`, and
it is disposed of with the conversation. Logs never hold message text.

Ordering: updates are processed concurrently, but two updates of one chat never overlap — see
`ChatOrderedProcessor`.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from aiohttp import web

from common.expect import safe_expect
from telegram import (
    BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update,
)
from telegram.error import BadRequest as TgBadRequest
from telegram.error import NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    AIORateLimiter, Application, BaseUpdateProcessor, CallbackQueryHandler, ContextTypes,
    MessageHandler, filters,
)

from bot.channels.web import BadRequest, json_error, read_json
from bot.engine import Engine, UnknownButton
from bot.state import ConversationState
from bot.knowledge import LANGS
from common.locks import KeyedLocks
from common.messages import Button, Inbound, Outbound, Reply
from common.session_ids import validate_session
from common.atomic import write_atomic

log = logging.getLogger("halmstad.telegram")

CHANNEL = "telegram"
MAX_MESSAGE = 4096  # Telegram's limit for one message, in UTF-16 code units
MAX_CALLBACK_DATA = 64  # bytes
MAX_INBOUND_TEXT = 2000  # as the chat API: longer input is cut
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HASHED_PREFIX = "h:"
ALLOWED_UPDATES = ["message", "callback_query"]
SEND_ATTEMPTS = 3
MAX_RETRY_WAIT = 30.0
TELEGRAM_KEY = web.AppKey("telegram", object)

# The commands shown in Telegram's menu, in order; their descriptions are text keys telegram.cmd.*.
MENU_COMMANDS = ("start", "hjalp", "meny", "sprak", "avbryt", "integritet")
# A typed /command → the words the engine's COMMANDS table knows (English aliases work too).
ENGINE_WORDS = {
    "start": "/start", "hjalp": "/hjalp", "help": "/help", "meny": "/meny", "menu": "/menu",
    "sprak": "/sprak", "language": "/language", "avbryt": "/avbryt", "cancel": "cancel",
    "integritet": "/integritet", "privacy": "/privacy",
}
TEXT_KEYS = ("telegram.start", "telegram.privacy_line", "telegram.text_only", "telegram.private_only",
             "telegram.button_expired", "telegram.choose",
             *(f"telegram.cmd.{name}" for name in MENU_COMMANDS))



# Settings -------------------------------------------------------------------------------------

@dataclass
class TelegramSettings:
    """How to reach Telegram: token, API base URL, and webhook or polling."""

    token: str
    base_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None  # None: make a random one; "": no secret, no header check

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "TelegramSettings | None":
        """Read the TELEGRAM_* variables; None when no bot token is set (the channel is off)."""
        env = os.environ if env is None else env
        token = (env.get("TELEGRAM_BOT_TOKEN") or "").strip()
        if not token:
            return None
        webhook_url = (env.get("TELEGRAM_WEBHOOK_URL") or "").strip() or None
        if webhook_url:
            parts = urlsplit(webhook_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("TELEGRAM_WEBHOOK_URL must be an http(s) URL such as "
                                 "https://bot.example.org/telegram/webhook")
        secret = env.get("TELEGRAM_WEBHOOK_SECRET")
        if secret:
            secret = secret.strip()
            if not all(c.isalnum() or c in "_-" for c in secret) or len(secret) > 256:
                raise ValueError("TELEGRAM_WEBHOOK_SECRET may hold only A-Z, a-z, 0-9, _ and - "
                                 "(at most 256 characters)")
        return cls(token=token, base_url=(env.get("TELEGRAM_API_BASE_URL") or "").strip() or None,
                   webhook_url=webhook_url, webhook_secret=secret)

    @property
    def webhook_path(self) -> str | None:
        if not self.webhook_url:
            return None
        return urlsplit(self.webhook_url).path or "/"

    def missing_texts(self, knowledge) -> list[str]:
        """Return the channel's text keys the knowledge lacks."""
        return [k for k in TEXT_KEYS if k not in knowledge.texts]

    @property
    def base_file_url(self) -> str | None:
        """Return the file download base that goes with `base_url` (…/bot → …/file/bot)."""
        if not self.base_url:
            return None
        base = self.base_url.rstrip("/")
        if base.endswith("/bot"):
            return base[: -len("/bot")] + "/file/bot"
        return base + "/file/bot"


# Pure mappings ------------------------------------------------------------------------------

def load_session_key(data_dir: Path) -> bytes:
    """Return the key that turns chat ids into session ids, creating it on first use.

    Kept in the data directory so session ids survive restarts; never derived from the bot token,
    so rotating a leaked token does not re-key every conversation.
    """
    path = Path(data_dir) / "telegram" / "session.key"
    try:
        key = bytes.fromhex(path.read_text().strip())
        if len(key) >= 16:
            return key
    except FileNotFoundError:
        pass
    except ValueError:
        raise ValueError(f"{path} is not a hex key; delete it to make a new one "
                         "(existing Telegram conversations will then start afresh)") from None
    key = secrets.token_bytes(32)
    write_atomic(path, key.hex().encode())
    os.chmod(path, 0o600)
    return key


def session_for(key: bytes, chat_id: int) -> str:
    """Return the session id of a chat: stable, but the chat id cannot be read from it."""
    digest = hmac.new(key, str(chat_id).encode(), hashlib.sha256).hexdigest()
    return validate_session("tg-" + digest[:40])


def lang_hint(language_code: str | None) -> str | None:
    """Turn Telegram's IETF language tag (e.g. "sv", "en-GB") into a language the bot speaks."""
    if not language_code:
        return None
    lang = language_code.split("-")[0].lower()
    return lang if lang in LANGS else None


def command_of(text: str) -> str | None:
    """Return the command name of "/start", "/meny@halmstad_bot arg", else None."""
    if not text.startswith("/"):
        return None
    word = text[1:].split(maxsplit=1)[0] if len(text) > 1 else ""
    return word.split("@", 1)[0].lower() or None


def engine_text(text: str) -> tuple[str, str | None]:
    """Return what the engine should read for a typed message, and the command if it is one."""
    command = command_of(text)
    if command and command in ENGINE_WORDS:
        return ENGINE_WORDS[command], command
    return text[:MAX_INBOUND_TEXT], command


def inbound_from_update(update: Update, key: bytes) -> Inbound | None:
    """Map a private chat's text message or button press to an Inbound; None for anything else.

    Other updates (photos, group chats, edits) are answered by the channel without the engine.
    """
    chat = update.effective_chat
    if chat is None or chat.type != chat.PRIVATE:
        return None
    user = update.effective_user
    hint = lang_hint(user.language_code if user else None)
    session = session_for(key, chat.id)
    if update.callback_query is not None:
        data = update.callback_query.data
        if not data:
            return None
        return Inbound(session=session, button=data, channel=CHANNEL, lang_hint=hint, reply_to=reply_to(chat.id))
    message = update.message
    if message is None or not message.text or not message.text.strip():
        return None
    text, _ = engine_text(message.text)
    return Inbound(session=session, text=text, channel=CHANNEL, lang_hint=hint, reply_to=reply_to(chat.id))


def reply_to(chat_id: int) -> dict:
    """The address later messages of the conversation go to (kept with the conversation)."""
    return {"telegram_chat_id": chat_id}


def callback_data_for(payload: str) -> str:
    """Return callback data within Telegram's 64 bytes: the payload, or a hash of a long one."""
    if len(payload.encode("utf-8")) <= MAX_CALLBACK_DATA and not payload.startswith(HASHED_PREFIX):
        return payload
    return HASHED_PREFIX + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:40]


def resolve_callback_data(data: str, candidates: Iterable[str]) -> str | None:
    """Return the payload behind callback data; None when a hashed one matches no candidate."""
    if not data.startswith(HASHED_PREFIX):
        return data
    for payload in candidates:
        if callback_data_for(payload) == data:
            return payload
    return None


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split a long reply into messages of at most `limit` UTF-16 units, at paragraph boundaries
    where possible (then lines, then words, then anywhere)."""
    if utf16_len(text) <= limit:
        return [text]
    for separator in ("\n\n", "\n", " "):
        pieces = text.split(separator)
        if len(pieces) == 1:
            continue
        chunks: list[str] = []
        current = ""
        for piece in pieces:
            candidate = piece if not current else current + separator + piece
            if utf16_len(candidate) <= limit:
                current = candidate
                continue
            if current:
                chunks.append(current)
            current = piece
        if current:
            chunks.append(current)
        out: list[str] = []
        for chunk in chunks:
            out += split_text(chunk, limit) if utf16_len(chunk) > limit else [chunk]
        return [c for c in out if c.strip()]
    # No separator at all: cut by code points, never inside a surrogate pair.
    out, current = [], ""
    for char in text:
        if utf16_len(current + char) > limit:
            out.append(current)
            current = ""
        current += char
    return out + ([current] if current else [])


def keyboard(buttons: Iterable[Button]) -> InlineKeyboardMarkup | None:
    """Render buttons as an inline keyboard, one button a row (labels can be long)."""
    rows = [[InlineKeyboardButton(b.label, callback_data=callback_data_for(b.payload))] for b in buttons]
    return InlineKeyboardMarkup(rows) if rows else None


def messages_for(reply: Reply, choose_text: str) -> list[tuple[str, InlineKeyboardMarkup | None]]:
    """Return the (text, keyboard) pairs to send for one reply; the keyboard goes on the last."""
    text = reply.text.strip()
    if not text:
        if not reply.buttons:
            return []
        text = choose_text
    chunks = split_text(text)
    markup = keyboard(reply.buttons)
    return [(chunk, markup if i == len(chunks) - 1 else None) for i, chunk in enumerate(chunks)]


# Ordering -----------------------------------------------------------------------------------

class ChatLocks(KeyedLocks):
    """One lock per chat, dropped when nobody holds or waits for it."""

    def __call__(self, chat_id: int) -> asyncio.Lock:
        return self.lock(chat_id)


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Process updates of different chats concurrently and updates of one chat in arrival order.

    The Application creates one task per update in the order the updates arrive (webhook requests
    or getUpdates batches go through its update queue). The task's first step is this method,
    which queues on the chat's lock before anything suspends, and asyncio.Lock wakes waiters
    first-in first-out, so a chat's second update starts only after its first update's replies
    have been sent. The engine's per-session lock alone would not be enough: it is released before
    the replies go out, so replies of two quick messages could interleave.
    """

    def __init__(self, max_concurrent_updates: int, locks: ChatLocks) -> None:
        super().__init__(max_concurrent_updates)
        self.locks = locks

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        async with self.locks(chat.id):
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""


# The channel --------------------------------------------------------------------------------

class TelegramChannel:
    """Connects one bot to the engine; `start`/`stop` are called by the serve app's lifecycle."""

    def __init__(self, settings: TelegramSettings, data_dir: Path, *, engine: Engine | None = None,
                 request: Any = None, get_updates_request: Any = None, rate_limiter: bool = True,
                 max_concurrent_updates: int = 256, retry_delay: float = 1.0, key: bytes | None = None) -> None:
        self.engine = engine
        self.settings = settings
        # `key`: the session key shared by every serve process on one Redis (a chat must have one
        # session id whichever process takes its update); else the data dir's own.
        self.key = key or load_session_key(data_dir)
        self.locks = ChatLocks()
        self.retry_delay = retry_delay
        self.ready = asyncio.Event()
        self.secret = (secrets.token_urlsafe(32) if settings.webhook_secret is None
                       else settings.webhook_secret)
        self._pressed: OrderedDict[tuple[int, int], None] = OrderedDict()
        self._deliveries: set[asyncio.Task] = set()

        builder = (Application.builder().token(settings.token)
                   .concurrent_updates(ChatOrderedProcessor(max_concurrent_updates, self.locks)))
        if settings.base_url:
            builder = builder.base_url(settings.base_url).base_file_url(settings.base_file_url)
        if rate_limiter:
            builder = builder.rate_limiter(AIORateLimiter(max_retries=2))
        if request is not None:
            builder = builder.request(request)
        if get_updates_request is not None:
            builder = builder.get_updates_request(get_updates_request)
        if settings.webhook_url:
            builder = builder.updater(None)
        self.application: Application = builder.build()
        self.application.add_handler(CallbackQueryHandler(self.on_callback))
        self.application.add_handler(MessageHandler(filters.UpdateType.MESSAGE, self.on_message))
        self.application.add_error_handler(self.on_error)

    def bind(self, engine: Engine) -> None:
        """Give the channel the engine its updates go to (the engine calls `on_outbound`)."""
        self.engine = engine

    def add_routes(self, app: web.Application) -> None:
        """Add the webhook route when the channel takes updates by webhook."""
        if self.settings.webhook_path:
            app.router.add_post(self.settings.webhook_path, self.webhook, expect_handler=safe_expect)
        if self.settings.webhook_secret == "":
            log.warning("telegram webhook secret disabled: updates are not authenticated")

    # Lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect: check the token, register commands, then set the webhook or start polling."""
        app = self.application
        await app.initialize()
        await self.register_commands()
        if self.settings.webhook_url:
            if not app.running:  # running first, so updates are taken as soon as Telegram sends them
                await app.start()
            await app.bot.set_webhook(self.settings.webhook_url, secret_token=self.secret or None,
                                      allowed_updates=ALLOWED_UPDATES)
        else:
            if not app.running:
                await app.start()
            if not app.updater.running:
                await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES,
                                                error_callback=self._polling_error)
        self.ready.set()
        log.info("telegram started mode=%s", "webhook" if self.settings.webhook_url else "polling")

    async def run(self) -> None:
        """Start, retrying with back-off while Telegram cannot be reached; never raises."""
        delay = self.retry_delay
        while True:
            try:
                await self.start()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("telegram start failed error=%s; retrying in %.0fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    async def stop(self) -> None:
        """Stop taking updates, finish the ones taken (and pending deliveries), then disconnect."""
        app = self.application
        self.ready.clear()
        try:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            if self._deliveries:
                await asyncio.wait(set(self._deliveries), timeout=10)
        finally:
            await app.shutdown()
        log.info("telegram stopped")

    def _polling_error(self, exc: TelegramError) -> None:
        log.warning("telegram polling error=%s", type(exc).__name__)

    async def register_commands(self) -> None:
        """Register the command menu in Swedish (also the default) and English; optional."""
        knowledge = self.engine.knowledge
        for language_code, lang in ((None, "sv"), ("sv", "sv"), ("en", "en")):
            commands = [BotCommand(name, knowledge.text(f"telegram.cmd.{name}", lang)[:256])
                        for name in MENU_COMMANDS]
            try:
                await self.application.bot.set_my_commands(commands, language_code=language_code)
            except TelegramError as exc:  # e.g. an emulator without setMyCommands
                log.warning("telegram set_my_commands failed lang=%s error=%s", language_code or "default",
                            type(exc).__name__)

    # Webhook ------------------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        """Take one update from Telegram: check the secret, queue it, answer 200 at once."""
        if self.secret:
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self.secret.encode()):
                return json_error("wrong or missing secret token", 403)
        if not self.application.running:
            return json_error("the Telegram channel is starting; try again", 503, **{"Retry-After": "5"})
        data = await read_json(request, max_body=1024 * 1024)
        if not isinstance(data.get("update_id"), int):
            raise BadRequest("the body is not a Telegram update")
        try:
            update = Update.de_json(data, self.application.bot)
        except Exception:
            raise BadRequest("the body is not a Telegram update") from None
        if update is None:
            raise BadRequest("the body is not a Telegram update")
        await self.application.update_queue.put(update)
        return web.json_response({"ok": True})

    # Updates ------------------------------------------------------------------------------------

    def _lang(self, state: ConversationState | None, hint: str | None) -> str:
        return state.lang if state is not None else hint or "sv"

    async def _state(self, session: str) -> ConversationState | None:
        return await self.engine.peek(session)

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer a message: text goes to the engine; anything else gets a polite refusal."""
        message = update.message
        chat = update.effective_chat
        user = update.effective_user
        hint = lang_hint(user.language_code if user else None)
        if chat.type != chat.PRIVATE:
            log.info("telegram refused chat_type=%s", chat.type)
            await self.send(chat.id, [Reply(self.engine.t("telegram.private_only", hint or "sv"))], hint or "sv")
            return
        session = session_for(self.key, chat.id)
        inbound = inbound_from_update(update, self.key)
        if inbound is None:
            log.info("telegram refused kind=%s", _kind(message))
            lang = self._lang(await self._state(session), hint)
            await self.send(chat.id, [Reply(self.engine.t("telegram.text_only", lang))], lang)
            return
        _, command = engine_text(message.text)
        replies, state = await self.engine.handle_turn(inbound)
        lang = self._lang(state, hint)
        if command == "start":
            privacy = self.engine.knowledge.settings.get("privacy", {})
            greeting = (self.engine.t("telegram.start", lang) + "\n\n"
                        + self.engine.t("telegram.privacy_line", lang,
                                        retention_days=privacy.get("retention_days", 90)))
            replies = [Reply(greeting)] + list(replies)
        await self.send(chat.id, replies, lang)

    async def on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer a button press: acknowledge it, remove the keyboard, hand the payload on."""
        query = update.callback_query
        chat = update.effective_chat
        user = update.effective_user
        hint = lang_hint(user.language_code if user else None)
        if chat is None or chat.type != chat.PRIVATE:
            await self._call(lambda: query.answer(self.engine.t("telegram.private_only", hint or "sv")))
            return
        await self._call(query.answer)
        session = session_for(self.key, chat.id)
        message = query.message
        pressed = (chat.id, message.message_id) if message is not None else None
        if pressed is not None:
            if pressed in self._pressed:  # a second tap before the keyboard disappeared
                log.info("telegram ignored repeated press")
                return
            self._pressed[pressed] = None
            while len(self._pressed) > 10_000:
                self._pressed.popitem(last=False)
            if isinstance(message, Message):  # not an InaccessibleMessage (too old to edit)
                # Without reply_markup, Telegram removes the message's inline keyboard.
                await self._call(lambda: query.edit_message_reply_markup(reply_markup=None), quiet=True)
        state = await self._state(session)
        payload = resolve_callback_data(query.data or "", self._candidates(state))
        lang = self._lang(state, hint)
        if payload is None:
            await self.send(chat.id, [Reply(self.engine.t("telegram.button_expired", lang))], lang)
            return
        inbound = Inbound(session=session, button=payload, channel=CHANNEL, lang_hint=hint,
                          reply_to=reply_to(chat.id))
        try:
            replies, state = await self.engine.handle_turn(inbound)
            lang = self._lang(state, hint)
        except UnknownButton:
            log.info("telegram stale button")
            replies = [Reply(self.engine.t("telegram.button_expired", lang))]
        await self.send(chat.id, replies, lang)

    def _candidates(self, state: ConversationState | None) -> list[str]:
        """Return every payload a hashed callback could stand for in this conversation."""
        out = state.offered_payloads() if state is not None else []
        out += [f"faq:{entry_id}" for entry_id in self.engine.knowledge.entries]
        out += [f"flow:{name}" for name in self.engine.flows]
        return out

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log a failed update without its text, and tell the guardian something went wrong."""
        error = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        if isinstance(error, TelegramError):
            log.warning("telegram update failed update_id=%s error=%s", update_id, type(error).__name__)
        else:
            log.error("telegram update failed update_id=%s error=%s", update_id, type(error).__name__,
                      exc_info=error)
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is not None and chat.type == chat.PRIVATE:
            state = await self._state(session_for(self.key, chat.id))
            user = update.effective_user
            lang = self._lang(state, lang_hint(user.language_code if user else None))
            await self.send(chat.id, [Reply(self.engine.t("core.error", lang))], lang)

    # Outbound -----------------------------------------------------------------------------------

    async def on_outbound(self, outbound: Outbound) -> None:
        """Deliver a message the core sends on its own (agent reply, late reference) to the chat."""
        if outbound.channel != CHANNEL or not outbound.replies:
            return
        chat_id = outbound.reply_to.get("telegram_chat_id")
        if not isinstance(chat_id, int):
            log.warning("telegram outbound without a chat id sender=%s", outbound.sender)
            return
        # Delivered in a task that waits for the chat's lock, after any turn in progress has sent
        # its replies; waiting here instead could deadlock when a turn's own hook posts.
        state = await self._state(outbound.session)
        task = asyncio.create_task(self._deliver(chat_id, list(outbound.replies), self._lang(state, None)))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, chat_id: int, replies: list[Reply], lang: str) -> None:
        async with self.locks(chat_id):
            await self.send(chat_id, replies, lang)

    async def send(self, chat_id: int, replies: list[Reply], lang: str = "sv") -> None:
        """Send replies in order, each split to Telegram's size, buttons on its last part."""
        choose = self.engine.t("telegram.choose", lang if lang in LANGS else "sv")
        for reply in replies:
            for text, markup in messages_for(reply, choose):
                await self._call(lambda t=text, m=markup: self.application.bot.send_message(
                    chat_id, t, reply_markup=m))

    async def _call(self, make: Callable[[], Awaitable[Any]], *, quiet: bool = False) -> Any:
        """Call the Bot API, retrying flood waits and network errors a few times; never raises."""
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                return await make()
            except RetryAfter as exc:
                wait = _seconds(exc.retry_after)
                log.warning("telegram flood wait=%.0fs attempt=%d", wait, attempt)
                if attempt < SEND_ATTEMPTS:
                    await asyncio.sleep(min(wait, MAX_RETRY_WAIT))
            except TgBadRequest as exc:  # not worth retrying (a NetworkError subclass)
                if not quiet:
                    log.warning("telegram request refused error=%s", type(exc).__name__)
                return None
            except NetworkError as exc:
                log.warning("telegram network error=%s attempt=%d", type(exc).__name__, attempt)
                if attempt < SEND_ATTEMPTS:
                    await asyncio.sleep(self.retry_delay * attempt)
            except TelegramError as exc:  # e.g. Forbidden: the user blocked the bot
                log.warning("telegram request failed error=%s", type(exc).__name__)
                return None
        log.error("telegram request given up after %d attempts", SEND_ATTEMPTS)
        return None


def _seconds(value: Any) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


def _kind(message: Message | None) -> str:
    if message is None:
        return "none"
    for kind in ("photo", "voice", "sticker", "document", "location", "video", "audio", "video_note",
                 "contact", "animation", "poll", "venue"):
        if getattr(message, kind, None):
            return kind
    return "other"
