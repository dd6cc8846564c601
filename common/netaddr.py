"""Find the address a request really comes from, and key it for rate limits.

Behind a reverse proxy every request's direct peer is the proxy, so limits per address would
throttle everyone together; `X-Forwarded-For` names the client, but any client can send that
header. So it is read only when the direct peer is one of the operator's trusted proxies
(`serve --trusted-proxy CIDR[,CIDR…]` or HALMSTAD_TRUSTED_PROXIES), and then the rightmost
address not itself a trusted proxy is the client (entries further left were written by the
client and prove nothing).

Imports nothing of the bot, so the reference backends use it too. Request objects are
duck-typed: anything with `.remote` and `.headers.getall(name, default)` (aiohttp's requests).
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable

TRUSTED_PROXIES_ENV = "HALMSTAD_TRUSTED_PROXIES"
IPV6_PREFIX = 64  # one IPv6 subscriber usually holds a whole /64: limit the network, not one address
UNKNOWN = "unknown"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted_proxies(value: str | Iterable[str] | None) -> tuple[Network, ...]:
    """Parse "10.0.0.0/8, 2001:db8::1" into networks; raise ValueError naming a bad entry."""
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else list(value)
    networks = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"trusted proxy {part!r} is not an IP address or CIDR range "
                             "such as 10.0.0.0/8 or 2001:db8::/32") from None
    return tuple(networks)


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Return the address in `text` ("1.2.3.4", "[2001:db8::1]:443", "1.2.3.4:80"), or None."""
    if not text:
        return None
    # Only texts as short as addresses are remembered: a header full of junk must not fill memory.
    return _ip_cached(text) if len(text) <= 64 else _parse_ip(text)


# A request's addresses are parsed again and again (the proxy's on every request, a guardian's on
# every message): parsing was most of what finding the client cost, so recent results are kept.
@functools.lru_cache(maxsize=4096)
def _ip_cached(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    return _parse_ip(text)


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@functools.lru_cache(maxsize=4096)
def limit_key(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> str:
    """Return the string limits count under: the IPv4 address, or the IPv6 address's /64."""
    if ip is None:
        return UNKNOWN
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False))
    return str(ip)


class ClientAddresses:
    """Tell the client address of a request, trusting X-Forwarded-For only from known proxies."""

    def __init__(self, trusted: Iterable[Network] | str | None = (), secret: bytes | None = None) -> None:
        self.trusted = parse_trusted_proxies(trusted) if isinstance(trusted, str) else tuple(trusted or ())
        self._secret = secret or secrets.token_bytes(32)
        self._is_trusted = functools.lru_cache(maxsize=4096)(self._check_trusted)

    def _check_trusted(self, ip) -> bool:
        return ip is not None and any(ip.version == net.version and ip in net for net in self.trusted)

    def ip_of(self, request):
        """Return the client's IP address object (None when unknown)."""
        peer = _ip(getattr(request, "remote", None))
        if not self.trusted or not self._is_trusted(peer):
            return peer
        hops: list[str] = []
        for header in request.headers.getall("X-Forwarded-For", []):
            hops.extend(header.split(","))
        client = peer
        for hop in reversed(hops):
            ip = _ip(hop)
            if ip is None:  # "unknown" or junk: nothing left of it can be believed
                break
            client = ip
            if not self._is_trusted(ip):
                break
        return client

    def of(self, request) -> str:
        """Return the key per-address limits count under for this request's client."""
        return limit_key(self.ip_of(request))

    def key(self, address: str) -> str:
        """Return a keyed, non-reversible stand-in for `address` (what flows and backends get)."""
        digest = hmac.new(self._secret, f"client-address:{address}".encode("utf-8"), hashlib.sha256)
        return digest.hexdigest()[:32]
