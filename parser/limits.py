"""Limits that keep hostile input from hanging or exhausting the process."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 50 * 1024 * 1024
    max_pages: int = 300
    max_unzipped_bytes: int = 200 * 1024 * 1024
    max_zip_ratio: int = 200
    seconds: float = 120.0
    ocr_dpi: int = 300
