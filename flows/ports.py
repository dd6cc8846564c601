"""The services flows call, as ports: Protocols and the error and result types they share.

Flows import this, never `bot.clients`, aiohttp or a channel; the composition root (bot/app.py)
plugs in the implementations (HTTP clients of the backends, the durable pending queue, the
handoff service) through `Services`. A test may plug in anything with the same methods.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

# Activation --------------------------------------------------------------------------------------

ActivationStatus = Literal["ok", "rate_limited", "invalid", "unavailable"]


@dataclass(frozen=True)
class ActivationResult:
    """How an activation request went, in the terms the flow needs to answer the guardian.

    `retry_after` (seconds) is set for `rate_limited` when the backend said how long to wait.
    """

    status: str
    retry_after: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class ActivationPort(Protocol):
    async def request_activation(self, email: str, *, client: str | None = None) -> ActivationResult: ...


# Data rights -------------------------------------------------------------------------------------


class DsrError(Exception):
    """Base of the errors a data-rights service raises."""


class DsrUnavailable(DsrError):
    """Signal that the backend could not be reached or did not take the request now."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DsrRejected(DsrError):
    """Signal that the backend refused the request itself (4xx); retrying will not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class DataRightsPort(Protocol):
    async def file_request(self, body: dict, idempotency_key: str, *, timeout: float | None = None) -> dict: ...

    async def status(self, reference: str) -> dict | None: ...


class DeliveryResult(Protocol):
    """One delivery attempt of a stored request: "delivered", "unavailable" or "rejected"."""

    @property
    def item(self) -> dict: ...

    @property
    def outcome(self) -> str: ...


class PendingPort(Protocol):
    """The durable outbox of data-rights requests: stored before the guardian hears anything."""

    async def enqueue(self, *, session: str, channel: str, body: dict) -> dict: ...

    async def for_session(self, session: str) -> list[dict]: ...

    async def deliver(self, item_id: str, client: DataRightsPort, *, announced: bool = False,
                      timeout: float | None = None) -> DeliveryResult | None: ...

    async def mark_announced(self, item_id: str) -> None: ...


# Handoff -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Availability:
    """Whether a person can take the chat now, and if not, why and when Halmstad direkt opens."""

    staffed: bool
    reason: str | None  # None when staffed; "closed" | "nobody" | "wait"
    open_now: bool
    next_open: datetime | None
    minutes: int  # the estimated wait of a newcomer


class HandoffQueuePort(Protocol):
    """What the handoff flow reads of the waiting line."""

    def open_for_session(self, session: str) -> dict | None: ...

    def position(self, item_id: str) -> int | None: ...


class HandoffPort(Protocol):
    @property
    def queue(self) -> HandoffQueuePort: ...

    def estimate_minutes(self, position: int) -> int: ...

    def availability(self, now: datetime, knowledge: Any) -> Availability: ...

    async def join(self, session: str, *, lang: str, channel: str, reason: str | None,
                   from_flow: str | None) -> tuple[dict, int, int, bool]: ...

    async def leave_message(self, session: str, *, name: str, contact: str, contact_kind: str, text: str,
                            lang: str, channel: str, reason: str | None) -> dict: ...


@dataclass
class Services:
    """What flows may call; a flow treats a missing service as "not available now"."""

    activation: ActivationPort | None = None
    dsr: DataRightsPort | None = None
    pending: PendingPort | None = None
    handoff: HandoffPort | None = None
