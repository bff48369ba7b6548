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
    ocr_threads: int = 2                     # pages of a scan read at once, a tesseract each (a batch: its share)
    max_table_cells: int = 200_000           # one table's grid, spans expanded (a report's largest: ~300)
    max_xml_bytes: int = 16 * 1024 * 1024    # one XML part of a DOCX, decompressed (a report's: < 1 MB)
    max_zip_entries: int = 5_000
    max_stream_bytes: int = 64 * 1024 * 1024  # one PDF stream, decompressed (a full embedded CJK font: ~20 MB)
    max_pdf_bytes_decoded: int = 512 * 1024 * 1024  # all PDF streams of one document, decompressed
    max_image_pixels: int = 60_000_000       # one image or frame (A4 at 600 dpi: 35 million)
    max_total_pixels: int = 300_000_000      # all frames of one image file
