"""The garbage collector's policy for a long-running server.

What a `serve` process loads at start (the knowledge, the understanding's word index and
classifier, the flows, the web app) lives as long as the process, yet every full collection of
the cyclic garbage collector walked all of it again: tens of milliseconds during which every
request in flight waits. `freeze_long_lived()` moves the objects that exist at that moment into
the permanent generation (`gc.freeze`), so later collections walk only what the traffic creates.
Frozen objects are still freed by reference counting; only cycles among them would stay, so when
the knowledge is replaced (a live reload) `after_replace()` lets one full collection free the old
version, then freezes the new one. Without a prior freeze (tests, commands) both do nothing.
"""
from __future__ import annotations

import gc


def freeze_long_lived() -> None:
    """Collect once, then freeze everything alive now (call when the server is ready)."""
    gc.collect()
    gc.freeze()


def after_replace() -> None:
    """After long-lived objects were replaced: free the old ones' cycles, freeze the new ones."""
    if gc.get_freeze_count() == 0:
        return
    gc.unfreeze()
    gc.collect()
    gc.freeze()
