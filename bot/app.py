"""The composition root: the one place that picks implementations and wires them together.

`build_app` builds `serve`; `build_chat` builds the terminal chat from the same parts (the same
knowledge holder, clock, backend apps and clients, the engine), with the reference backends on a
loopback port of its own process. Every part is constructed here and handed its collaborators;
the engine's interceptors, listeners and turn hooks are listed in `_build_engine`, in order.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Awaitable, Callable

from aiohttp import web
from redis.asyncio import Redis

from backends.activation.app import ActivationConfig, create_app as create_activation
from backends.activation.app import load_texts as activation_texts
from backends.dsr.app import DsrConfig, create_app as create_dsr
from backends.dsr.app import load_texts as dsr_texts
from backends.mail import Mailer
from bot.accesslog import quiet_protocol_errors
from bot.channels import pages, widget
from bot.channels.push import HUB_KEY, PushHub
from bot.channels.telegram import TELEGRAM_KEY, TelegramChannel, TelegramSettings
from bot.channels.web import api_errors, setup_chat_routes
from bot.clients.activation import ActivationClient
from bot.clients.dsr import BACKGROUND_TIMEOUT, DsrClient
from bot.clock import make_clock
from bot.engine import Engine
from bot.handoff.setup import HANDOFF_KEY, HandoffParts, build_handoff
from bot.holder import KnowledgeHolder
from bot.knowledge import default_knowledge_dir
from bot.pending import DeliveryWorker, PendingQueue, engine_announcer
from bot.reload import RELOADER_KEY, Reloader
from bot.redis_health import redis_check, redis_unavailable
from bot.retention import retention_loop
from bot.shared_redis.state import SharedState
from bot.shared_redis.telegram_outbox import TelegramOutbox
from bot import staff_page
from bot.store.base import Locks, SessionStore
from bot.store.redis_lock import RedisLocks
from bot.store.redis_store import RedisStore
from bot.store.tinydb_store import TinyDBStore
from common.atomic import TMP_PREFIX
from common.hardening import install_server_headers, secure_data_dir
from common.locks import KeyedLocks
from common.loginguard import LoginGuard, LoginThrottle
from common.logtally import flush_all as flush_log_summaries
from common.redis_conn import DEFAULT_PREFIX, RedisSettings, shared_secret
from common.netaddr import ClientAddresses, parse_trusted_proxies
from flows.ports import Services
from flows.registry import all_flows

log = logging.getLogger("halmstad.app")
RUNTIME_KEY = web.AppKey("runtime", object)
Closer = Callable[[], Awaitable[None]]


@dataclass
class ServeConfig:
    """Everything `serve` (and `chat`) is told on its command line and in its environment."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./var")
    knowledge_dir: Path = field(default_factory=default_knowledge_dir)
    demo: bool = False
    now: str | None = None
    public_url: str | None = None
    rate_limit_per_address: int = 1200
    rate_limit_per_session: int = 30
    smtp_host: str | None = None
    smtp_port: int = 25
    backend_token: str | None = None
    activation_url: str | None = None
    dsr_url: str | None = None
    # CIDRs of the reverse proxies whose X-Forwarded-For is believed ("10.0.0.0/8,::1"); None or
    # empty: nobody's, every client is its direct peer.
    trusted_proxies: str | None = None
    session_hours: float = 12.0  # agent and staff sessions end this long after login, however busy
    # Several processes on one Redis (issue 17): None keeps everything in this process and its files.
    redis_url: str | None = None
    redis_prefix: str = DEFAULT_PREFIX

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@dataclass
class Runtime:
    """The running parts of one process."""

    config: ServeConfig
    engine: Engine
    holder: KnowledgeHolder
    store: SessionStore
    clock: Callable[[], datetime]
    token: str
    clients: ClientAddresses = field(default_factory=ClientAddresses)
    background: list = field(default_factory=list)
    closers: list[Closer] = field(default_factory=list)
    handoff: HandoffParts | None = None
    push: PushHub | None = None
    telegram: TelegramChannel | None = None
    # With --redis-url: the one client of this process (closed at cleanup) and its key prefix.
    redis: Redis | None = None
    redis_settings: RedisSettings | None = None
    health_checks: list[tuple[str, Callable[[], Awaitable[bool]]]] = field(default_factory=list)
    # The login throttle of the console's and the staff page's logins, by name: this process's own,
    # or (with --redis-url) counting in Redis for every process.
    login_guards: Callable[[str], LoginThrottle] = lambda _name: LoginGuard()


