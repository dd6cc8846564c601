"""The composition root: the one place that picks implementations and wires them together."""
from __future__ import annotations

import hmac
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.engine import Engine, Services
from bot.knowledge import Knowledge, KnowledgeError, Problem, check_knowledge, default_knowledge_dir
from common.netaddr import ClientAddresses, parse_trusted_proxies
from bot.store.tinydb_store import TinyDBStore
from bot.understanding import Understanding

log = logging.getLogger("halmstad.app")
STOCKHOLM = ZoneInfo("Europe/Stockholm")
RUNTIME_KEY = web.AppKey("runtime", object)


def parse_now(value: str) -> datetime:
    """Parse --now: ISO-8601; without an offset it is Stockholm local time."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--now {value!r} is not an ISO-8601 time such as 2026-12-24T10:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=STOCKHOLM)
    return moment


def make_clock(now: str | datetime | None) -> Callable[[], datetime]:
    """Return the clock: real time, or time that starts at `now` and runs on from there."""
    if now is None:
        return lambda: datetime.now(STOCKHOLM)
    start = parse_now(now) if isinstance(now, str) else now
    t0 = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - t0)


def knowledge_checks(flows) -> list:
    """Return the extra checks the loader runs: the text keys code needs exist."""
    from flows.registry import required_text_keys

    needed = required_text_keys(flows) | CORE_TEXT_KEYS

    def texts_exist(knowledge: Knowledge) -> list[Problem]:
        missing = sorted(k for k in needed if k not in knowledge.texts)
        return [Problem("knowledge/texts", 1, f"the text '{k}' is missing",
                        f"add '{k}:' with 'sv:' and 'en:' to a file in knowledge/texts/") for k in missing]
    return [texts_exist]


CORE_TEXT_KEYS = {
    "core.menu", "core.help", "core.cancelled", "core.nothing_to_cancel", "core.language_set",
    "core.clarify", "core.none_of_these", "core.fallback", "core.fallback_twice", "core.not_an_answer",
    "core.resume", "core.other_flow_offer", "core.anything_else", "core.error", "core.rate_limited",
    "menu.account", "menu.activation", "menu.hours", "menu.data_rights", "menu.human",
    "privacy.masked_warning", "privacy.notice", "core.flow_paused", "core.resume_button",
    "core.none_of_these_menu", "core.nothing_to_resume",
}


class KnowledgeHolder:
    """Holds the knowledge in force and its understanding; `reload` swaps them only when valid."""

    def __init__(self, root: Path, flows) -> None:
        self.root = Path(root)
        self.flows = flows
        self.last_error: str | None = None
        self.loaded_at: datetime | None = None
        self.knowledge, self.understanding = self._load()
        self.loaded_at = datetime.now(STOCKHOLM)

    def _load(self) -> tuple[Knowledge, Understanding]:
        """Load and check the folder, including phrasings the matcher would give to another entry."""
        knowledge, problems = check_knowledge(self.root, extra_checks=knowledge_checks(self.flows))
        if knowledge is None:
            raise KnowledgeError([p for p in problems if p.severity == "error"])
        understanding = Understanding(knowledge)
        try:
            from bot.staff_tools import collision_problems
        except ImportError:
            collision_problems = None
        if collision_problems is not None:
            collisions = [p for p in collision_problems(knowledge, understanding) if p.severity == "error"]
            if collisions:
                raise KnowledgeError(collisions)
        return knowledge, understanding

    def install(self, knowledge: Knowledge, understanding: Understanding) -> None:
        """Swap in a checked knowledge and its understanding together."""
        self.knowledge, self.understanding = knowledge, understanding
        self.last_error = None
        self.loaded_at = datetime.now(STOCKHOLM)
        log.info("knowledge reloaded version=%s", knowledge.version)

    def reload(self) -> bool:
        """Load the files again; keep serving the old knowledge if the new one has errors."""
        try:
            knowledge, understanding = self._load()
        except KnowledgeError as exc:
            self.last_error = "\n".join(str(p) for p in exc.problems)
            log.warning("knowledge reload refused errors=%d", len(exc.problems))
            return False
        self.install(knowledge, understanding)
        return True

    @property
    def version(self) -> str:
        return self.knowledge.version


@dataclass
class ServeConfig:
    """Everything `serve` is told on its command line and in its environment."""

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

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@dataclass
class Runtime:
    """The running parts of one `serve` process."""

    config: ServeConfig
    engine: Engine
    holder: KnowledgeHolder
    store: TinyDBStore
    clock: Callable[[], datetime]
    token: str
    clients: ClientAddresses = field(default_factory=ClientAddresses)
    background: list = field(default_factory=list)
    closers: list = field(default_factory=list)


def make_mailer(config: ServeConfig):
    from backends.mail import Mailer

    if config.smtp_host:
        return Mailer.smtp(config.smtp_host, config.smtp_port)
    return Mailer.maildir(config.data_dir / "outbox")


def build_app(config: ServeConfig) -> web.Application:
    """Build the whole `serve` application: chat API, pages, backends, agent console."""
    from backends.activation.app import ActivationConfig, create_app as create_activation
    from backends.activation.app import load_texts as activation_texts
    from backends.dsr.app import DsrConfig, create_app as create_dsr
    from backends.dsr.app import load_texts as dsr_texts
    from bot.channels.web import api_errors, setup_chat_routes
    from bot.channels import pages
    from flows.registry import all_flows

    from bot.accesslog import quiet_protocol_errors
    from bot.datadir import secure_data_dir
    from bot import headers

    quiet_protocol_errors()
    secure_data_dir(config.data_dir)  # folders 0700, files 0600 (bot/datadir.py)
    _remove_stale_temp_files(config.data_dir)
    flows = all_flows()
    holder = KnowledgeHolder(config.knowledge_dir, flows)
    clock = make_clock(config.now)
    token = config.backend_token or os.environ.get("HALMSTAD_BACKEND_TOKEN") or secrets.token_urlsafe(32)
    store = TinyDBStore(config.data_dir / "sessions")
    base = config.base_url
    services = Services()
    engine = Engine(source=holder, store=store, flows=flows, clock=clock, services=services)
    # The key that hides client addresses from flows and backends follows the backend token, so
    # per-client limits survive a restart when HALMSTAD_BACKEND_TOKEN is set.
    clients = ClientAddresses(parse_trusted_proxies(config.trusted_proxies),
                              secret=hmac.new(token.encode("utf-8"), b"client-address", "sha256").digest())
    runtime = Runtime(config=config, engine=engine, holder=holder, store=store, clock=clock, token=token,
                      clients=clients)

    app = web.Application(middlewares=[api_errors], client_max_size=256 * 1024)
    app[RUNTIME_KEY] = runtime
    headers.install(app, config.public_url)  # Server: halmstad; HSTS when the public URL is https
    setup_chat_routes(app, engine, per_address=config.rate_limit_per_address,
                      per_session=config.rate_limit_per_session, clients=clients)
    pages.setup(app, runtime)

    mailer = make_mailer(config)
    activation = create_activation(ActivationConfig(
        data_dir=config.data_dir, token=token, public_url=f"{base}/activation", mailer=mailer,
        texts=activation_texts(config.knowledge_dir), clock=clock, clients=clients,
    ))
    dsr = create_dsr(DsrConfig(data_dir=config.data_dir, token=token, texts=dsr_texts(config.knowledge_dir),
                               clock=clock, secure_cookies=base.startswith("https://"), clients=clients,
                               session_lifetime=config.session_hours * 3600))
    app.add_subapp("/activation/", activation)
    app.add_subapp("/dsr/", dsr)

    local = f"http://{config.host}:{config.port}"
    _wire_clients(app, runtime, services, activation_url=config.activation_url or f"{local}/activation",
                  dsr_url=config.dsr_url or f"{local}/dsr")
    _wire_optional(app, runtime)

    async def on_cleanup(_app: web.Application) -> None:
        for task in runtime.background:
            task.cancel()
        for closer in reversed(runtime.closers):
            try:
                await closer()
            except Exception:
                log.exception("closing a part failed")
        await store.close()

    app.on_cleanup.append(on_cleanup)
    return app


def _remove_stale_temp_files(data_dir: Path) -> None:
    """Remove the temp files a kill mid-write left beside the data dir's own JSON files.

    The handoff queue and the activation backend replace `DATA_DIR/*.json` atomically, so a kill
    leaves the old file intact plus an orphaned `.tmp-*`; nothing else clears those. Only the
    top level is swept here (the session store sweeps its own tree when it opens).
    """
    from common.atomic import TMP_PREFIX

    for stale in data_dir.glob(TMP_PREFIX + "*"):
        try:
            stale.unlink()
        except OSError:
            pass


def _wire_clients(app: web.Application, runtime: Runtime, services: Services, *, activation_url: str,
                  dsr_url: str) -> None:
    """Give flows their backend clients (over HTTP, never by import of the backends)."""
    from bot import clients

    clients.wire(app, runtime, services, activation_url=activation_url, dsr_url=dsr_url)


def _wire_optional(app: web.Application, runtime: Runtime) -> None:
    """Attach the parts that plug in (handoff, Telegram, live reload) when they are present."""
    for module_name in ("bot.channels.widget", "bot.channels.push", "bot.handoff.setup",
                        "bot.channels.telegram", "bot.reload", "bot.retention"):
        try:
            module = __import__(module_name, fromlist=["setup"])
        except ImportError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        module.setup(app, runtime)
