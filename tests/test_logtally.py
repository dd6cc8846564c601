"""common/logtally.py: hot-path events counted and logged as one summary line per interval."""
from __future__ import annotations

import asyncio
import logging

from common.logtally import LogTally, flush_all


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "test.tally"]


async def test_the_first_event_is_logged_at_once_and_the_rest_in_one_summary(caplog):
    caplog.set_level(logging.INFO)
    clock = Clock()
    tally = LogTally(logging.getLogger("test.tally"), "http requests", 60.0, clock)
    tally.add("POST /api/chat 200", 12.0)
    assert lines(caplog) == ["http requests 1 in 0 s: POST /api/chat 200 1 (mean 12.0 ms, max 12.0 ms)"]
    clock.now += 1
    tally.add("POST /api/chat 200", 10.0)
    tally.add("POST /api/chat 200", 30.0)
    clock.now += 2
    tally.add("GET /healthz 200", 1.0)
    assert len(lines(caplog)) == 1, "within the interval nothing more is logged"
    tally.flush()
    assert lines(caplog)[1] == ("http requests 3 in 2 s: POST /api/chat 200 2 (mean 20.0 ms, max 30.0 ms); "
                                "GET /healthz 200 1 (mean 1.0 ms, max 1.0 ms)")
    tally.flush()
    assert len(lines(caplog)) == 2, "an empty interval logs nothing"


async def test_the_summary_comes_by_itself_when_the_interval_has_passed(caplog):
    caplog.set_level(logging.INFO)
    tally = LogTally(logging.getLogger("test.tally"), "turns", 0.05)
    tally.add("web answer")
    tally.add("web answer")
    tally.add("web fallback")
    assert lines(caplog) == ["turns 1 in 0 s: web answer 1"]
    for _ in range(100):  # the timer's line, without a clock to compare
        await asyncio.sleep(0.05)
        if len(lines(caplog)) == 2:
            break
    assert lines(caplog)[1].startswith("turns 2 in ")
    assert lines(caplog)[1].endswith(": web answer 1; web fallback 1")


async def test_flush_all_logs_what_every_tally_holds_at_shutdown(caplog):
    caplog.set_level(logging.INFO)
    clock = Clock()
    tally = LogTally(logging.getLogger("test.tally"), "turns", 60.0, clock)
    tally.add("web answer")
    tally.add("telegram answer")
    await flush_all()
    assert lines(caplog) == ["turns 1 in 0 s: web answer 1", "turns 1 in 0 s: telegram answer 1"]


def test_without_an_event_loop_every_event_is_logged_at_once(caplog):
    caplog.set_level(logging.INFO)
    clock = Clock()
    tally = LogTally(logging.getLogger("test.tally"), "turns", 60.0, clock)
    tally.add("console answer")
    tally.add("console fallback")
    assert lines(caplog) == ["turns 1 in 0 s: console answer 1", "turns 1 in 0 s: console fallback 1"]
