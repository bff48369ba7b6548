"""Refusing requests to addresses a crawler of public government sites must never reach (after DNS): kept for
its importers; the guard lives in crawler/netguard.py."""

from __future__ import annotations

from .netguard import ForbiddenAddress, check_url, refusal

__all__ = ["ForbiddenAddress", "check_url", "refusal"]
