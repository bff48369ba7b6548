"""A scanned report (图片版): the Word-style PDF printed, stamped and scanned, as image pages.

What real scans show, each kind a mix of it: 150–300 dpi, skewed up to ±2°, JPEG (often heavily
compressed), scanner noise and blur, the agency's red round seal over the signature and sometimes over part
of a table, tables running on to the next page with or without their header rows repeated.
"""

from __future__ import annotations

import io
import math
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import numpy as np
import pypdfium2
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .fonts import cjk_font_path
from .model import ReportSpec
from .render_pdf import render_pdf


@dataclass(frozen=True)
class ScanKind:
    dpi: tuple[int, int]          # drawn uniformly per document
    max_skew: float               # degrees, drawn per page
    jpeg_quality: tuple[int, int]
    colour: bool                  # scanned in colour (the seal stays red) or grey
    seal: bool                    # the agency's seal over the signature
    seal_on_table: float          # chance of a second impression over part of a table
    repeat_headers: bool          # 表三/表四 header rows repeated on the next page
    noise: float = 8.0


SCAN_KINDS: dict[str, ScanKind] = {
    # what the project always generated: a grey 200-dpi scan, slight skew
    "plain": ScanKind((200, 200), 0.8, (85, 85), False, False, 0.0, False),
    # a low-resolution office scan (the corpus renders are of this kind)
    "low-dpi": ScanKind((150, 150), 1.0, (70, 85), False, False, 0.0, False),
    # a colour scan at high resolution, skewed up to 2°, heavily compressed
    "jpeg": ScanKind((200, 300), 2.0, (45, 70), True, False, 0.0, False),
    # stamped: red seal over the signature, sometimes over a table; header rows repeated
    "sealed": ScanKind((200, 300), 2.0, (60, 85), True, True, 0.6, True),
    # stamped and scanned in grey: the seal's ink is as dark as the print
    "sealed-grey": ScanKind((200, 250), 1.5, (70, 85), False, True, 0.5, False),
}


SCANNED_AT = time.gmtime(datetime(2026, 1, 1, tzinfo=UTC).timestamp())


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(cjk_font_path()), size)


