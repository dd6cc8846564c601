"""SIGKILL under load, 3 times: no corrupt file, no acknowledged request lost or doubled.

The CI run of `python -m tests.reliability.crash` (20 kills in docs/RELIABILITY.md).
"""
from __future__ import annotations

import pytest

from tests.reliability.crash import crash_run, report

pytestmark = pytest.mark.reliability


async def test_three_kills_under_load_lose_and_double_nothing(tmp_path):
    lines: list[str] = []
    result = await crash_run(tmp_path, kills=3, guardians=8, seed=5, min_gap=0.4, max_gap=1.2, out=lines.append)
    ok = report(result, out=lines.append)
    tally = result["tally"]
    assert tally.unanswered >= 3, "every kill should catch turns in flight"
    assert tally.acked_dsr and tally.acked_messages, "the load must include acknowledged requests"
    assert ok, "\n".join(lines)
