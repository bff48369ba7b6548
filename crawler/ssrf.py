"""Refusing requests to addresses a crawler of public government sites must never reach (after DNS): kept for
its importers; the check lives in domain/addresses.py, the crawler's use of it in crawler/netguard.py."""

from __future__ import annotations

from domain.addresses import ForbiddenAddress, check_url, refusal

__all__ = ["ForbiddenAddress", "check_url", "refusal"]