def _seal(name: str, diameter: int, rng: random.Random) -> Image.Image:
    """An agency's round seal as an alpha mask: ring, star, the name along the upper arc, uneven ink."""
    size = diameter + 8
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    centre = size / 2
    ring = max(diameter // 28, 3)
    draw.ellipse((4, 4, 4 + diameter, 4 + diameter), outline=255, width=ring)
    star_r = diameter * 0.16
    points = [(centre + (star_r if k % 2 == 0 else star_r * 0.4) * math.sin(math.pi * k / 5),
               centre - (star_r if k % 2 == 0 else star_r * 0.4) * math.cos(math.pi * k / 5)) for k in range(10)]
    draw.polygon(points, fill=255)
    text = name[:18] or "人民政府"
    glyph_size = max(int(diameter * 0.13), 10)
    font = _font(glyph_size)
    radius = diameter / 2 - ring - glyph_size * 0.75
    span = min(250.0, 16.0 * len(text))
    for k, char in enumerate(text):
        angle = -span / 2 + span * (k + 0.5) / len(text)  # degrees from the top, clockwise
        glyph = Image.new("L", (glyph_size * 2, glyph_size * 2), 0)
        ImageDraw.Draw(glyph).text((glyph_size / 2, glyph_size / 2), char, fill=255, font=font)
        glyph = glyph.rotate(-angle, resample=Image.Resampling.BILINEAR)
        x = centre + radius * math.sin(math.radians(angle)) - glyph_size
        y = centre - radius * math.cos(math.radians(angle)) - glyph_size
        mask.paste(255, (int(x), int(y)), glyph)
    words = _font(max(int(diameter * 0.09), 8))
    draw.text((centre, centre + diameter * 0.3), "公开专用章", fill=255, font=words, anchor="mm")
    ink = np.asarray(mask, dtype=np.float32) / 255
    texture = np.random.default_rng(rng.randrange(2 ** 32)).uniform(0.55, 1.0, ink.shape)
    return Image.fromarray((ink * texture * 230).astype(np.uint8)).rotate(rng.uniform(-25, 25))


def _stamp(page: Image.Image, seal: Image.Image, x: int, y: int) -> Image.Image:
    """Red ink over the page: printed black stays black under it, paper turns red."""
    red = Image.new("RGB", page.size, (215, 35, 45))
    alpha = Image.new("L", page.size, 0)
    alpha.paste(seal, (x - seal.width // 2, y - seal.height // 2))
    stamped = Image.composite(red, page, alpha)
    return Image.fromarray(np.minimum(np.asarray(page), np.asarray(stamped)))


def _ink_rows(gray: np.ndarray) -> np.ndarray:
    return np.flatnonzero((gray < 128).sum(axis=1) > 2)


def _table_band(gray: np.ndarray) -> tuple[int, int] | None:
    """Top and bottom of the longest run of ruled lines on a page (a table), if any."""
    ruled = np.flatnonzero((gray < 128).sum(axis=1) > gray.shape[1] * 0.5)
    if len(ruled) < 2:
        return None
    return int(ruled[0]), int(ruled[-1])


def scan_pages(pdf: bytes, rng: random.Random, *, dpi: int = 200, max_skew: float = 0.8,
               kind: ScanKind | None = None, agency: str = "") -> list[Image.Image]:
    kind = kind or ScanKind((dpi, dpi), max_skew, (85, 85), False, False, 0.0, False)
    document = pypdfium2.PdfDocument(pdf)
    pages = []
    try:
        rendered = [page.render(scale=dpi / 72).to_pil().convert("RGB") for page in document]
    finally:
        document.close()
    last = len(rendered) - 1
    diameter = int(40 / 25.4 * dpi)  # a 40 mm seal
    for index, image in enumerate(rendered):
        gray = np.asarray(image.convert("L"))
        if kind.seal and index == last:
            rows = _ink_rows(gray[: gray.shape[0] - int(dpi * 0.9)])  # above the page number
            if len(rows):
                bottom = int(rows[-1])
                x = int(image.width * rng.uniform(0.66, 0.74))
                image = _stamp(image, _seal(agency, diameter, rng), x, bottom - int(diameter * rng.uniform(0.2, 0.4)))
        if kind.seal and rng.random() < kind.seal_on_table:
            band = _table_band(gray)
            if band is not None and band[1] - band[0] > diameter // 2:
                x = int(image.width * rng.uniform(0.35, 0.85))
                y = int(rng.uniform(band[0], band[1]))
                image = _stamp(image, _seal(agency, diameter, rng), x, y)
        angle = rng.uniform(-kind.max_skew, kind.max_skew)
        image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=(255, 255, 255))
        pixels = np.asarray(image if kind.colour else image.convert("L"), dtype=np.int16)
        noise = np.random.default_rng(rng.randrange(2 ** 32)).normal(0, kind.noise, pixels.shape[:2])
        if pixels.ndim == 3:
            noise = noise[:, :, None]
        image = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
        image = image.filter(ImageFilter.GaussianBlur(radius=0.4 * dpi / 200))
        pages.append(image)
    return pages


def render_scan(spec: ReportSpec, rng: random.Random | None = None, *, dpi: int | None = None,
                kind: str = "plain") -> bytes:
    how = SCAN_KINDS[kind]
    pdf = render_pdf(spec, repeat_headers=how.repeat_headers)
    return scan_pdf(pdf, rng, dpi=dpi, kind=kind, agency=spec.record.agency or "")


def scan_pdf(pdf: bytes, rng: random.Random | None = None, *, dpi: int | None = None, kind: str = "plain",
             agency: str = "") -> bytes:
    """Any PDF printed, perhaps stamped with `agency`'s seal, and scanned as `kind` (the header rows of tables
    are repeated only where the PDF repeats them)."""
    rng = rng or random.Random(0)
    how = SCAN_KINDS[kind]
    resolution = dpi or rng.randint(*how.dpi)
    pages = scan_pages(pdf, rng, dpi=resolution, kind=how, agency=agency)
    out = io.BytesIO()
    # a fixed creation date: the same record and draw make the same bytes (Pillow stamps the time otherwise,
    # and a sandbox site rendering a scan twice would serve two versions of it)
    pages[0].save(out, format="PDF", save_all=True, append_images=pages[1:], resolution=resolution,
                  quality=rng.randint(*how.jpeg_quality), creationDate=SCANNED_AT, modDate=SCANNED_AT)
    return out.getvalue()
