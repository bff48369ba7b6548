"""Template readers: rows of a `Document` → the record's `tables` for the 2008, 2019 and 2021 formats.

Rows are matched by meaning and order, never by absolute position: a row's label cells are read on the
left, its value cells on the right, and each label is matched against the vocabulary in `labels`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from .cells import fold, is_blank, is_number, parse_number, unit_of
from .document import SURE_CONFIDENCE, Document, Row
from .labels import (
    APPLICANT_COLUMNS,
    DEFAULT_PROACTIVE_FIELDS,
    LEGACY_MARKERS,
    OTHER_SUBROWS,
    PROACTIVE_LABELS,
    REQUEST_KEYS,
    REVIEW_BLOCKS,
    REVIEW_COLUMNS,
    TEMPLATE_2019_MARKERS,
    TEMPLATE_2021_MARKERS,
    match_proactive_field,
    match_proactive_row,
    match_request_row,
)

_UNITS = {"条", "件", "次", "个", "人", "人次", "篇", "元", "万元", "项", "份", "场", "期", "家", "%"}
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LABEL_WITH_NUMBER = re.compile(r"^(.*[^\d\s.,+\-])\s+([+\-]?\d[\d,]*(?:\.\d+)?)$")


@dataclass
class SplitRow:
    labels: list[str]
    values: list[str]  # raw value cells, "" for a printed-empty cell
    row: Row
    confidence: list[float | None] = field(default_factory=list)  # OCR: one per value, else empty

    def sure(self, index: int) -> bool:
        """Whether value `index` (negative from the end) was read surely (always, for text formats)."""
        if not self.confidence:
            return True
        try:
            conf = self.confidence[index]
        except IndexError:
            return True
        return conf is None or conf >= SURE_CONFIDENCE

    @property
    def label(self) -> str:
        return fold("".join(self.labels))

    @property
    def specific(self) -> str:
        return fold(self.labels[-1]) if self.labels else ""


def split_row(row: Row, *, ocr: bool = False) -> SplitRow:
    """Label cells on the left, value cells (numbers or printed blanks) on the right."""
    cells = list(row.cells)
    last_label = -1
    for i, cell in enumerate(cells):
        if cell is None or is_blank(cell) or is_number(cell, ocr=ocr):
            continue
        if ocr and not _CJK.search(cell) and len(re.findall(r"[A-Za-z]", cell)) < 4:
            continue  # an unreadable figure, not a label
        if ocr and len(fold(cell)) == 1:
            continue  # one character: a figure misread (1 as 工, 0 as 口); no label of the formats is that short
        last_label = i
    labels = [c for c in cells[: last_label + 1] if c and not is_blank(c)]
    values = [c for c in cells[last_label + 1:] if c is not None]
    certainty = list(row.confidence or ())
    confidence = [certainty[i] if i < len(certainty) else None
                  for i in range(last_label + 1, len(cells)) if cells[i] is not None] if certainty else []
    label_confidence = certainty[last_label] if 0 <= last_label < len(certainty) else None
    if labels and not values:
        match = _LABEL_WITH_NUMBER.match(labels[-1])
        if match and len(labels) > 0:
            labels[-1], number = match.groups()
            values = [number]
            confidence = [label_confidence] if certainty else []
    elif labels:
        match = _LABEL_WITH_NUMBER.match(labels[-1])
        if match and len(fold(match.group(1))) >= 2:
            labels[-1], number = match.groups()
            values = [number, *values]
            confidence = [label_confidence, *confidence] if certainty else []
    return SplitRow(labels, values, row, confidence)


def _number(raw: str | None, ocr: bool) -> int | float | None:
    try:
        return parse_number(raw, ocr=ocr)
    except ValueError:
        return None


def _take(split: SplitRow, index: int | None, ocr: bool, path: str, uncertain: dict[str, str]) -> int | float | None:
    """Value `index` of a row as a number; an OCR reading that was not sure (or is no number, or is missing)
    is noted under its record path with the text as read, for a person to look at."""
    if index is None:
        if ocr:
            uncertain[path] = ""
        return None
    raw = split.values[index]
    value = _number(raw, ocr)
    if ocr and (not split.sure(index) or (value is None and not is_blank(raw) and fold(raw))):
        uncertain[path] = raw
    return value


def _numeric_count(split: SplitRow, ocr: bool) -> int:
    return sum(1 for v in split.values if is_number(v, ocr=ocr))


@dataclass
class TableRead:
    template: str | None
    tables: dict[str, Any] = field(default_factory=dict)
    table_pages: dict[str, int | None] = field(default_factory=dict)
    block_labels: list[str] = field(default_factory=list)
    uncertain: dict[str, str] = field(default_factory=dict)  # "requests/granted/natural_person" → text as read


def detect_template(doc: Document) -> str | None:
    text = fold("".join(c for r in doc.rows if r.table is not None for c in r.cells if c))
    if TEMPLATE_2021_MARKERS.search(text):
        return "2021"
    if TEMPLATE_2019_MARKERS.search(text):
        return "2019"
    all_text = fold(doc.full_text())
    if TEMPLATE_2021_MARKERS.search(all_text):
        return "2021"
    if TEMPLATE_2019_MARKERS.search(all_text):
        return "2019"
    if LEGACY_MARKERS.search(all_text):
        return "2008"
    return None


# ---------------------------------------------------------------- 表三 requests


def _read_requests(splits: list[SplitRow], template: str | None, ocr: bool,
                   uncertain: dict[str, str]) -> tuple[dict[str, Any], int, int]:
    """Returns the table, the index of its first row and the index after its last row (or -1, -1)."""
    start = next((i for i, s in enumerate(splits)
                  if match_request_row(s.specific or s.label) == "new" and _numeric_count(s, ocr) >= 1), -1)
    if start < 0:
        # a label lost to OCR: the first full row after the 申请人情况 header
        header = next((i for i, s in enumerate(splits) if re.search(r"申请人情况|勾稽关系", s.label)), -1)
        if header >= 0:
            start = next((i for i in range(header + 1, min(len(splits), header + 8))
                          if _numeric_count(splits[i], ocr) >= 5), -1)
    if start < 0:
        return {}, -1, -1
    table: dict[str, dict[str, Any]] = {}
    pointer = 0
    end = start
    for i in range(start, min(len(splits), start + 60)):
        split = splits[i]
        if not split.values or (_numeric_count(split, ocr) == 0 and not all(is_blank(v) for v in split.values)):
            continue
        key = match_request_row(split.specific) or match_request_row(split.label)
        if key is None and len(split.values) < 3:
            continue
        if key == "other" and split.specific and match_request_row(split.specific) is None and \
                re.fullmatch(r"\(?\d?\)?[.、]?其他", split.specific):
            key = "other_misc"
        if key is not None and key == "other_misc" and "other_fee_unpaid" not in table and \
                "other_no_correction" not in table:
            key = "other"
        if key is None or REQUEST_KEYS.index(key) < pointer:
            key = _next_in_order(pointer, template, table)
            if key is None:
                continue
        if key in table:
            continue
        count = len(split.values)
        indices: list[int | None] = list(range(count - 7, count)) if count >= 7 else \
            [*range(count), *([None] * (7 - count))]
        table[key] = {col: _take(split, i, ocr, f"requests/{key}/{col}", uncertain)
                      for col, i in zip(APPLICANT_COLUMNS, indices, strict=True)}
        pointer = REQUEST_KEYS.index(key) + 1
        end = i + 1
        if key == "carried_forward":
            break
    return table, start, end


def _next_in_order(pointer: int, template: str | None, table: dict[str, Any]) -> str | None:
    for key in REQUEST_KEYS[pointer:]:
        if key == "other" and template == "2021":
            continue
        if key in OTHER_SUBROWS and (template != "2021" or "other" in table):
            continue
        return key
    return None


# ---------------------------------------------------------------- 表四 review


def _read_review(splits: list[SplitRow], start: int, ocr: bool,
                 uncertain: dict[str, str]) -> tuple[dict[str, Any], int | None]:
    collected: list[tuple[SplitRow, int]] = []
    page = None
    for split in splits[max(start, 0):]:
        numeric = _numeric_count(split, ocr)
        if numeric == 0:
            if collected:
                break
            continue
        if collected or len(split.values) >= 5:
            if page is None:
                page = split.row.page
            collected.extend((split, i) for i in range(len(split.values)))
            if len(collected) >= 15:
                break
    if len(collected) < 15:
        return {}, None
    table = {block: {column: _take(*collected[5 * b + c], ocr, f"review/{block}/{column}", uncertain)
                     for c, column in enumerate(REVIEW_COLUMNS)}
             for b, block in enumerate(REVIEW_BLOCKS)}
    return table, page


# ---------------------------------------------------------------- 表二 proactive


def _read_proactive(splits: list[SplitRow], end: int, template: str, ocr: bool,
                    uncertain: dict[str, str]) -> tuple[dict[str, Any], list[str], int | None]:
    defaults = DEFAULT_PROACTIVE_FIELDS.get(template, {})
    table: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    block_labels: list[str] = []
    fields: list[str] | None = None
    header_unit: str | None = None
    group: str | None = None
    continued: tuple[str, str] | None = None  # (key, label) of a row whose label may go on in the next row
    page = None
    region = splits[:end] if end >= 0 else splits
    # the block's first rule line or its header; on a scan either may be lost, the field names rarely both
    first = next((i for i, s in enumerate(region) if "第二十条" in s.label or fold("信息内容") in s.label
                  or (not s.values and sum(1 for lab in s.labels if match_proactive_field(fold(lab))) >= 2)), None)
    if first is None:
        return {}, [], None
    for split in region[first:]:
        label = split.label
        if any(fold(word) in label for word in ("申请人情况", "自然人", "商业企业")):
            break  # 表三's header, above its first row
        if re.search(r"第二十条", label) and not split.values:
            block_labels.append(split.labels[0] if split.labels else label)
            continue
        if _is_proactive_header(split, ocr):
            fields = []
            header_unit = None
            for lab in split.labels:
                found = match_proactive_field(fold(lab))
                if found:
                    fields.append(found)
                # the unit in any header cell: OCR may have garbled the words before it (采购总金独(万元))
                if found == "amount" or (ocr and header_unit is None):
                    header_unit = _unit_in(lab) or header_unit
            continue
        if not split.values or not split.labels:
            continue
        key = match_proactive_row(fold(split.labels[0])) or (_fuzzy_proactive_row(fold(split.labels[0]))
                                                               if ocr else None)
        if key is None and continued is not None and fold(continued[1] + split.labels[0]) in PROACTIVE_LABELS:
            # a label printed over two lines that came out as two rows ("其他对外管理" / "服务事项")
            if any(v is not None for f, v in table.get(continued[0], {}).items() if f != "amount_unit"):
                continue
            key = continued[0]
            table.pop(key, None)
        continued = (key, split.labels[0]) if key is not None and fold(split.labels[0]) not in PROACTIVE_LABELS \
            else None
        sub = fold(split.labels[-1]) if len(split.labels) > 1 else None
        if key == "other_services" and sub and match_proactive_row(sub) is None:
            group = key
            key = None
            name = split.labels[-1].strip()
        elif key is None:
            name = split.labels[-1].strip()
        else:
            group = None
        if page is None:
            page = split.row.page
        row_fields = _fields_for(key, fields, defaults)
        positions = list(range(len(split.values)))  # which of the row's values feed the fields, in order
        printed = [i for i in positions if not is_blank(split.values[i])]
        if row_fields and len(positions) > len(row_fields) and len(printed) == len(row_fields):
            positions = printed  # an empty column from a header cell split in two ("采购项目数 | 量")
        positions = positions[: len(row_fields)] if row_fields else positions
        values = [split.values[i] for i in positions]
        record_row: dict[str, Any] = {}
        place = f"proactive/{key}" if key is not None else f"proactive/extra/{name}"
        row_uncertain: dict[str, str] = {}
        for index, name_ in zip(positions, row_fields, strict=False):
            record_row[name_] = _take(split, index, ocr, f"{place}/{name_}", row_uncertain)
        for name_ in row_fields[len(values):]:
            record_row[name_] = None
        if key is None:
            if group == "other_services" or template == "2019" or fields:
                extra[name] = record_row
                uncertain.update(row_uncertain)
                if group == "other_services" and "other_services" not in table:
                    table["other_services"] = {f: None for f in defaults.get("other_services", ())}
            continue
        if key in table:
            continue
        uncertain.update(row_uncertain)
        if key == "procurement":
            unit = header_unit or next((u for u in (unit_of(v) for v in split.values if v) if u), None)
            record_row["amount_unit"] = unit
        table[key] = record_row
    if extra:
        table["extra"] = extra
    return table, block_labels, page


# 表二's row names as the national formats print them, for labels OCR misread (行政处罚 → 信息行政小罚)
_PROACTIVE_NAMES = {"规章": "rules", "规范性文件": "normative_documents", "行政规范性文件": "normative_documents",
                    "行政许可": "licensing", "其他对外管理服务事项": "other_services", "行政处罚": "punishment",
                    "行政强制": "coercion", "行政事业性收费": "fees", "政府集中采购": "procurement"}


def _fuzzy_proactive_row(label: str) -> str | None:
    scored = [(difflib.SequenceMatcher(None, label, name).ratio(), key) for name, key in _PROACTIVE_NAMES.items()]
    ratio, key = max(scored)
    return key if ratio >= 0.6 else None


def _is_proactive_header(split: SplitRow, ocr: bool) -> bool:
    """A block's header row (信息内容 | 本年制发件数 | …). On a scan 信息内容 may read 言息内容 and a header cell
    may be unreadable (`?`), which leaves the row looking like a row with a value."""
    if "信息内容" in split.label:
        return True
    if not split.labels or not any(match_proactive_field(fold(lab)) for lab in split.labels):
        return False
    if not split.values:
        return True
    return ocr and (difflib.SequenceMatcher(None, fold(split.labels[0]), "信息内容").ratio() >= 0.75
                    or not any(is_number(v, ocr=True) for v in split.values))


def _unit_in(header: str) -> str | None:
    match = re.search(r"(万元|亿元|千元|元)", header)
    return match.group(1) if match else None


def _fields_for(key: str | None, header: list[str] | None, defaults: dict[str, tuple[str, ...]]) -> list[str]:
    if key is not None and key in defaults:
        expected = list(defaults[key])
        if header and set(header) >= set(expected):
            return [f for f in header if f in expected]
        return expected
    return list(header or [])


# ---------------------------------------------------------------- 2008 statistics table

_NUMBERING = re.compile(r"^(其中[:：]|[一二三四五六七八九十]+[、.．]|[（(][一二三四五六七八九十\d]+[)）]"
                        r"|\d+[、.．]|[①-⑳])")
_TOP_LEVEL = re.compile(r"^\s*[一二三四五六七八九十]+[、.．]")


def legacy_key(label: str) -> str:
    text = re.sub(r"\s+", "", label)
    while True:
        stripped = _NUMBERING.sub("", text)
        if stripped == text:
            return text
        text = stripped


def _read_legacy(doc: Document, splits: list[SplitRow], ocr: bool) -> tuple[dict[str, Any], dict[str, Any] | None,
                                                                          int | None]:
    header_index = next((i for i, s in enumerate(splits)
                         if LEGACY_MARKERS.search(s.label) and len(s.labels) >= 2 and not s.values), None)
    if header_index is None:
        return {}, None, None
    header = splits[header_index]
    value_headers = [fold(h) for h in header.labels[1:] if fold(h) not in ("单位", "计量单位")]
    main_col = 0
    for i, h in enumerate(value_headers):
        if re.search(r"\d{4}|本年|统计数|数量|本期", h) and not re.search(r"累计", h):
            main_col = i
            break
    entries: list[tuple[str, str, list[str]]] = []  # (key, parent, values)
    parent = ""
    table_id = header.row.table
    for split in splits[header_index + 1:]:
        if table_id is not None and split.row.table is not None and split.row.table != table_id and entries:
            break
        if split.row.table is None and entries:
            break
        if not split.labels:
            continue
        raw_label = split.labels[0]
        key = legacy_key(raw_label)
        if _TOP_LEVEL.match(raw_label):
            parent = key
        unit = split.labels[-1] if len(split.labels) > 1 and fold(split.labels[-1]) in _UNITS else None
        if unit is None and (not split.values or all(is_blank(v) for v in split.values)):
            continue
        if not key:
            continue
        entries.append((key, parent, split.values))
    counts: dict[str, int] = {}
    for key, _, _ in entries:
        counts[key] = counts.get(key, 0) + 1
    legacy: dict[str, Any] = {}
    cumulative: dict[str, Any] = {}
    has_cumulative = len(value_headers) > 1
    for key, parent_key, values in entries:
        name = f"{parent_key}/{key}" if counts[key] > 1 and parent_key and parent_key != key else key
        legacy[name] = _number(values[main_col], ocr) if len(values) > main_col else None
        if has_cumulative:
            other = 1 - main_col if main_col in (0, 1) else 0
            cumulative[name] = _number(values[other], ocr) if len(values) > other else None
    return legacy, (cumulative if has_cumulative else None), header.row.page


# ---------------------------------------------------------------- entry point


def read_tables(doc: Document) -> TableRead:
    template = detect_template(doc)
    splits = [split_row(r, ocr=doc.ocr) for r in doc.rows if r.table is not None or len(r.cells) > 1]
    splits = [s for s in splits if s.labels or s.values]
    result = TableRead(template=template)
    if template == "2008":
        legacy, cumulative, page = _read_legacy(doc, splits, doc.ocr)
        result.tables["legacy"] = legacy
        if cumulative is not None:
            result.tables["legacy_cumulative"] = cumulative
        result.table_pages["legacy"] = page
        return result
    requests, start, end = _read_requests(splits, template, doc.ocr, result.uncertain)
    if template is None and requests:
        template = "2021" if any(k in requests for k in OTHER_SUBROWS) else "2019"
        result.template = template
    if template is None:
        return result
    proactive, block_labels, proactive_page = _read_proactive(splits, start, template, doc.ocr, result.uncertain)
    review, review_page = _read_review(splits, end, doc.ocr, result.uncertain) if end >= 0 else ({}, None)
    result.tables = {"proactive": proactive, "requests": requests, "review": review}
    result.block_labels = block_labels or [
        r.text for r in doc.rows if re.fullmatch(r"第二十条第\(.{1,3}\)项", fold(r.text))]
    result.table_pages = {
        "proactive": proactive_page,
        "requests": splits[start].row.page if start >= 0 else None,
        "review": review_page,
    }
    return result
