"""Dispose of (gallra) chat transcripts under the disposal decision named in settings.yaml.

Transcripts are public records (allmänna handlingar), so they are removed only by this scheduled
sweep under the configured decision (`privacy.retention_days`, default 90, and
`privacy.retention_decision`), never ad hoc. A conversation is due when its last activity
(`updated_at`) is older than the retention period. Closed data-rights outbox items follow the same
period (the backend keeps the case itself). Logs carry counts only.

The e-mail outbox (`DATA_DIR/outbox/`, a Maildir used when no SMTP server is configured) holds
only activation mails, each with a link that works for 24 hours (the activation backend's
`code_ttl`). A mail older than that has nothing left to deliver but still names a guardian's
address, so it is removed then: the shorter of that lifetime and the retention period.

The sweep works on any `SessionStore` through `sessions()`, `load_state()` and `delete()`, so with
`--redis-url` it disposes of the conversations in Redis too (no key expiry: a conversation whose
time cannot be read must be kept, which a TTL cannot express). Every process runs it; a second
sweep in the same hour finds nothing left to do.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

from common.privacy import RetentionPolicy

log = logging.getLogger("halmstad.retention")

SWEEP_INTERVAL = 3600.0  # seconds between sweeps; the first runs at start
OUTBOX_MAX_AGE = timedelta(hours=24)  # the activation link's lifetime (ActivationConfig.code_ttl)


def _last_activity(state: dict) -> datetime | None:
    for key in ("updated_at", "created_at"):
        value = state.get(key)
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                continue
            if moment.tzinfo is not None:
                return moment
    return None


def sweep_outbox(outbox: Path, max_age: timedelta, now: float | None = None) -> int:
    """Delete the outbox's mails older than `max_age` (by file time, which is real time, not the
    --now clock); return how many. A missing outbox is nothing to do."""
    cutoff = (time.time() if now is None else now) - max_age.total_seconds()
    removed = 0
    for sub in ("new", "cur", "tmp"):
        try:
            entries = list(os.scandir(Path(outbox) / sub))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                continue
    return removed


async def sweep(store, policy: RetentionPolicy, now: datetime, *, pending=None, outbox: Path | None = None) -> int:
    """Delete the conversations last active before the retention cutoff; return how many.

    A conversation whose time cannot be read is kept (and counted in the log), because deleting
    a public record needs a reason the decision covers.
    """
    removed = undated = 0
    for session in await store.sessions():
        state = await store.load_state(session)  # the state is enough; the transcript may be long
        if state is None:
            continue
        last = _last_activity(state)
        if last is None:
            undated += 1
            continue
        if policy.expired(last, now):
            await store.delete(session)
            removed += 1
    pruned = await pending.prune(policy.cutoff(now)) if pending is not None else 0
    mails = 0
    if outbox is not None:
        mails = await asyncio.to_thread(sweep_outbox, outbox, min(OUTBOX_MAX_AGE, timedelta(days=policy.days)))
    log.info("retention sweep removed=%d undated=%d outbox_pruned=%d mails_removed=%d days=%d", removed, undated,
             pruned, mails, policy.days)
    return removed


async def retention_loop(store, knowledge, clock, *, pending=None, outbox: Path | None = None) -> None:
    """Sweep once at start, then every SWEEP_INTERVAL seconds, under the retention policy of the
    knowledge in force (`knowledge()`), until cancelled."""
    while True:
        try:
            policy = RetentionPolicy.from_settings(knowledge().settings)
            await sweep(store, policy, clock(), pending=pending, outbox=outbox)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("retention sweep failed")
        await asyncio.sleep(SWEEP_INTERVAL)
