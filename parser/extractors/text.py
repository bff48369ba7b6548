"""Plain-text extracts: cells split by `|` or tabs, or one cell per tab-indented line with rows
separated by blank lines (Word text), or numbers trailing a label on one line (PDF/OCR text)."""

from __future__ import annotations

import re

from ..cells import fold, squash
from ..document import Document, Row
from ..labels import PROACTIVE_LABELS
from .encoding import decode

# numbers separated by white space (mandatory): "(?:\d[\d,]*\s*){2,}" backtracks exponentially on a run of digits
_NUMBER_TEXT = r"[+\-]?\d[\d,]*(?:\.\d+)?"
_TRAILING_NUMBERS = re.compile(r"^(.*?[^\d\s.+\-,])\s+(" + _NUMBER_TEXT + r"(?:\s+" + _NUMBER_TEXT + r")+)\s*$")
_HEADER_FIELD = re.compile(r"^(标题|发布时间|发布日期|来源|访问地址|网址|索引号)\s*[:：]")


def _split_trailing_numbers(line: str) -> tuple[str, ...] | None:
    """'一、本年新收…数量 21 0 0 0 0 0 21' → label and numbers; None for prose."""
    match = _TRAILING_NUMBERS.match(line)
    if not match:
        return None
    label, numbers = match.groups()
    return (squash(label), *numbers.split())


_FRAGMENT_WITH_NUMBER = re.compile(r"^([\u4e00-\u9fff]{1,4})\s+"
                                   r"([+\-]?\d[\d,]*(?:\.\d+)?(?:\s*(?:万元|亿元|元|件|条|个))?)$")


def _rejoin_label_fragments(cells: list[str]) -> list[str]:
    """OCR text whose column split fell inside a label: '行政事业性收 | 费 0 | +140' → '行政事业性收费 | 0 | +140'."""
    out = list(cells)
    for i in range(1, len(out)):
        match = _FRAGMENT_WITH_NUMBER.match(out[i])
        if match and re.search(r"[\u4e00-\u9fff]$", out[i - 1]):
            out[i - 1] += match.group(1)
            out[i] = match.group(2)
    return out


def _join_pipe_continuations(lines: list[str]) -> list[str]:
    """PDF text where empty cells became line breaks: a line starting with `|` continues the row above."""
    joined: list[str] = []
    for line in lines:
        if line.lstrip().startswith("|") and joined and "|" in joined[-1]:
            joined[-1] = joined[-1].rstrip() + " " + line.strip()
        else:
            joined.append(line)
    return joined


def text_rows(lines: list[str]) -> list[Row]:
    rows: list[Row] = []
    block: list[str | None] = []
    table = -1
    in_block = False

    def close_block() -> None:
        nonlocal block, in_block
        if block and any(block):
            rows.append(Row(tuple(block), table=table))
        block = []
        in_block = False

    lines = _join_pipe_continuations(lines)
    for raw in lines:
        line = raw.rstrip("\r\n")
        if line.startswith("\t") and "\t" not in line[1:] and "|" not in line:
            # one cell per tab-indented line; a line of only white space is an empty cell
            if not in_block:
                if not rows or rows[-1].table != table:
                    table += 1
                in_block = True
            cell = squash(line)
            block.append(cell)
            continue
        if in_block and line.strip() and block:
            # a cell whose text wrapped onto a line of its own ("商业\n企业")
            block[-1] = squash((block[-1] or "") + line)
            continue
        if in_block:
            close_block()
        if not line.strip():
            continue
        separator = "|" if "|" in line else ("\t" if "\t" in line.strip() else None)
        if separator:
            cells = [squash(c) for c in line.split(separator)]
            while cells and not cells[-1]:
                cells.pop()
            while cells and not cells[0] and separator == "\t":
                cells.pop(0)
            cells = _rejoin_label_fragments(cells)
            if len(cells) > 1:
                if not rows or rows[-1].table is None:
                    table += 1
                rows.append(Row(tuple(cells), table=table))
                continue
            line = cells[0] if cells else ""
        split = _split_trailing_numbers(squash(line))
        if split:
            if not rows or rows[-1].table is None:
                table += 1
            rows.append(Row(split, table=table))
        elif line.strip():
            rows.append(Row((squash(line),)))
    if in_block:
        close_block()
    return _rejoin_broken_labels(rows)


def _rejoin_broken_labels(rows: list[Row]) -> list[Row]:
    """A 表二 label printed over two lines where one line carries no cells ("其他对外管理" / "服务事项 | 0 | 0 | 0"):
    the lone line is joined to the table row it belongs to."""
    out: list[Row] = []
    for i, row in enumerate(rows):
        before = out[-1] if out else None
        after = rows[i + 1] if i + 1 < len(rows) else None
        if row.table is None and len(row.cells) == 1 and row.cells[0] and len(row.cells[0]) <= 10:
            lone = row.cells[0]
            if before is not None and before.table is not None and before.cells[0] and \
                    fold(before.cells[0] + lone) in PROACTIVE_LABELS:
                out[-1] = Row((before.cells[0] + lone, *before.cells[1:]), page=before.page, table=before.table)
                continue
            if after is not None and after.table is not None and after.cells[0] and \
                    fold(lone + after.cells[0]) in PROACTIVE_LABELS:
                rows[i + 1] = Row((lone + after.cells[0], *after.cells[1:]), page=after.page, table=after.table)
                continue
        out.append(row)
    return out


def extract_text(data: bytes, content_type: str | None = None) -> Document:
    text = decode(data, content_type)
    lines = text.splitlines()
    meta: dict[str, str] = {}
    body: list[str] = []
    for i, line in enumerate(lines):
        # the small header of scraped extracts (标题, 发布时间, 来源, 访问地址)
        match = _HEADER_FIELD.match(line.strip())
        if match and i < 12:
            value = line.strip()[match.end():].strip()
            if match.group(1) in ("发布时间", "发布日期"):
                found = re.search(r"(\d{4})\D{1,2}(\d{1,2})\D{1,2}(\d{1,2})", value)
                if found:
                    y, m, d = (int(g) for g in found.groups())
                    meta["published"] = f"{y:04d}-{m:02d}-{d:02d}"
            elif match.group(1) == "标题" and value:
                meta["title"] = value
            elif match.group(1) == "来源" and value:
                meta["source"] = value
            continue
        body.append(line)
    return Document(format="text", rows=text_rows(body), meta=meta)
