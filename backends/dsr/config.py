"""The data-rights backend's settings and the state one running app holds.

`DsrConfig` is what the composition root (`serve`, `python -m backends.dsr`, a test) fills in; the
app keys name what `create_app` puts on the application for the handlers to find.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from aiohttp import web

from backends.httpkit import utc_now
from backends.mail import Mailer
from common.loginguard import LoginGuard
from common.netaddr import ClientAddresses
from common.passwords import PasswordCheck
from common.sessionkeeper import MemorySessions, SessionKeeper

from .store import DsrStore

MAX_BODY_BYTES = 256 * 1024
SESSION_IDLE_SECONDS = 8 * 3600
SESSION_LIFETIME_SECONDS = 12 * 3600
MAX_PASSWORD = 1024
SESSION_COOKIE = "dsr_session"
LOGIN_COOKIE = "dsr_login"
# The data-protection officer's mailbox for the daily reminder (DsrConfig.reminder_to).
REMINDER_ENV = "HALMSTAD_DSR_REMINDER_TO"


def _reminder_address() -> str | None:
    return os.environ.get(REMINDER_ENV, "").strip() or None


@dataclass
class DsrConfig:
    """Configure one DSR backend: where it stores, the bot's token, its texts and its clock."""

    data_dir: Path
    token: str
    texts: dict
    clock: Callable[[], datetime] = field(default=utc_now)
    secure_cookies: bool = False
    # However busy, a session ends this long after its login (idle sessions end sooner).
    session_lifetime: float = SESSION_LIFETIME_SECONDS
    clients: ClientAddresses = field(default_factory=ClientAddresses)
    # Seconds for sessions and login throttles, apart from `clock` (the cases' calendar, which
    # `serve --now` and the tests move by months).
    timer: Callable[[], float] = field(default=time.monotonic)
    # Follow-through (`followup.py`), on when a mailer is given: the receipt e-mail to a requester
    # who gave an address, and the daily reminder to `reminder_to` (default: $HALMSTAD_DSR_REMINDER_TO)
    # from `reminder_hour` o'clock Stockholm time, in `reminder_lang`, linking `public_url`.
    mailer: Mailer | None = None
    reminder_to: str | None = field(default_factory=_reminder_address)
    reminder_hour: int = 7
    reminder_lang: str = "sv"
    public_url: str = ""
    job_interval: float = 60.0  # seconds between the follow-through job's rounds
    # Staff link from a case to the conversation it came from: "{conversation}" is replaced by
    # the reference the bot sent (e.g. "/agent/conversations/{conversation}"); None shows the
    # reference as text.
    conversation_url: str | None = None
    # The staff's login sessions: this process's memory, or Redis shared by every serve process
    # (common/redis_sessions.py; `timer` must then be wall-clock time, e.g. time.time).
    sessions: SessionKeeper = field(default_factory=MemorySessions)


@dataclass
class StaffSession:
    """Remember one signed-in staff member (kept server-side; the cookie holds a random token)."""

    username: str
    csrf: str
    expires: float  # the idle limit, renewed while used
    ends: float = float("inf")  # the absolute limit, never renewed
    epoch: str = ""  # the login's session epoch at login: a new password or disabling changes it


CONFIG_KEY = web.AppKey("dsr_config", DsrConfig)
STORE_KEY = web.AppKey("dsr_store", DsrStore)
# Unused since the sessions moved to `DsrConfig.sessions` (kept until backends/dsr/app.py stops
# setting it).
SESSIONS_KEY = web.AppKey("dsr_sessions", dict)
GUARD_KEY = web.AppKey("dsr_login_guard", LoginGuard)
HASHER_KEY = web.AppKey("dsr_password_check", PasswordCheck)
