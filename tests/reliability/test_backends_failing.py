"""Backends down, hanging or failing: the chat still answers within 1 s, and nothing is lost.

The CI run of `python -m tests.reliability.backends_failing` (docs/RELIABILITY.md), with the
fake backends hanging 2 s instead of 5 (the clients give up after 0.8 s either way).
"""
from __future__ import annotations

import pytest

from tests.reliability.backends_failing import BUDGET, NAMES, run

pytestmark = pytest.mark.reliability


async def test_down_slow_or_500_backends_answer_within_a_second_and_every_request_arrives_once(tmp_path):
    result = await run(tmp_path / "data", delay=2.0, out=lambda *_: None)
    for check in result["checks"]:
        assert check.clear, f"{check.backend} {check.mode}: {check.detail}"
        assert check.seconds < BUDGET, f"{check.backend} {check.mode} took {check.seconds:.2f} s"
    # Each stored data-rights request reached the backend exactly once, whatever the retries...
    assert sorted(result["names"]) == sorted(NAMES.values())
    assert result["left_open"] == 0
    # ...and each guardian was told its reference once, in the conversation.
    assert {mode: len(told) for mode, told in result["told"].items()} == {"down": 1, "slow": 1, "500": 1}