@dataclass
class Core:
    """What every process builds first: the flows, the knowledge, the clock, the shared token."""

    config: ServeConfig
    holder: KnowledgeHolder
    clock: Callable[[], datetime]
    token: str
    clients: ClientAddresses
    closers: list[Closer] = field(default_factory=list)
    # With --redis-url: the one Redis client of this process (every shared part uses it; closed
    # last at cleanup) and the settings whose `key()` puts a key under --redis-prefix.
    redis: Redis | None = None
    redis_settings: RedisSettings | None = None


def build_core(config: ServeConfig) -> Core:
    """Secure the data dir and load the knowledge (KnowledgeError when it is invalid)."""
    quiet_protocol_errors()
    secure_data_dir(config.data_dir)  # folders 0700, files 0600 (common/hardening.py)
    _remove_stale_temp_files(config.data_dir)
    holder = KnowledgeHolder(config.knowledge_dir, all_flows())
    token = config.backend_token or os.environ.get("HALMSTAD_BACKEND_TOKEN") or secrets.token_urlsafe(32)
    # The key that hides client addresses from flows and backends follows the backend token, so
    # per-client limits survive a restart when HALMSTAD_BACKEND_TOKEN is set.
    clients = ClientAddresses(parse_trusted_proxies(config.trusted_proxies),
                              secret=hmac.new(token.encode("utf-8"), b"client-address", "sha256").digest())
    core = Core(config, holder, make_clock(config.now), token, clients)
    core.closers.append(flush_log_summaries)  # the last minute's request and turn counts (closed last)
    if config.redis_url:
        # redis-py connects on the first command, so a Redis that is down now only makes turns
        # (and /healthz) answer 503 until it is back.
        core.redis_settings = RedisSettings(config.redis_url, config.redis_prefix)
        core.redis = core.redis_settings.connect()
        core.closers.append(core.redis.aclose)
    return core


def build_conversations(core: Core, shared: SharedState | None = None) -> tuple[SessionStore, Locks]:
    """Where conversations live and how their turns are serialised: in Redis, shared by every
    process on it (--redis-url), else in the embedded store under the data dir, this process only."""
    if core.redis is not None and core.redis_settings is not None:
        # A turn's lock reads the conversation's state and the change stream's news in the same
        # round trip (the store's `load_state` and the handoff's catch-up use them), and its commit
        # releases the lock (bot/store/redis_lock.py).
        store = RedisStore(core.redis, core.redis_settings)
        return store, RedisLocks(core.redis, core.redis_settings, state_key=store.state_key,
                                 follower=shared.bus if shared is not None else None)
    return TinyDBStore(core.config.data_dir / "sessions"), KeyedLocks()


def make_mailer(config: ServeConfig) -> Mailer:
    """The one mailer of a process: SMTP when --smtp-host is given, else the Maildir outbox."""
    return (Mailer.smtp(config.smtp_host, config.smtp_port) if config.smtp_host
            else Mailer.maildir(config.data_dir / "outbox"))


def mount_backends(app: web.Application, core: Core, shared: SharedState | None = None) -> None:
    """Mount the reference activation and data-rights backends at /activation/ and /dsr/ (the
    data-rights staff's sessions in Redis, timed on wall-clock time, when `shared`)."""
    config = core.config
    sessions = {"sessions": shared.staff_sessions("dsr"), "timer": time.time} if shared else {}
    mailer = make_mailer(config)
    base = config.base_url
    app.add_subapp("/activation/", create_activation(ActivationConfig(
        data_dir=config.data_dir, token=core.token, public_url=f"{base}/activation", mailer=mailer,
        texts=activation_texts(config.knowledge_dir), clock=core.clock, clients=core.clients,
    )))
    # The data-rights backend mails the requester's receipt and the DPO's daily reminder
    # (HALMSTAD_DSR_REMINDER_TO) through the same mailer as activation links.
    app.add_subapp("/dsr/", create_dsr(DsrConfig(
        data_dir=config.data_dir, token=core.token, texts=dsr_texts(config.knowledge_dir), clock=core.clock,
        secure_cookies=base.startswith("https://"), clients=core.clients,
        session_lifetime=config.session_hours * 3600, mailer=mailer, public_url=f"{base}/dsr", **sessions)))


def build_services(core: Core, *, activation_url: str, dsr_url: str, outbox: str,
                   shared: SharedState | None = None) -> Services:
    """The backend clients flows call (over HTTP, never by import of the backends) and the
    durable queue of data-rights requests waiting for delivery (in Redis when `shared`)."""
    activation = ActivationClient(activation_url, core.token)
    dsr = DsrClient(dsr_url, core.token)
    core.closers += [activation.close, dsr.close]
    pending = (shared.pending(core.clock) if shared is not None
               else PendingQueue(Path(core.config.data_dir) / outbox, clock=core.clock))
    return Services(activation=activation, dsr=dsr, pending=pending)


