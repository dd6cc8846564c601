"""The activation backend's rules on their own: address normalisation, rate limits, CSRF tokens."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from backends.activation.security import (
    CsrfGuard, EmailError, Limit, RateLimiter, normalise_email, password_errors, username_errors,
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("raw,expected", [
    ("  Anna.Berg@Example.SE ", "Anna.Berg@example.se"),
    ("anna+skola@gmail.com", "anna+skola@gmail.com"),
    ("anna@åhus.se", "anna@xn--hus-tla.se"),
])
def test_addresses_are_normalised(raw, expected):
    assert normalise_email(raw) == expected


@pytest.mark.parametrize("raw", [
    "a@b.se\n", "a@b.se\r\nBcc: c@d.se", "a@b.se,c@d.se", "a@b.se; c@d.se", "a b@c.se",
    "a@b", "a@-b.se", "a@b..se", "a@b.se.", ".a@b.se", "a..b@c.se", "a@1.2", "@b.se", "a@",
    "a" * 65 + "@b.se", "a@" + "b" * 64 + ".se", "x@" + "a." * 130 + "se", "a@b.se\x00", 12, None,
])
def test_unusable_addresses_are_refused(raw):
    with pytest.raises(EmailError):
        normalise_email(raw)


def test_email_error_never_echoes_the_input():
    with pytest.raises(EmailError) as info:
        normalise_email("secret.person@example\n.se")
    assert "secret.person" not in str(info.value)


def test_username_and_password_rules():
    assert username_errors("anna.berg_2-x") == []
    assert username_errors("åsa1") == ["activation_page.error_username_chars"]
    assert password_errors("Lang-och-bra-1", "Lang-och-bra-1", "anna") == []
    assert "activation_page.error_password_contains_username" in password_errors(
        "xxANNAxx-long", "xxANNAxx-long", "anna")
    assert "activation_page.error_password_common" in password_errors(
        "Lösenord123", "Lösenord123", "anna")
    assert "activation_page.error_password_long" in password_errors("x" * 300, "x" * 300, "anna")


def test_rate_limiter_window_and_retry_after():
    clock = Clock()
    limiter = RateLimiter(Limit(2, timedelta(hours=1)), clock)
    assert limiter.retry_after("k") is None
    limiter.hit("k")
    clock.now += timedelta(minutes=10)
    limiter.hit("k")
    assert limiter.retry_after("k") == 50 * 60
    clock.now += timedelta(minutes=50, seconds=1)
    assert limiter.retry_after("k") is None
    assert limiter.retry_after("other") is None


def test_rate_limiter_forgets_idle_keys():
    clock = Clock()
    limiter = RateLimiter(Limit(1, timedelta(minutes=1)), clock, prune_at=100)
    for i in range(100):
        limiter.hit(f"key{i}")
    clock.now += timedelta(minutes=2)
    limiter.hit("fresh")
    assert len(limiter._events) == 1


def test_zero_limit_turns_the_limiter_off():
    limiter = RateLimiter(Limit(0, timedelta(hours=1)), Clock())
    for _ in range(10):
        limiter.hit("k")
    assert limiter.retry_after("k") is None


def test_csrf_tokens_bind_cookie_purpose_and_age():
    clock = Clock()
    guard = CsrfGuard(b"s" * 32, clock, timedelta(hours=2))
    cookie = guard.new_cookie()
    token = guard.token(cookie, "start")
    assert guard.check(cookie, "start", token)
    assert not guard.check(cookie, "credentials", token)
    assert not guard.check(guard.new_cookie(), "start", token)
    assert not guard.check(None, "start", token)
    assert not guard.check(cookie, "start", token + "x")
    assert not guard.check(cookie, "start", None)
    other = CsrfGuard(b"t" * 32, clock, timedelta(hours=2))
    assert not other.check(cookie, "start", token)
    clock.now += timedelta(hours=2, seconds=1)
    assert not guard.check(cookie, "start", token)
