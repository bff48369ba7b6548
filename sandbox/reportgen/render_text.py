"""A report as the plain text an OCR program or a scraper exports from a scanned PDF: one line per paragraph,
table cells separated by tabs, and the slips such text really shows (seen in real extracts):

- a label cut by the column split, its tail running into the next cell with the figure (`行政事业性收\t费 0`);
- a 表二 label printed over two lines that come out as two rows (`其他对外管理` / `服务事项`);
- a header cell cut in two, leaving an empty column in the row below (`采购项目数\t量\t采购总金额`);
- an amount printed with its unit (`11750 万元`);
- the signing date on the same line as the agency (`石壁街道办事处 2020年1月20日`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .layout import Cell, layout
from .model import ReportSpec


@dataclass(frozen=True)
class TextSlips:
    label_into_next_cell: bool = True
    two_line_label: bool = True
    split_header: bool = True
    amount_with_unit: bool = True
    signed_with_agency: bool = True


def _cells(row: tuple[Cell, ...]) -> list[str]:
    return [cell.text for cell in row]


def _proactive_lines(rows: tuple[tuple[Cell, ...], ...], slips: TextSlips, rng: random.Random) -> list[str]:
    lines: list[str] = []
    for row in rows:
        cells = _cells(row)
        if len(cells) == 1:  # 第二十条第（一）项
            lines.append(cells[0])
            continue
        label = cells[0]
        is_header = label == "信息内容"
        if is_header and slips.split_header and "采购项目数量" in cells:
            at = cells.index("采购项目数量")
            cells[at:at + 1] = ["采购项目数", "量"]
        elif not is_header and label == "政府集中采购" and slips.split_header:
            cells.insert(2, "")
            if slips.amount_with_unit and cells[3]:
                cells[3] = f"{cells[3]} 万元"
        elif not is_header and label == "行政事业性收费" and slips.amount_with_unit and len(cells) == 2 and cells[1]:
            cells[1] = f"{cells[1]} 万元"  # 2021: the amount with its unit
        if not is_header and slips.label_into_next_cell and label == "行政事业性收费" and cells[1]:
            cells[0:2] = [label[:-1], f"{label[-1]} {cells[1]}"]
        if not is_header and slips.two_line_label and label == "其他对外管理服务事项":
            head, tail = "其他对外管理", "服务事项"
            if rng.random() < 0.5:
                lines.append("\t".join([head, *cells[1:]]))
                lines.append(tail)
            else:
                lines.append(head)
                lines.append("\t".join([tail, *cells[1:]]))
            continue
        lines.append("\t".join(cells))
    return lines


def render_text(spec: ReportSpec, *, slips: TextSlips | None = None, seed: int = 0) -> bytes:
    """UTF-8 text of an OCR'd report (the slips above on by default; `seed` picks how each one falls)."""
    slips = slips or TextSlips()
    rng = random.Random(seed)
    blocks = layout(spec)
    lines: list[str] = []
    table_index = 0
    signature: list[str] = []
    for block in blocks:
        if block.kind == "signature":
            signature.append(block.text)
            continue
        if block.kind != "table":
            lines.extend([block.text, ""])
            continue
        if table_index == 0:
            lines.extend(_proactive_lines(block.rows, slips, rng))
        else:
            lines.extend("\t".join(_cells(row)) for row in block.rows)
        lines.append("")
        table_index += 1
    if slips.signed_with_agency and len(signature) == 2:
        lines.append(" ".join(signature))
    else:
        lines.extend(signature)
    return ("\n".join(lines) + "\n").encode("utf-8")


__all__ = ["TextSlips", "render_text"]