def _build_engine(core: Core, store: SessionStore, services: Services, *, handoff: HandoffParts | None = None,
                  push: PushHub | None = None, telegram: TelegramChannel | None = None,
                  locks: Locks | None = None, telegram_outbox: TelegramOutbox | None = None) -> Engine:
    """The engine with its interceptors, listeners and turn hooks, in the order they run (Telegram's
    posts go through `telegram_outbox` when processes share a Redis)."""
    interceptors = [handoff.service.intercept] if handoff else []
    listeners = [p.on_outbound for p in (push, telegram_outbox or telegram) if p is not None]
    turn_hooks = [handoff.service.after_turn] if handoff else []
    engine = Engine(source=core.holder, store=store, flows=core.holder.flows, clock=core.clock,
                    services=services, interceptors=interceptors, listeners=listeners, turn_hooks=turn_hooks,
                    locks=locks)
    for part in (handoff.service if handoff else None, telegram):
        if part is not None:
            part.bind(engine)
    return engine


def build_app(config: ServeConfig) -> web.Application:
    """Build the whole `serve` application: chat API, pages, backends, agent console."""
    core = build_core(config)
    shared = SharedState(core.redis, core.redis_settings) if core.redis and core.redis_settings else None
    local = f"http://{config.host}:{config.port}"
    services = build_services(core, activation_url=config.activation_url or f"{local}/activation",
                              dsr_url=config.dsr_url or f"{local}/dsr", outbox="pending_dsr", shared=shared)
    store, locks = build_conversations(core, shared)
    handoff = _build_handoff(core, shared)
    services.handoff = handoff.service
    push = PushHub(store.transcript)
    if shared is not None:
        shared.connect_push(push)
    telegram = _telegram(core)
    outbox = shared.telegram_outbox(telegram) if shared is not None and telegram is not None else None
    engine = _build_engine(core, store, services, handoff=handoff, push=push, telegram=telegram, locks=locks,
                           telegram_outbox=outbox)
    runtime = Runtime(config=config, engine=engine, holder=core.holder, store=store, clock=core.clock,
                      token=core.token, clients=core.clients, closers=core.closers, handoff=handoff,
                      push=push, telegram=telegram, redis=core.redis, redis_settings=core.redis_settings)
    if shared is not None:
        runtime.login_guards = shared.login_guard
    if core.redis is not None:
        runtime.health_checks.append(("redis", redis_check(core.redis)))
    # redis_unavailable sits inside api_errors: Redis being down is a 503, not a 500.
    # Shared state (when --redis-url) catches up before an agent request and writes before it answers.
    app = web.Application(middlewares=[api_errors, redis_unavailable, *([shared.middleware] if shared else [])],
                          client_max_size=256 * 1024)
    app[RUNTIME_KEY] = runtime
    install_server_headers(app, config.public_url)  # Server: halmstad; HSTS behind https
    setup_chat_routes(app, engine, per_address=config.rate_limit_per_address,
                      per_session=config.rate_limit_per_session, clients=core.clients,
                      limiter=shared.limiter if shared else None)
    pages.add_routes(app, runtime)
    widget.add_routes(app, runtime)
    app[HUB_KEY] = push
    push.add_routes(app)
    mount_backends(app, core, shared)
    if shared is not None:
        _start_shared(app, runtime, shared, handoff, outbox)
    handoff.mount(app, runtime)
    app[HANDOFF_KEY] = handoff.service
    _start_background(app, runtime, services)
    # The knowledge page publishes into the live folder and reloads it with the same reloader.
    staff_page.mount(app, runtime, app[RELOADER_KEY], make_mailer(config),
                     claims=shared.claims(days=8) if shared is not None else None)
    return app


def _build_handoff(core: Core, shared: SharedState | None) -> HandoffParts:
    """The handoff on the data dir, or (with --redis-url) on the queue, presence, console
    sessions, pushes and memory every process shares."""
    if shared is None:
        return build_handoff(core.config.data_dir, core.clock)
    return build_handoff(None, core.clock, storage=shared.items, presence=shared.presence(), hub=shared.hub(),
                         memory=shared.service_memory(),
                         sessions=shared.agent_sessions(core.config.session_hours * 3600))


def _start_shared(app: web.Application, runtime: Runtime, shared: SharedState, handoff: HandoffParts,
                  outbox: TelegramOutbox | None) -> None:
    """Load the shared state before anything else starts, and close it before the Redis client;
    the Telegram outbox recovers lapsed sends, and finishes its own before Telegram stops."""
    async def start(_app: web.Application) -> None:
        await shared.start(after_load=handoff.expect_agents)
        if outbox is not None:
            runtime.background.append(asyncio.get_running_loop().create_task(outbox.run()))

    async def finish_sends(_app: web.Application) -> None:
        await outbox.close()

    app.on_startup.insert(0, start)
    if outbox is not None:
        app.on_shutdown.append(finish_sends)
    runtime.closers.append(shared.close)


