"""Scanned PDFs and images: the red channel of colour scans (the seal reads as paper), deskew, find the ruled
table grid with OpenCV, OCR the despeckled page once with tesseract (chi_sim) and put each recognised word
into the grid cell that holds it; then read every figure cell on its own by two models, with confidence, so
numbers land in the right row and column and each says how sure it is (`Row.confidence`). Running text
outside the tables becomes paragraphs, in reading order."""

from __future__ import annotations

import ctypes
import functools
import io
import math
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import pytesseract
from PIL import Image

from ..cells import is_number, parse_number, squash
from ..document import Document, Row
from ..errors import CorruptDocument, LimitExceeded, ParseTimeout, UnsupportedFormat
from ..limits import Limits

# tesseract's OpenMP threads fight each other on small machines (4x slower here); pages run in parallel instead
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
FIGURE_LANG = "eng"  # the model that reads figure cells first; chi_sim is the second opinion
TARGET_WIDTH = 2100  # pixels across an A4 page: about 250 dpi, enough for 8-point figures
TARGET_DPI = 254


@dataclass(frozen=True)
class Box:
    x0: int
    y0: int
    x1: int
    y1: int

    def holds(self, x: float, y: float) -> bool:
        return self.x0 <= x <= self.x1 and self.y0 <= y <= self.y1


@dataclass(frozen=True)
class GridCell:
    box: Box
    row: int
    col: int
    rowspan: int
    colspan: int


def _check_tesseract() -> None:
    try:
        languages = pytesseract.get_languages()
    except (pytesseract.TesseractNotFoundError, OSError) as exc:
        raise UnsupportedFormat("scanned document needs tesseract (apt-get install tesseract-ocr "
                                "tesseract-ocr-chi-sim)") from exc
    if "chi_sim" not in languages:
        raise UnsupportedFormat("scanned document needs tesseract's chi_sim language (tesseract-ocr-chi-sim)")


def _paper_level(gray: np.ndarray) -> float:
    """The grey level between print and paper (Otsu over the page): lighter marks — a seal's ring in the red
    channel, JPEG haze, scanner noise — are paper."""
    level, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # halfway from Otsu's level to white: the soft edges of strokes in a blurred 150-dpi scan stay print
    return (float(level) + 255) / 2


def _binary(gray: np.ndarray) -> np.ndarray:
    local = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 25, 12)
    local[gray > _paper_level(gray)] = 0
    return local


