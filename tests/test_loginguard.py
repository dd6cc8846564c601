"""The login throttle every login shares (common/loginguard.py): counted before the password is
checked, a growing delay per account instead of a lock-out, a limit per client address."""
from __future__ import annotations

from common.loginguard import Attempt, LoginGuard


class Timer:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_attempts_in_flight_count_before_their_outcome_is_known():
    guard = LoginGuard(clock=Timer())
    admitted = [guard.begin("staff", "a") for _ in range(5)]
    assert all(isinstance(a, Attempt) for a in admitted)
    assert guard.begin("staff", "a") == 2.0  # the sixth waits, though none has failed yet


def test_a_success_gives_back_only_its_own_reservation():
    guard = LoginGuard(clock=Timer())
    attempts = [guard.begin("staff", "a") for _ in range(5)]
    guard.succeeded(attempts[0])
    for attempt in attempts[1:]:
        guard.failed(attempt)
    assert isinstance(guard.begin("staff", "a"), Attempt)  # one slot back: its own
    assert not isinstance(guard.begin("staff", "a"), Attempt)  # the parallel failures still count


def test_the_delay_grows_and_is_capped_and_then_the_right_password_may_try():
    timer = Timer()
    guard = LoginGuard(clock=timer, max_delay=300.0, per_address=0)
    for _ in range(5):
        guard.failed(guard.begin("staff", "a"))
    waits = []
    for _ in range(10):
        wait = guard.begin("staff", "b")
        waits.append(wait)
        timer.now += wait
        guard.failed(guard.begin("staff", "b"))
    assert waits == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0, 300.0]
    timer.now += 300
    assert isinstance(guard.begin("staff", "c"), Attempt)  # never a lock


def test_failures_are_forgotten_after_a_quiet_hour():
    timer = Timer()
    guard = LoginGuard(clock=timer)
    for _ in range(5):
        guard.failed(guard.begin("staff", "a"))
    timer.now += 3601
    assert isinstance(guard.begin("staff", "a"), Attempt)
    assert guard.delay_after(1) == 0.0


def test_one_address_is_limited_across_usernames_and_other_addresses_are_not():
    timer = Timer()
    guard = LoginGuard(clock=timer, per_address=20, address_window=900.0)
    for i in range(20):
        guard.failed(guard.begin(f"user{i}", "attacker"))
    assert guard.begin("user99", "attacker") == 900.0
    assert isinstance(guard.begin("user99", "colleague"), Attempt)
    timer.now += 900
    assert isinstance(guard.begin("user98", "attacker"), Attempt)


def test_a_flood_of_usernames_does_not_grow_memory_without_bound():
    timer = Timer()
    guard = LoginGuard(clock=timer, max_keys=100, per_address=0)
    for i in range(100):
        guard.failed(guard.begin(f"user{i}", "a"))
    timer.now += 3601
    guard.begin("late", "a")
    assert len(guard._accounts) == 1