def _telegram(core: Core) -> TelegramChannel | None:
    """The Telegram channel when TELEGRAM_BOT_TOKEN is set."""
    settings = TelegramSettings.from_env()
    if settings is None:
        return None
    missing = settings.missing_texts(core.holder.knowledge)
    if missing:
        raise ValueError(f"the Telegram texts {', '.join(missing)} are missing from knowledge/texts/")
    if core.redis_settings is None:
        return TelegramChannel(settings, core.config.data_dir)
    if not settings.webhook_url:
        # Two processes polling one bot take each other's updates (Telegram answers 409 Conflict).
        raise ValueError("with --redis-url every serve process takes Telegram updates by webhook: set "
                         "TELEGRAM_WEBHOOK_URL to the load balancer's address (docs/DEPLOYMENT.md)")
    return TelegramChannel(settings, core.config.data_dir, key=shared_secret(core.redis_settings, "telegram-session"))


def _start_background(app: web.Application, runtime: Runtime, services: Services) -> None:
    """Start the background work with the app and stop it at cleanup, in reverse order."""
    engine, config = runtime.engine, runtime.config
    worker = DeliveryWorker(services.pending, services.dsr, announce=engine_announcer(engine),
                            timeout=BACKGROUND_TIMEOUT)
    reloader = Reloader(runtime.holder)
    app[RELOADER_KEY] = reloader
    tasks: list[Callable[[], Awaitable[None]]] = [
        worker.run, runtime.handoff.service.run_sweeper, reloader.start,
        lambda: retention_loop(runtime.store, lambda: engine.knowledge, runtime.clock,
                               pending=services.pending, outbox=config.data_dir / "outbox"),
    ]
    if runtime.telegram is not None:
        app[TELEGRAM_KEY] = runtime.telegram
        runtime.telegram.add_routes(app)
        tasks.append(runtime.telegram.run)
        runtime.closers.append(runtime.telegram.stop)

    async def on_startup(_app: web.Application) -> None:
        runtime.background += [asyncio.get_running_loop().create_task(start()) for start in tasks]

    async def on_cleanup(_app: web.Application) -> None:
        for task in runtime.background:
            task.cancel()
        await asyncio.gather(*runtime.background, return_exceptions=True)
        await close_all(runtime.closers)
        await runtime.store.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)


async def close_all(closers: list[Closer]) -> None:
    """Close the parts in the reverse order of their making; one failing stops none of the others."""
    for closer in reversed(closers):
        try:
            await closer()
        except Exception:
            log.exception("closing a part failed")


def _remove_stale_temp_files(data_dir: Path) -> None:
    """Remove the temp files a kill mid-write left beside the data dir's own JSON files.

    The handoff queue and the activation backend replace `DATA_DIR/*.json` atomically, so a kill
    leaves the old file intact plus an orphaned `.tmp-*`; nothing else clears those. Only the
    top level is swept here (the session store sweeps its own tree when it opens).
    """
    for stale in Path(data_dir).glob(TMP_PREFIX + "*"):
        try:
            stale.unlink()
        except OSError:
            pass


# The terminal chat ------------------------------------------------------------------------------


@dataclass
class Chat:
    """The terminal chat's parts: the engine, and what to close when the chat ends."""

    engine: Engine
    runner: web.AppRunner
    closers: list[Closer]

    async def close(self) -> None:
        await close_all(self.closers)
        await self.runner.cleanup()


async def build_chat(config: ServeConfig, store: SessionStore) -> Chat:
    """Build the terminal chat: the same engine as `serve`, with the reference backends served
    on a loopback port of this process (unless --activation-url / --dsr-url name real ones)."""
    core = build_core(config)
    backends = web.Application()
    mount_backends(backends, core)
    runner = web.AppRunner(backends, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    local = "http://127.0.0.1:{}".format(runner.addresses[0][1])
    services = build_services(core, activation_url=config.activation_url or f"{local}/activation",
                              dsr_url=config.dsr_url or f"{local}/dsr", outbox="pending_dsr_console")
    engine = _build_engine(core, store, services)
    # Requests the backend could not take at once are delivered while the chat runs (or on the
    # next run); the reference is shown when the guardian asks for the status.
    worker = DeliveryWorker(services.pending, services.dsr, timeout=BACKGROUND_TIMEOUT)
    task = asyncio.get_running_loop().create_task(worker.run())

    async def stop_worker() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    return Chat(engine, runner, core.closers + [stop_worker])
