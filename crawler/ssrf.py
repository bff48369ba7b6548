"""Refusing requests to addresses a crawler of public government sites must never reach (after DNS)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class ForbiddenAddress(Exception):
    pass


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified)


def check_url(url: str, allowed_hosts: frozenset[str]) -> None:
    """Raise ForbiddenAddress unless `url`'s host resolves only to public addresses (or is allow-listed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ForbiddenAddress(f"{url}: scheme {parts.scheme!r} is not crawled")
    host = (parts.hostname or "").lower()
    if not host:
        raise ForbiddenAddress(f"{url}: no host")
    if host in allowed_hosts:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise ForbiddenAddress(f"{url}: host {host} does not resolve ({exc.strerror})") from exc
    for info in infos:
        address = str(info[4][0])
        if _forbidden(address):
            raise ForbiddenAddress(f"{url}: {host} resolves to {address}, a non-public address")
