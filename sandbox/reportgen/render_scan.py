"""A scanned report (图片版): the Word-style PDF printed, scanned slightly skewed and noisy, as image pages."""

from __future__ import annotations

import io
import random

import numpy as np
import pypdfium2
from PIL import Image, ImageFilter

from .model import ReportSpec
from .render_pdf import render_pdf


def scan_pages(pdf: bytes, rng: random.Random, *, dpi: int = 200, max_skew: float = 0.8) -> list[Image.Image]:
    document = pypdfium2.PdfDocument(pdf)
    pages = []
    try:
        for page in document:
            image = page.render(scale=dpi / 72).to_pil().convert("L")
            angle = rng.uniform(-max_skew, max_skew)
            image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
            pixels = np.asarray(image, dtype=np.int16)
            noise = np.random.default_rng(rng.randrange(2 ** 32)).normal(0, 8, pixels.shape)
            image = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
            image = image.filter(ImageFilter.GaussianBlur(radius=0.4))
            pages.append(image)
    finally:
        document.close()
    return pages


def render_scan(spec: ReportSpec, rng: random.Random | None = None, *, dpi: int = 200) -> bytes:
    rng = rng or random.Random(0)
    pages = scan_pages(render_pdf(spec), rng, dpi=dpi)
    out = io.BytesIO()
    pages[0].save(out, format="PDF", save_all=True, append_images=pages[1:], resolution=dpi, quality=85)
    return out.getvalue()
