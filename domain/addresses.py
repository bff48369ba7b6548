"""Which network addresses the project may connect to when a stranger chose the URL (a site in the registry,
a link on it, a work-chat robot's webhook): only globally routable ones, checked on the address a name
resolves to, and that checked address is the one to connect to (`resolve_checked` looks a name up once per
PIN_SECONDS and remembers the answer, so a rebinding DNS server cannot answer differently the second time).
Pure standard library; the crawler's Scrapy resolver and browser proxy (crawler/netguard.py) and the
work-chat channel use it."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

# globally routable by IANA's registry, yet not a place a public government web site lives
_REFUSED_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "100.64.0.0/10",   # carrier-grade NAT (100.100.100.200 is a cloud metadata address)
    "192.0.0.0/24",    # IETF protocol assignments (Python's table lists only parts of it)
    "2002::/16",       # 6to4: embeds an IPv4 address, possibly a private one
    "fec0::/10",       # deprecated site-local
    "64:ff9b:1::/48",  # local-use NAT64
    "::/96",           # deprecated IPv4-compatible (::127.0.0.1)
    "::ffff:0:0:0/96", # IPv4-translated (SIIT)
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
PIN_SECONDS = 600.0  # a poll's lifetime: one lookup per name, the checked address used throughout


class ForbiddenAddress(Exception):
    pass


def refusal(address: str) -> str | None:
    """Why `address` must not be reached (None: it is a globally routable unicast address)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.ipv4_mapped is not None:
            return f"{address} is an IPv4-mapped IPv6 address"
        if embedded is not None and refusal(str(embedded)) is not None:
            return f"{address} embeds the non-global address {embedded}"
    if any(ip in network for network in _REFUSED_NETWORKS):
        return f"{address} is in a refused range (carrier-grade NAT, 6to4, site-local, NAT64 or IPv4-embedding)"
    if not ip.is_global or ip.is_multicast:
        return f"{address} is not a globally routable address"
    return None


def allowed_hosts(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.strip().lower().strip("[]") for v in values if v and v.strip())


_pins: dict[str, tuple[float, list[str]]] = {}
_pins_lock = threading.Lock()


def resolve_checked(host: str, port: int, allowed: frozenset[str]) -> list[str]:
    """The addresses `host` resolves to (looked up once per PIN_SECONDS), if all of them may be reached
    (an allow-listed host is looked up but not refused). Raises ForbiddenAddress."""
    host = host.lower().strip("[]")
    with contextlib.suppress(ValueError):
        literal = str(ipaddress.ip_address(host.split("%", 1)[0]))
        if host not in allowed and (reason := refusal(literal)):
            raise ForbiddenAddress(f"{host} is a non-public address: {reason}")
        return [literal]
    now = time.monotonic()
    with _pins_lock:
        pinned = _pins.get(host)
    if pinned is not None and pinned[0] > now:
        addresses = pinned[1]
    else:
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            raise ForbiddenAddress(f"{host} does not resolve ({exc})") from exc
        addresses = sorted(dict.fromkeys(str(info[4][0]) for info in infos), key=lambda a: ":" in a)  # IPv4 first
        with _pins_lock:
            _pins[host] = (now + PIN_SECONDS, addresses)
    if host not in allowed:  # checked on every call: one caller's allow-list is not another's
        for address in addresses:
            if reason := refusal(address):
                raise ForbiddenAddress(f"{host} resolves to {address}, a non-public address: {reason}")
    return addresses


def check_url(url: str, allowed: frozenset[str]) -> str:
    """Raise ForbiddenAddress unless `url` is http(s) and its host resolves only to global addresses (or is
    allow-listed). Returns the checked address the connection is to use."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        raise ForbiddenAddress(f"{url}: scheme {parts.scheme!r} is not crawled")
    host = (parts.hostname or "").lower()
    if not host:
        raise ForbiddenAddress(f"{url}: no host")
    try:
        port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    except ValueError as exc:
        raise ForbiddenAddress(f"{url}: {exc}") from exc
    try:
        return resolve_checked(host, port, allowed)[0]
    except ForbiddenAddress as exc:
        raise ForbiddenAddress(f"{url}: {exc}") from exc
