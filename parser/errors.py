"""Errors a parse can end in. Each carries a short, user-facing reason."""

from __future__ import annotations


class ParseError(Exception):
    """The document could not be turned into a record."""

    kind = "unreadable"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CorruptDocument(ParseError):
    kind = "corrupt"


class EncryptedDocument(ParseError):
    kind = "encrypted"


class UnsupportedFormat(ParseError):
    kind = "unsupported"


class NotAnAnnualReport(ParseError):
    kind = "not-a-report"


class LimitExceeded(ParseError):
    kind = "too-large"


class ParseTimeout(ParseError):
    kind = "timed-out"
