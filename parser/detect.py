"""Format detection from content (magic bytes and sniffing), never from a file name."""

from __future__ import annotations

import io
import re
import zipfile

_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|meta|body|div|table|p\b|title)",
                         re.I | re.S)


def detect_format(data: bytes) -> str:
    """One of pdf, docx, doc, rtf, image, html, text, zip, empty, binary."""
    head = data[:2048]
    if not data.strip():
        return "empty"
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile:
            return "zip"
        if "word/document.xml" in names:
            return "docx"
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "doc"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF8", b"BM")) or \
            (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    body = head.lstrip(b"\xef\xbb\xbf")
    if _HTML_START.match(body) or re.search(rb"<(table|div|p|html)[\s>]", head, re.I):
        return "html"
    sample = data[:8192]
    if b"\x00" in sample and not sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "binary"
    return "text"
