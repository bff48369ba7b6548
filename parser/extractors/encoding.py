"""Decoding bytes whose charset may be declared wrongly or not at all (GBK pages are common)."""

from __future__ import annotations

import re

from charset_normalizer import from_bytes

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.I)
_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "utf8": "utf-8"}


def _normal(name: str) -> str:
    name = name.strip().lower()
    return _ALIASES.get(name, name)


def declared_charset(data: bytes, content_type: str | None = None) -> str | None:
    if content_type:
        match = re.search(r"charset=([\w\-]+)", content_type, re.I)
        if match:
            return _normal(match.group(1))
    found = _META_CHARSET.search(data[:4096])
    return _normal(found.group(1).decode("ascii")) if found else None


def decode(data: bytes, content_type: str | None = None) -> str:
    """Text of `data`: BOM first, then a declared charset that decodes cleanly, then sniffing."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    candidates = [c for c in (declared_charset(data, content_type), "utf-8", "gb18030") if c]
    for charset in dict.fromkeys(candidates):
        try:
            return data.decode(charset)
        except (UnicodeDecodeError, LookupError):
            continue
    best = from_bytes(data[:200_000]).best()
    if best is not None:
        return data.decode(best.encoding, errors="replace")
    return data.decode("gb18030", errors="replace")
