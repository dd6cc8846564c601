"""What the activation backend does, apart from HTTP: its settings, its accounts, the codes it
issues and the e-mail that carries them.

`ActivationConfig` is what the composition root (`serve`, `python -m backends.activation`, a test)
fills in; `ActivationService` is the state one running backend holds. The lookup of an address
runs after the API has answered, in a background task, so neither the answer nor its timing tells
whether the address is registered; codes are 256-bit, stored only as SHA-256 and single-use.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from argon2 import PasswordHasher

from backends import texts as texts_file
from backends.httpkit import utc_now
from backends.mail import Mailer
from common.loginguard import LoginGuard
from common.netaddr import ClientAddresses
from common.passwords import PasswordCheck

from . import pages
from .pages import Texts
from .security import CsrfGuard, EmailError, Limit, RateLimiter, hash_code, normalise_email
from .store import ActivationStore

log = logging.getLogger("backends.activation")

TEXTS_FILE = Path("texts") / "activation_pages.yaml"


@dataclass
class ActivationConfig:
    """Everything the activation backend needs; the composition root fills it in."""

    data_dir: Path
    token: str
    public_url: str
    mailer: Mailer
    texts: dict
    clock: Callable[[], datetime] = utc_now
    code_ttl: timedelta = timedelta(hours=24)
    per_address_limit: int = 3
    per_client_limit: int = 30
    request_window: timedelta = timedelta(hours=1)
    login_attempt_limit: int = 5  # failures per username before each attempt waits 2, 4, 8 … s
    login_max_delay: timedelta = timedelta(minutes=5)
    login_client_limit: int = 50  # failures per client address in login_window
    login_window: timedelta = timedelta(minutes=15)
    clients: ClientAddresses = field(default_factory=ClientAddresses)
    csrf_max_age: timedelta = timedelta(hours=2)
    max_body_bytes: int = 64 * 1024
    password_hasher: PasswordHasher = field(default_factory=PasswordHasher)
    shutdown_timeout: float = 30.0


def load_texts(knowledge_dir: Path) -> dict:
    """Read the activation pages' texts (key -> {sv, en}) from the knowledge directory.

    Raises ValueError naming the file and every problem, so a broken edit stops start-up with a
    message staff can act on instead of a page with a hole in it.
    """
    return texts_file.load_texts(Path(knowledge_dir) / TEXTS_FILE, pages.REQUIRED_TEXTS)


def add_account(data_dir: Path, email: str) -> None:
    """Register a guardian's e-mail address (idempotent), for `backend add-account` and `--demo`.

    Raises ValueError with the reason when the address is not usable.
    """
    try:
        address = normalise_email(email)
    except EmailError as exc:
        raise ValueError(f"invalid e-mail address: {exc}") from None
    store = ActivationStore(Path(data_dir))
    try:
        store.add_account(address, utc_now())
    finally:
        store.close()


class ActivationService:
    """The state one running backend holds: store, limiters, CSRF guard and mail tasks."""

    def __init__(self, config: ActivationConfig) -> None:
        problems = texts_file.text_problems(config.texts, pages.REQUIRED_TEXTS)
        if problems:
            raise ValueError("activation texts incomplete:\n" + "\n".join(problems))
        self.config = config
        self.texts = Texts(config.texts)
        self.store = ActivationStore(Path(config.data_dir))
        clock = config.clock
        self.address_limiter = RateLimiter(Limit(config.per_address_limit, config.request_window), clock)
        self.client_limiter = RateLimiter(Limit(config.per_client_limit, config.request_window), clock)
        self.login_guard = LoginGuard(
            free_failures=config.login_attempt_limit,
            max_delay=config.login_max_delay.total_seconds(),
            per_address=config.login_client_limit,
            address_window=config.login_window.total_seconds(),
            clock=lambda: clock().timestamp())
        secret = hmac.new(config.token.encode("utf-8"), b"activation-csrf", hashlib.sha256).digest()
        self.csrf = CsrfGuard(secret, clock, config.csrf_max_age)
        self.passwords = PasswordCheck(config.password_hasher)
        self.tasks: set[asyncio.Task] = set()

    # Helpers ---------------------------------------------------------------------------------

    @property
    def ttl_hours(self) -> int:
        return max(1, round(self.config.code_ttl.total_seconds() / 3600))

    def link_for(self, code: str) -> str:
        """Return the activation link the e-mail carries."""
        return f"{self.config.public_url.rstrip('/')}/activate?code={code}"

    def spawn(self, coro) -> None:
        """Run work after the response, kept so shutdown can wait for it (nothing acked is lost)."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        """Wait for pending mail work before the process stops."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=self.config.shutdown_timeout)

    # Activation requests ---------------------------------------------------------------------

    async def process_request(self, address: str) -> None:
        """Look the address up and, when registered, issue a code and mail the link.

        Runs after the 202 has gone out, for registered and unregistered addresses alike.
        """
        try:
            code = secrets.token_urlsafe(32)
            code_hash = hash_code(code)
            account = await asyncio.to_thread(self.store.find_account, address)
            if account is None:
                log.info("activation_request processed")
                return
            now = self.config.clock()
            await asyncio.to_thread(self.store.issue_code, account, code_hash, now,
                                    now + self.config.code_ttl)
            await self.config.mailer.send(self.activation_mail(account, code))
            log.info("activation_request processed")
            log.info("activation_mail sent via=%s", self.config.mailer.description.split(":")[0])
        except Exception as exc:  # noqa: BLE001 - background work must log, never crash the loop
            log.error("activation_request failed error=%s", type(exc).__name__)

    def activation_mail(self, to: str, code: str) -> EmailMessage:
        """Build the bilingual activation e-mail (Swedish first, then English)."""
        t = self.texts
        link = self.link_for(code)
        msg = EmailMessage()
        msg["To"] = to
        msg["Subject"] = (f"{t.get('activation_page.mail_subject', 'sv')} / "
                          f"{t.get('activation_page.mail_subject', 'en')}")
        msg["Content-Language"] = "sv, en"
        body = (t.get("activation_page.mail_body", "sv", link=link, hours=self.ttl_hours)
                + "\n\n" + "-" * 40 + "\n\n"
                + t.get("activation_page.mail_body", "en", link=link, hours=self.ttl_hours) + "\n")
        msg.set_content(body)
        return msg
