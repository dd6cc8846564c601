"""The one place a client address is read (common/netaddr.py): X-Forwarded-For only from trusted
proxies, the rightmost untrusted hop, IPv6 limited per /64, and keys that hide the address."""
from __future__ import annotations

import pytest
from multidict import CIMultiDict

from bot.cli import build_parser
from common.netaddr import ClientAddresses, parse_trusted_proxies


class Request:
    """What the helper reads of an aiohttp request: the peer and the headers."""

    def __init__(self, remote: str | None, *forwarded: str) -> None:
        self.remote = remote
        self.headers = CIMultiDict(("X-Forwarded-For", value) for value in forwarded)


TRUSTED = ClientAddresses("10.0.0.0/8, 2001:db8:ffff::/48")


@pytest.mark.parametrize("request_,client", [
    (Request("198.51.100.1", "203.0.113.5"), "198.51.100.1"),          # untrusted peer: header ignored
    (Request("10.0.0.2", "203.0.113.5"), "203.0.113.5"),               # the proxy names the client
    (Request("10.0.0.2", "1.2.3.4, 203.0.113.5"), "203.0.113.5"),      # the client's own claim ignored
    (Request("10.0.0.2", "1.2.3.4, 203.0.113.5, 10.1.1.1"), "203.0.113.5"),  # trusted hops skipped
    (Request("10.0.0.2", "1.2.3.4", "203.0.113.5"), "203.0.113.5"),    # several headers: in order
    (Request("10.0.0.2", "203.0.113.5, unknown"), "10.0.0.2"),         # junk: nothing left of it counts
    (Request("10.0.0.2"), "10.0.0.2"),                                  # no header: the peer
    (Request("10.0.0.2", "203.0.113.5:4711"), "203.0.113.5"),          # a port is dropped
    (Request("::ffff:198.51.100.1"), "198.51.100.1"),                   # IPv4-mapped IPv6
    (Request("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64"),             # IPv6: one /64 is one client
    (Request("2001:db8:ffff::1", "[2001:db8:9::1]:443"), "2001:db8:9::/64"),
    (Request(None), "unknown"),
])
def test_the_client_address_is_the_rightmost_hop_not_a_trusted_proxy(request_, client):
    assert TRUSTED.of(request_) == client


def test_without_trusted_proxies_the_header_is_never_read():
    assert ClientAddresses().of(Request("127.0.0.1", "203.0.113.5")) == "127.0.0.1"


def test_keys_are_stable_per_secret_and_hide_the_address():
    one, other = ClientAddresses(secret=b"a" * 32), ClientAddresses(secret=b"b" * 32)
    assert one.key("198.51.100.1") == one.key("198.51.100.1") != one.key("198.51.100.2")
    assert one.key("198.51.100.1") != other.key("198.51.100.1")
    assert "198" not in one.key("198.51.100.1") and len(one.key("198.51.100.1")) == 32


@pytest.mark.parametrize("bad", ["10.0.0.300/8", "proxy.example.org", "10.0.0.0/33"])
def test_a_trusted_proxy_that_is_no_address_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="CIDR"):
        parse_trusted_proxies(f"10.0.0.0/8,{bad}")


def test_serve_reads_trusted_proxies_from_the_environment(monkeypatch):
    monkeypatch.setenv("HALMSTAD_TRUSTED_PROXIES", "10.0.0.0/8")
    assert build_parser().parse_args(["serve"]).trusted_proxy == "10.0.0.0/8"
    assert build_parser().parse_args(["serve", "--trusted-proxy", "::1"]).trusted_proxy == "::1"