def _line_masks(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical rules. (Closing gaps before opening was tried: it joins text strokes into
    "rules" that cut label cells apart.)"""
    height, width = binary.shape
    horizontal = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT,
                                                                                    (max(width // 35, 20), 1)))
    vertical = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT,
                                                                                  (1, max(height // 90, 15))))
    return horizontal, vertical


def _rule_angle(gray: np.ndarray) -> float | None:
    horizontal, _ = _line_masks(_binary(gray))
    # a coarse angle step keeps Hough's accumulator small; each segment's angle comes from its end points
    lines = cv2.HoughLinesP(horizontal, 1, math.pi / 720, threshold=100, minLineLength=gray.shape[1] // 6,
                            maxLineGap=10)
    if lines is None:
        return None
    angles = [math.degrees(math.atan2(y2 - y1, x2 - x1)) for x1, y1, x2, y2 in lines.reshape(-1, 4)]
    angles = [a for a in angles if abs(a) < 5]
    return float(np.median(angles)) if angles else None


def _rotated(gray: np.ndarray, angle: float) -> np.ndarray:
    height, width = gray.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    return cv2.warpAffine(gray, matrix, (width, height), flags=cv2.INTER_CUBIC, borderValue=255)


def deskew(gray: np.ndarray) -> np.ndarray:
    """Straighten a page by the angle of its long horizontal rules (table lines), if it has any. The angle is
    measured on the page at half size (a quarter of the memory), then once more on that half page
    straightened: skewed rules break into steps that bias the first estimate; straight ones do not."""
    small = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    angle = _rule_angle(small)
    if angle is None:
        return gray
    residual = _rule_angle(_rotated(small, angle)) if abs(angle) >= 0.05 else 0.0
    angle += residual or 0.0
    if abs(angle) < 0.05:
        return gray
    return _rotated(gray, angle)


def _cluster(values: list[int], gap: int) -> list[int]:
    """Positions of grid lines: the edges of the cells on either side of one rule, chained while successive
    edges lie within `gap` pixels, and each chain stood for by its middle (a chain's first edge would split
    one rule into two grid lines when a skew left by deskewing spreads its edges)."""
    chains: list[list[int]] = []
    for value in sorted(values):
        if chains and value - chains[-1][-1] <= gap:
            chains[-1].append(value)
        else:
            chains.append([value])
    return [(chain[0] + chain[-1]) // 2 for chain in chains]


def find_tables(gray: np.ndarray) -> tuple[list[list[GridCell]], np.ndarray]:
    """Ruled tables on a page: each a list of cells with grid positions; and the mask of the rules."""
    horizontal, vertical = _line_masks(_binary(gray))
    rules = cv2.dilate(cv2.bitwise_or(horizontal, vertical), np.ones((3, 3), np.uint8))
    del horizontal, vertical
    # 16-bit labels: a page has a few hundred strokes long enough to survive the line masks, and half the memory
    count, labels, stats, _ = cv2.connectedComponentsWithStats(rules, connectivity=8, ltype=cv2.CV_16U)
    tables: list[list[GridCell]] = []
    _height, width = gray.shape
    table_rules = np.zeros_like(rules)
    for index in range(1, count):
        x, y, w, h, _ = stats[index]
        if w < width // 4 or h < 30:
            continue  # a stroke of a character, not a table
        region = (labels[y:y + h, x:x + w] == index).view(np.uint8)
        region *= 255  # the mask as OpenCV wants it, in the comparison's own buffer
        table_rules[y:y + h, x:x + w] = cv2.bitwise_or(table_rules[y:y + h, x:x + w], region)
        interior = cv2.bitwise_not(region)
        del region
        n, _cell_labels, cell_stats, _ = cv2.connectedComponentsWithStats(interior, connectivity=4,
                                                                          ltype=cv2.CV_16U)
        del interior, _cell_labels
        boxes = []
        for k in range(1, n):
            cx, cy, cw, ch, area = cell_stats[k]
            touches_edge = cx == 0 or cy == 0 or cx + cw >= w or cy + ch >= h
            if touches_edge or cw < 12 or ch < 12 or area < 0.5 * cw * ch:
                continue
            boxes.append(Box(x + cx, y + cy, x + cx + cw, y + cy + ch))
        if len(boxes) < 2:
            continue
        ys = _cluster([b.y0 for b in boxes] + [b.y1 for b in boxes], 8)
        xs = _cluster([b.x0 for b in boxes] + [b.x1 for b in boxes], 8)

        def index_of(grid: list[int], value: int) -> int:
            return min(range(len(grid)), key=lambda i: abs(grid[i] - value))  # noqa: B023 (called at once)

        cells = []
        for box in boxes:
            r0, r1 = index_of(ys, box.y0), index_of(ys, box.y1)
            c0, c1 = index_of(xs, box.x0), index_of(xs, box.x1)
            cells.append(GridCell(box, r0, c0, max((r1 - r0 + 1) // 2, 1), max((c1 - c0 + 1) // 2, 1)))
        # rows/cols are counted in boundary pairs (top and bottom edge of each band)
        row_starts = sorted({c.row for c in cells})
        col_starts = sorted({c.col for c in cells})
        row_index = {r: i for i, r in enumerate(row_starts)}
        col_index = {c: i for i, c in enumerate(col_starts)}
        normalised = []
        for cell in cells:
            bottom_row = max((r for r in row_starts if ys[r] < cell.box.y1 - 4), default=cell.row)
            right_col = max((c for c in col_starts if xs[c] < cell.box.x1 - 4), default=cell.col)
            normalised.append(GridCell(cell.box, row_index[cell.row], col_index[cell.col],
                                       row_index[bottom_row] - row_index[cell.row] + 1,
                                       col_index[right_col] - col_index[cell.col] + 1))
        tables.append(normalised)
    return tables, table_rules


@dataclass
class Word:
    text: str
    x: float
    y: float
    conf: float
    line: tuple[int, int, int]
    box: Box

    @property
    def left(self) -> int:
        return self.box.x0


def _ocr_words(image: np.ndarray, deadline: float) -> list[Word]:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ParseTimeout("OCR ran out of time")
    try:
        # handed over as a 1-bit image (it is black and white already): tesseract then keeps no grey copy of
        # the page, 16 MB less at its peak, with the same reading
        page = Image.fromarray(image).convert("1", dither=Image.Dither.NONE)
        data = pytesseract.image_to_data(page, lang="chi_sim", config=f"--psm 3 --dpi {TARGET_DPI}",
                                         output_type=pytesseract.Output.DICT, timeout=remaining)
    except RuntimeError as exc:  # pytesseract reports its timeout as RuntimeError
        raise ParseTimeout("OCR ran out of time") from exc
    words = []
    for i, text in enumerate(data["text"]):
        if not text or not text.strip():
            continue
        x = data["left"][i] + data["width"][i] / 2
        y = data["top"][i] + data["height"][i] / 2
        box = Box(data["left"][i], data["top"][i], data["left"][i] + data["width"][i],
                  data["top"][i] + data["height"][i])
        words.append(Word(text.strip(), x, y, float(data["conf"][i]),
                          (data["block_num"][i], data["par_num"][i], data["line_num"][i]), box))
    return words


def _missed_lines(page: np.ndarray, words: list[Word], tables: list[list[GridCell]], deadline: float) -> list[Word]:
    """Lines of text that tesseract's page layout left out — it drops a heading standing alone between a
    paragraph and a table now and then (二、主动公开政府信息情况): ink outside the tables and outside the rows
    of every word read, cut into horizontal bands, each band read as one line."""
    ink = cv2.threshold(page, 127, 1, cv2.THRESH_BINARY_INV)[1]
    for cells in tables:
        ink[max(min(c.box.y0 for c in cells) - 8, 0):max(c.box.y1 for c in cells) + 8,
            max(min(c.box.x0 for c in cells) - 8, 0):max(c.box.x1 for c in cells) + 8] = 0
    # tesseract's word boxes leave glyphs between them out; whole lines read are taken out by their rows
    for word in words:
        ink[max(word.box.y0 - 6, 0):word.box.y1 + 6, :] = 0
    per_row = ink.sum(axis=1)
    bands: list[list[int]] = []
    for y in np.flatnonzero(per_row >= 3):
        if bands and y - bands[-1][1] <= 6:
            bands[-1][1] = int(y)
        else:
            bands.append([int(y), int(y)])
    boxes = []
    for y0, y1 in bands:
        if not 12 <= y1 - y0 <= 150 or int(per_row[y0:y1 + 1].sum()) < 150:
            continue  # a speck, a stray mark, or no line of print (a seal's remnant)
        columns = np.flatnonzero(ink[y0:y1 + 1].any(axis=0))
        if columns[-1] - columns[0] >= 30:
            boxes.append(Box(max(int(columns[0]) - 8, 0), max(y0 - 8, 0), int(columns[-1]) + 9, y1 + 9))
    del ink
    found = []
    for k, (box, (text, conf)) in enumerate(zip(boxes, _read_cells(page, boxes, deadline, "chi_sim"), strict=True)):
        if len(_CJK.findall(text)) >= 2 and conf >= 30:
            found.append(Word(text, (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2, conf, (-1, k, 0), box))
    return found


def _join(words: list[Word]) -> str:
    """Words in reading order: tesseract's lines top to bottom, words left to right within a line."""
    lines: dict[tuple[int, int, int], list[Word]] = {}
    for word in words:
        lines.setdefault(word.line, []).append(word)
    out = ""
    for line in sorted(lines.values(), key=lambda ws: sum(w.y for w in ws) / len(ws)):
        for word in sorted(line, key=lambda w: w.left):
            if out and out[-1].isascii() and out[-1].isalnum() and word.text[0].isascii() and word.text[0].isalnum():
                out += " "
            out += word.text
    return squash(out)


# What chi_sim makes of a lone "0" or "1" in a table cell.
_DIGIT_MISREADS = set("口卢上了于人一二〇○门目日中丁十工卜丨|")
_SIGN_WORD = re.compile(r"[增増减減]")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _looks_numeric(text: str) -> bool:
    rest = "".join(c for c in text if c not in _DIGIT_MISREADS)
    return len(text) <= 12 and not _CJK.search(rest)


UNREADABLE = "?"
CellRead = tuple[str, float]  # text, tesseract's confidence (0–100; 100 for a cell with no ink)
SURE = 85.0  # a figure read at or above this confidence, by two readings that agree, is taken as read


def _read_cells(clean: np.ndarray, boxes: list[Box], deadline: float, lang: str, *,
                scale: float = 1.0) -> list[CellRead]:
    """Many cells in one tesseract process: each cell's interior, inset from its ruling lines, is written as
    its own small image and tesseract reads the list, each image as one line, with per-word confidence.
    (chi_sim on the whole page misreads lone figures — 0 as 口, 1 as 丨 — and two-character labels, which is
    why those cells get a pass of their own.) `scale` is another preprocessing for re-reads (twice the size).
    A digits-only whitelist was tried and dropped: tesseract's LSTM then reads lone 0s as nothing."""
    if not boxes:
        return []
    inset = 5
    reads: list[CellRead] = [("", 100.0)] * len(boxes)
    with tempfile.TemporaryDirectory(prefix="nianbao-ocr-") as tmp:
        names: list[tuple[int, str]] = []
        for k, b in enumerate(boxes):
            crop = clean[b.y0 + inset:b.y1 - inset, b.x0 + inset:b.x1 - inset]
            if crop.size == 0:
                continue
            if scale != 1:
                crop = cv2.resize(crop, None, fx=scale, fy=scale,
                                  interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
            ink = _despeckle(crop, scale=scale * scale)
            if not (ink < 128).any():
                continue  # a blank cell: tesseract reads paper as "OO" when forced to read a line
            padded = cv2.copyMakeBorder(ink, 16, 16, 16, 16, cv2.BORDER_CONSTANT, value=255)
            name = os.path.join(tmp, f"{k:04d}.png")
            cv2.imwrite(name, padded)
            names.append((k, name))
        if not names:
            return reads
        listing = os.path.join(tmp, "cells.txt")
        with open(listing, "w", encoding="utf-8") as handle:
            handle.write("\n".join(name for _, name in names) + "\n")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ParseTimeout("OCR ran out of time")
        command = [pytesseract.pytesseract.tesseract_cmd, listing, "stdout", "-l", lang, "--psm", "7",
                   "--dpi", str(round(TARGET_DPI * scale))]
        command.append("tsv")
        try:
            result = subprocess.run(command, capture_output=True, timeout=remaining, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ParseTimeout("OCR ran out of time") from exc
    words: dict[int, list[tuple[str, float]]] = {}
    for line in result.stdout.decode("utf-8", errors="replace").splitlines():
        fields = line.split("\t")
        if len(fields) < 12 or fields[0] != "5" or not fields[11].strip():
            continue
        words.setdefault(int(fields[1]) - 1, []).append((fields[11].strip(), float(fields[10])))
    for page, (k, _) in enumerate(names):
        found = words.get(page, [])
        reads[k] = ("".join(t for t, _ in found), min((c for _, c in found), default=0.0))
    return reads


def _despeckle(crop: np.ndarray, scale: float = 1) -> np.ndarray:
    """Binarise a cell and drop scanner specks, then trim to the ink: figures read best centred and clean."""
    _, binary = cv2.threshold(cv2.GaussianBlur(crop, (3, 3), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = cv2.bitwise_not(binary)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    keep = np.zeros_like(ink)
    height, width = ink.shape
    kept: list[int] = []
    dots: list[int] = []
    for k in range(1, count):
        x, y, w, h, area = stats[k]
        touches_edge = x == 0 or y == 0 or x + w >= width or y + h >= height
        dash = w >= 2 * h and w >= 5  # a minus sign is small but long
        if (area >= 14 * scale or (area >= 6 * scale and dash)) and \
                not (touches_edge and (h >= height * 0.8 or w >= width * 0.8 or area < 40 * scale)):
            keep[labels == k] = 255  # not a speck, nor the remnant of a ruling line at the cell's edge
            kept.append(k)
        elif not touches_edge and area >= 4 * scale and max(w, h) <= 2 * min(w, h):
            dots.append(k)
    if kept and dots:
        # a decimal point is as small as a speck: kept where it sits on the figures' baseline in a gap
        # between two of them (15162.07 read as 1516207 otherwise, by both models, surely)
        glyph_height = float(np.median(stats[kept, cv2.CC_STAT_HEIGHT]))
        baseline = float(np.median(stats[kept, cv2.CC_STAT_TOP] + stats[kept, cv2.CC_STAT_HEIGHT]))
        spans = [(int(stats[k, 0]), int(stats[k, 0] + stats[k, 2])) for k in kept]
        for k in dots:
            x, y, w, h, _area = stats[k]
            between = any(right <= x for _, right in spans) and any(left >= x + w for left, _ in spans)
            in_gap = not any(left < x + w and x < right for left, right in spans)
            if between and in_gap and h <= 0.4 * glyph_height and abs(y + h - baseline) <= max(3, 0.15 * glyph_height):
                keep[labels == k] = 255
    points = cv2.findNonZero(keep)
    if points is None:
        return np.full_like(binary, 255)
    x, y, w, h = cv2.boundingRect(points)
    return cv2.bitwise_not(keep[y:y + h, x:x + w])


def _has_ink(clean: np.ndarray, box: Box) -> bool:
    crop = clean[box.y0 + 6:box.y1 - 6, box.x0 + 6:box.x1 - 6]
    return crop.size > 0 and int((crop < 110).sum()) > 40


def _doubtful_label(text: str) -> bool:
    """A label cell the page pass probably misread: Latin letters where Chinese is expected, or very short."""
    return bool(text) and (re.search(r"[A-Za-z]{2,}", text) is not None or len(text) <= 2) and \
        not _looks_numeric(text)


def _is_label(text: str) -> bool:
    return len(_CJK.findall(text)) >= 3


def _garbled_figure(text: str, confidence: float) -> bool:
    """A figure the page pass misread as a character or two, unsure of it (a faint 0 as 已)."""
    return bool(text) and not _looks_numeric(text) and len(text) <= 2 and len(_CJK.findall(text)) <= 1 \
        and confidence < 60


def _figure_cells(grid_cells: list[GridCell], texts: dict[GridCell, str],
                  confidence: dict[GridCell, float]) -> list[GridCell]:
    """Cells that hold figures. A figure column is one where at least two rows show a figure right of the
    row's labels; below the first such row, every cell of a figure column that is not plainly a label holds
    a figure (the page pass may have read its figure as nothing or as a stray character)."""
    rows: dict[int, list[GridCell]] = {}
    for cell in grid_cells:
        rows.setdefault(cell.row, []).append(cell)
    column_votes: dict[int, int] = {}
    first_figure_row: int | None = None
    figure_row_count = 0
    for row, cells in sorted(rows.items()):
        cells.sort(key=lambda c: c.col)
        last_label = max((c.col for c in cells if _is_label(texts[c])), default=-1)
        right = [c for c in cells if c.col > last_label]
        numeric = sum(1 for c in right if texts[c] and _looks_numeric(texts[c]))
        # a figure row: labels on the left, then figures (some perhaps read as nothing)
        garbled = [c for c in right if _garbled_figure(texts[c], confidence.get(c, 100))]
        if not (numeric >= 2 or (last_label >= 0 and len(right) >= 3 and numeric + len(garbled) >= 1 and
                                 all(not texts[c] or _looks_numeric(texts[c]) or c in garbled for c in right))):
            continue
        figure_row_count += 1
        first_figure_row = row if first_figure_row is None else first_figure_row
        # a row of plain numbers (表四 has only one) makes its columns figure columns by itself
        numbers = sum(1 for c in right if is_number(texts[c], ocr=True))
        inked = sum(1 for c in right if texts[c])
        plainly = (last_label >= 0 and numbers >= 3) or (inked >= 5 and numbers >= 0.6 * inked)
        for c in right:
            if c.colspan == 1:
                column_votes[c.col] = column_votes.get(c.col, 0) + (2 if plainly else 1)
    figure_columns = {col for col, votes in column_votes.items() if votes >= min(2, figure_row_count)}
    if first_figure_row is None:
        return []
    # a row above the first one seen with figures (its figures too faint for the page pass, e.g. 规章 0 0 0):
    # a row label on the left, nothing Chinese in the figure columns
    early = {row for row, cells in rows.items() if row < first_figure_row and cells[0].col == 0
             and _CJK.search(texts[cells[0]]) and len(_CJK.findall(texts[cells[0]])) <= 12
             and any(c.col in figure_columns for c in cells)
             and not any(_CJK.search(texts[c]) and not _looks_numeric(texts[c]) and len(texts[c]) > 1
                         and not _garbled_figure(texts[c], confidence.get(c, 100))
                         for c in cells if c.col in figure_columns)}  # a lone 0 reads as 己 even surely
    return [c for c in grid_cells
            if (c.row >= first_figure_row or c.row in early) and (c.col in figure_columns or
                                               (c.colspan > 1 and _looks_numeric(texts[c]) and texts[c]))
            and (not _is_label(texts[c]) or (confidence.get(c, 100) < 70 and len(_CJK.findall(texts[c])) <= 4))]


def _despeckled_page(gray: np.ndarray) -> np.ndarray:
    """The page in black and white without scanner specks: tesseract's page layout analysis reads specks as
    characters and breaks lines on them (a speck is a few pixels at 250 dpi; a full stop some twenty)."""
    level, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    _, ink = cv2.threshold(gray, level, 255, cv2.THRESH_BINARY_INV)
    # in bands of rows with a margin either side (a page's label image is 25 MB; a band's a quarter of it):
    # a speck lies wholly within a band's margin, and any larger mark reaching into a band from beyond its
    # margin brings more than a speck's worth of ink with it
    band, margin = 640, 64
    height = ink.shape[0]
    out = np.empty_like(ink)
    for top in range(0, height, band):
        lo, hi = max(top - margin, 0), min(top + band + margin, height)
        _count, labels, stats, _ = cv2.connectedComponentsWithStats(ink[lo:hi], connectivity=8)
        speck = stats[:, cv2.CC_STAT_AREA] < 12
        speck[0] = False
        core = slice(top - lo, min(top + band, height) - lo)
        out[top:top + band] = np.where(speck[labels[core]], 0, ink[lo:hi][core])
    return cv2.bitwise_not(out)


def _agree(first: str, second: str) -> bool:
    try:
        return parse_number(first, ocr=True) == parse_number(second, ocr=True)
    except ValueError:
        return False


def _read_figures(clean: np.ndarray, cells: list[GridCell], texts: dict[GridCell, str],
                  confidence: dict[GridCell, float], deadline: float) -> None:
    """Each figure cell read on its own by two models (eng and chi_sim misread different figures: a confident
    eng reads 1 as 4 now and then); a figure is sure only when both readings agree. Where they disagree, a
    third reading of the cell enlarged picks the value, which stays unsure. What the table's arithmetic says
    never enters here: a cell says what its ink says, or is marked unsure for a person to look at."""
    # signed changes printed as 增5 / 减2: the Chinese model, then again on the cell enlarged
    worded = {c for c in cells if _SIGN_WORD.search(texts[c])}
    reads: dict[GridCell, list[CellRead]] = {c: [] for c in cells}
    for group, langs in ((sorted(set(cells) - worded, key=cells.index), ((FIGURE_LANG, 1), ("chi_sim", 1))),
                         (sorted(worded, key=cells.index), (("chi_sim", 1), ("chi_sim", 2)))):
        for lang, scale in langs:
            for cell, read in zip(group, _read_cells(clean, [c.box for c in group], deadline, lang, scale=scale),
                                  strict=True):
                reads[cell].append(read)
    disputed = [c for c in cells if not _agree(reads[c][0][0], reads[c][1][0]) and
                not (not reads[c][0][0] and not reads[c][1][0] and min(reads[c][0][1], reads[c][1][1]) >= 100)]
    for cell, read in zip(disputed, _read_cells(clean, [c.box for c in disputed], deadline, FIGURE_LANG,
                                                scale=2), strict=True):
        reads[cell].append(read)
    for cell in cells:
        (text, conf), (other, other_conf) = reads[cell][:2]
        if cell not in disputed:
            texts[cell], confidence[cell] = text, max(conf, other_conf, SURE) if text or other else conf
            continue
        numbers = [r for r in reads[cell] if is_number(r[0], ocr=True)]
        votes = {r[0]: sum(1 for q in numbers if _agree(q[0], r[0])) for r in numbers}
        if numbers:
            texts[cell] = max(numbers, key=lambda r: (votes[r[0]], r[1]))[0]
            confidence[cell] = min(min(r[1] for r in reads[cell]), SURE - 1)
        else:
            # ink that reads as no figure: marked, so that letters ("LESS") are not taken for a row label
            texts[cell], confidence[cell] = UNREADABLE, 0.0


# A round seal is 38–45 mm across; a page is TARGET_WIDTH pixels over A4's 210 mm.
SEAL_RADII = (int(TARGET_WIDTH / 210 * 16), int(TARGET_WIDTH / 210 * 25))
SEAL_INK = (105, 200)  # grey levels of a red seal scanned in grey: darker than paper, lighter than black print
SEAL_RING = 0.4  # share of a candidate circle that must be seal ink for it to be a seal's ring


def find_grey_seals(gray: np.ndarray) -> list[tuple[int, int, int]]:
    """Round seals in a grey scan (centre x, y and radius): a ring of mid-grey ink not next to black print.
    In grey the red seal is as dark as thin print, so it is found by its shape — Hough circles over the
    mid-grey marks left after the table's (equally grey, thin) rules are taken out — and kept only when ink
    runs along most of the circle."""
    blur = cv2.GaussianBlur(gray, (5, 5), 0)
    # uint8 masks straight from OpenCV, combined in place: a page's worth of booleans or numpy arithmetic per
    # step would add tens of MB to a page's peak
    _, near_print = cv2.threshold(blur, SEAL_INK[0] - 16, 255, cv2.THRESH_BINARY_INV)
    cv2.dilate(near_print, np.ones((7, 7), np.uint8), dst=near_print)
    mid = cv2.inRange(blur, SEAL_INK[0], SEAL_INK[1])
    del blur
    cv2.subtract(mid, near_print, dst=mid)
    del near_print
    rules = cv2.morphologyEx(mid, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (60, 1)))
    cv2.bitwise_or(rules, cv2.morphologyEx(mid, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 60))),
                   dst=rules)
    cv2.subtract(mid, rules, dst=mid)
    del rules
    # a seal is 400 pixels across: the circles are sought on the page at a quarter size
    small = cv2.resize(mid, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    del mid
    circles = cv2.HoughCircles(cv2.GaussianBlur(small, (5, 5), 0), cv2.HOUGH_GRADIENT, dp=1, minDist=60,
                               param1=60, param2=25, minRadius=SEAL_RADII[0] // 4, maxRadius=SEAL_RADII[1] // 4)
    if circles is None:
        return []
    angles = np.linspace(0, 2 * math.pi, 180, endpoint=False)
    seals = []
    for x, y, r in circles[0][:10]:
        support = 0.0
        for dr in (-2, -1, 0, 1, 2):
            xs = np.clip((x + (r + dr) * np.cos(angles)).astype(int), 0, small.shape[1] - 1)
            ys = np.clip((y + (r + dr) * np.sin(angles)).astype(int), 0, small.shape[0] - 1)
            support = max(support, float((small[ys, xs] > 60).mean()))
        if support >= SEAL_RING:
            seals.append((int(x * 4), int(y * 4), int(r * 4)))
    return seals


def _ring_outer_radius(gray: np.ndarray, x: int, y: int, r: int) -> int:
    """Where the seal's ring ends outwards. Hough settles on the ring's inner edge, or on the arc of the
    name inside it, as often as on its middle: the outermost circle about as inked as the best one, then
    outwards from it until the share of seal-grey pixels falls to a third of the best."""
    angles = np.linspace(0, 2 * math.pi, 360, endpoint=False)
    height, width = gray.shape
    shares = []
    for radius in range(r - 8, r + 48, 2):
        xs = np.clip((x + radius * np.cos(angles)).astype(int), 0, width - 1)
        ys = np.clip((y + radius * np.sin(angles)).astype(int), 0, height - 1)
        values = gray[ys, xs]
        shares.append((radius, float(((values >= SEAL_INK[0] - 15) & (values <= SEAL_INK[1])).mean())))
    peak = max(share for _, share in shares)
    outer = max(radius for radius, share in shares if share >= peak / 2)
    for radius, share in shares:
        if radius > outer:
            if share < peak / 3:
                break
            outer = radius
    return outer


PRINT_CORE = 80  # darker than any seal ink in grey: black print, whose soft edges stay with it


def without_grey_seals(gray: np.ndarray) -> np.ndarray:
    """The page with each grey seal's ink made paper: inside the seal's disc only, marks lighter than black
    print (the seal's band) turn white; print under the seal, darker, stays with the soft edges of its
    strokes (taking those too thinned figures until they read as nothing)."""
    seals = find_grey_seals(gray)
    if not seals:
        return gray
    gray = gray.copy()
    height, width = gray.shape
    for x, y, r in seals:
        r = _ring_outer_radius(gray, x, y, r) + 4
        x0, y0, x1, y1 = max(x - r, 0), max(y - r, 0), min(x + r + 1, width), min(y + r + 1, height)
        disc = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.circle(disc, (x - x0, y - y0), r, 255, -1)
        patch = gray[y0:y1, x0:x1]
        _, core = cv2.threshold(patch, PRINT_CORE, 255, cv2.THRESH_BINARY_INV)
        near_print = cv2.dilate(core, np.ones((3, 3), np.uint8))
        patch[(disc > 0) & (patch >= SEAL_INK[0] - 5) & (near_print == 0)] = 255
    return gray


def read_page(gray: np.ndarray, page_no: int, table_offset: int, deadline: float) -> tuple[list[Row], int]:
    """One page's rows: its tables' cells and its running text. The page given is consumed (cleaned in
    place where it is writable)."""
    gray = without_grey_seals(deskew(gray))
    tables, rules = find_tables(gray)
    paper = _paper_level(gray)
    # the page is cleaned in place (it is this reader's own; one copy fewer per page in flight)
    clean = gray if gray.flags.writeable else gray.copy()
    del gray
    clean[rules > 0] = 255  # rules erased: tesseract reads cells better without them
    del rules
    # paper made white: a blank cell's crop is then blank, not noise that Otsu would split into "ink"
    clean[clean > paper] = 255
    page = _despeckled_page(clean)
    words = _ocr_words(page, deadline)
    words += _missed_lines(page, words, tables, deadline)
    del page
    placed: set[int] = set()
    items: list[tuple[float, Row]] = []
    for t, cells in enumerate(tables):
        n_rows = max(c.row + c.rowspan for c in cells)
        n_cols = max(c.col + c.colspan for c in cells)
        grid: list[list[str | None]] = [[None] * n_cols for _ in range(n_rows)]
        tops = [0.0] * n_rows
        texts: dict[GridCell, str] = {}
        confidence: dict[GridCell, float] = {}
        for cell in cells:
            inside = [i for i, w in enumerate(words) if i not in placed and cell.box.holds(w.x, w.y)]
            placed.update(inside)
            texts[cell] = _join([words[i] for i in inside])
            confidence[cell] = min((words[i].conf for i in inside), default=100.0)
            tops[cell.row] = cell.box.y0
        figure_cells = _figure_cells(cells, texts, confidence)
        _read_figures(clean, figure_cells, texts, confidence, deadline)
        figures = set(figure_cells)
        doubtful = [c for c in cells if c not in figures and _doubtful_label(texts[c])]
        for cell, (text, conf) in zip(doubtful, _read_cells(clean, [c.box for c in doubtful], deadline, "chi_sim"),
                                      strict=True):
            if text:
                texts[cell], confidence[cell] = text, conf
        certainty: list[list[float | None]] = [[None] * n_cols for _ in range(n_rows)]
        for cell in cells:
            grid[cell.row][cell.col] = texts[cell]
            certainty[cell.row][cell.col] = confidence[cell]
        for r, row in enumerate(grid):
            if any(row):
                items.append((tops[r], Row(tuple(row), page=page_no, table=table_offset + t,
                                           confidence=tuple(certainty[r]))))
    lines: dict[tuple[int, int, int], list[Word]] = {}
    for i, word in enumerate(words):
        if i not in placed:
            lines.setdefault(word.line, []).append(word)
    for line_words in lines.values():
        text = _join(line_words)
        if text and not (text.strip("-—– ").isdigit() and len(text) < 8):
            items.append((min(w.y for w in line_words), Row((text,), page=page_no,
                                                            confidence=(min(w.conf for w in line_words),))))
    items.sort(key=lambda item: item[0])
    return [row for _, row in items], len(tables)


def _to_gray(image: Image.Image) -> np.ndarray:
    """A page as grey levels of the printed (black) ink. In a colour scan the red channel is taken: the
    seal's red ink is as light as paper there, while print, under the seal too, stays dark."""
    if image.width < TARGET_WIDTH * 0.8 or image.width > TARGET_WIDTH * 1.6:
        scale = TARGET_WIDTH / image.width
        image = image.resize((TARGET_WIDTH, int(image.height * scale)), Image.Resampling.BICUBIC)
    if image.mode in ("RGB", "RGBA", "P", "CMYK"):
        return np.asarray(image.convert("RGB").getchannel("R"))
    return np.asarray(image.convert("L"))


def _rendered_gray(bitmap: Any) -> np.ndarray:
    """A rendered PDF page as grey (the red channel of a colour page, see `_to_gray`), without the copies a
    PIL image would make."""
    pixels = bitmap.to_numpy()
    if pixels.ndim == 3 and bitmap.mode in ("BGR", "BGRA", "BGRX"):
        gray = np.ascontiguousarray(pixels[:, :, 2])
    elif pixels.ndim == 3:
        gray = np.ascontiguousarray(pixels[:, :, 0])
    else:
        gray = np.array(pixels)
    bitmap.close()
    if gray.shape[1] < TARGET_WIDTH * 0.8 or gray.shape[1] > TARGET_WIDTH * 1.6:
        scale = TARGET_WIDTH / gray.shape[1]
        gray = cv2.resize(gray, (TARGET_WIDTH, int(gray.shape[0] * scale)), interpolation=cv2.INTER_CUBIC)
    return gray


def _read_held_page(held: list[np.ndarray], page_no: int, deadline: float) -> tuple[list[Row], int]:
    """`read_page` on a page handed over in a list it empties: the pool's work item would otherwise keep the
    page as rendered alive (6 MB) while the page is read straightened and cleaned."""
    return read_page(held.pop(), page_no, 0, deadline)


@functools.cache
def _hand_back_freed_images() -> None:
    """Page images and their masks are 6–20 MB each. glibc's malloc raises its mmap threshold once such a
    block is freed and from then on carves them out of its heaps, which keep the freed memory: RSS grew by
    tens of MB per page read. A fixed threshold (setting it turns the raising off) returns each image to the
    system when it is freed; peak RSS of a 300-dpi colour scan went from about 280 to 195 MiB."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return  # not glibc: its allocator keeps its own policy
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 128 * 1024)
    mallopt(m_trim_threshold, 128 * 1024)


def _read_pages(pages: Iterator[np.ndarray], count: int, fmt: str, limits: Limits) -> Document:
    """Pages read `limits.ocr_threads` (two) at a time (tesseract runs single-threaded, one page per core),
    rendered only as they are read, so a long scan never holds more than a few page images in memory."""
    _check_tesseract()
    _hand_back_freed_images()
    deadline = time.monotonic() + limits.seconds
    workers = max(1, min(os.cpu_count() or 1, limits.ocr_threads))
    results: list[tuple[list[Row], int]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        in_flight: list[Future[tuple[list[Row], int]]] = []
        for page_no, gray in enumerate(pages, start=1):
            in_flight.append(pool.submit(_read_held_page, [gray], page_no, deadline))
            del gray
            if len(in_flight) >= workers:
                results.append(in_flight.pop(0).result())
        results.extend(future.result() for future in in_flight)
    rows: list[Row] = []
    tables = 0
    for page_rows, table_count in results:
        rows.extend(replace(r, table=None if r.table is None else r.table + tables) for r in page_rows)
        tables += table_count
    # how sure each reading was travels in Row.confidence; the template readers turn it into record paths
    return Document(format=fmt, rows=rows, pages=count, ocr=True)


def extract_scanned_pdf(data: bytes, limits: Limits) -> Document:
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        raise CorruptDocument(f"corrupt PDF: {exc}") from exc

    def pages() -> Iterator[np.ndarray]:
        for index in range(len(pdf)):
            page = pdf[index]
            scale = TARGET_WIDTH / max(page.get_width(), 1)
            bitmap = page.render(scale=min(scale, 6))
            page.close()  # with it pdfium's decoded copy of the scan (26 MB for a 300-dpi colour page)
            yield _rendered_gray(bitmap)

    try:
        if len(pdf) > limits.max_pages:
            raise LimitExceeded(f"PDF has {len(pdf)} pages, over the limit of {limits.max_pages}")
        return _read_pages(pages(), len(pdf), "scanned-pdf", limits)
    finally:
        pdf.close()


def extract_image(data: bytes, limits: Limits) -> Document:
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > 80_000_000:
            raise LimitExceeded(f"image of {image.width}×{image.height} pixels is too large")
        count = getattr(image, "n_frames", 1)
        if count > limits.max_pages:
            raise LimitExceeded(f"image has more than {limits.max_pages} pages")
        image.load()
    except (OSError, Image.DecompressionBombError) as exc:
        raise CorruptDocument(f"unreadable image: {exc}") from exc

    def pages() -> Iterator[np.ndarray]:
        for frame in range(count):
            try:
                image.seek(frame)
                yield _to_gray(image.copy())
            except (OSError, Image.DecompressionBombError) as exc:
                raise CorruptDocument(f"unreadable image: {exc}") from exc

    return _read_pages(pages(), count, "image", limits)
