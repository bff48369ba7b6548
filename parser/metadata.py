"""Title, agency, year, dates and sections, read from a `Document` as report-schema.md defines them."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from domain.regions import with_region_names_mended
from domain.time import iso_date

from .cells import fold
from .document import SURE_CONFIDENCE, Document
from .labels import SECTION_PATTERNS
from .record import SECTION_KEYS, Dates

_CN_DIGITS = {"〇": 0, "零": 0, "○": 0, "Ｏ": 0, "O": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
_YEAR = r"(\d{4}|[〇零○一二三四五六七八九]{4})"
_MONTH_DAY = r"(\d{1,2}|[一二三四五六七八九十]{1,3})"
_CN_DATE = re.compile(_YEAR + r"年" + _MONTH_DAY + r"月" + _MONTH_DAY + r"日")
_SIGNED_LINE = re.compile(r"^" + _YEAR + r"年" + _MONTH_DAY + r"月" + _MONTH_DAY + r"日$")
_SIGNED_AFTER_AGENCY = re.compile(r"^(\D{2,40}?)" + _YEAR + r"年" + _MONTH_DAY + r"月" + _MONTH_DAY + r"日$")
# a scanned 落款 date whose 日 OCR misread (日 → 晶 next to a speck, 日 → 月): its parts are told by their order
_SIGNED_LINE_OCR = re.compile(r"^" + _YEAR + r"年" + _MONTH_DAY + r"月" + _MONTH_DAY + r"[^\d\s年]$")
_TITLE_YEAR = re.compile(r"^(.*?)(?:关于)?" + _YEAR + r"年")
# the day's 日 as OCR reads it too (日 → 月, 目, 曰): a date's parts are told by their order, not the marker
_DAY = r"[日曰目月]"
# a month or day as OCR reads it too: 1 as 工, 丨, l, I or |; each number may have one stray character OCR put
# after it ("31有日", "12?月")
_OCR_MONTH_DAY = r"([\d工丨lI|]{1,2}|[一二三四五六七八九十]{1,3})"
_OCR_ONES = str.maketrans("工丨lI|", "11111")
_STRAY = r"[^\d年月日。至]?"
_PERIOD = re.compile(
    r"(?:统计|数据)(?:期限|时限|时间|期间|区间)[^。\d〇一二]{0,6}" + _YEAR + r"年" + _OCR_MONTH_DAY + _STRAY + r"月"
    + _OCR_MONTH_DAY + r"(?:" + _STRAY + _DAY + r")?(?:起)?(?:至|到|—|-|~)(?:" + _YEAR + r"年)?"
    + _OCR_MONTH_DAY + _STRAY + r"月" + _OCR_MONTH_DAY + _STRAY + _DAY)
_SECTION_ORDINAL = re.compile(r"^(?:[一二三四五六七八九十]+[、.．,，]|\d+[、.．]|第[一二三四五六七八九十]+部分)")
_INLINE_HEADINGS = {
    "overview": re.compile(r"[一1][、.．](总体情况|概述|基本情况)"),
    "proactive": re.compile(r"[二2][、.．][^。；]{0,6}主动公开"),
    "requests": re.compile(r"[三3][、.．][^。；]{0,10}(收到和处理|依申请)"),
    "review": re.compile(r"[四4][、.．][^。；]{0,16}(复议|诉讼)"),
    "problems": re.compile(r"[五5][、.．][^。；]{0,8}(存在|问题|不足)"),
    "other": re.compile(r"[六6][、.．][^。；]{0,6}其他(需要)?报告"),
}
_AGENCY_SUFFIX = re.compile(r"(政府|办事处|街道|委员会|局|厅|办公室|办公厅|部|署|委|院|中心|管委会|实验区|乡|镇|会)$")


def _cn_number(text: str) -> int:
    text = text.translate(_OCR_ONES)
    if text.isdigit():
        return int(text)
    if len(text) == 4 and all(c in _CN_DIGITS for c in text):
        return int("".join(str(_CN_DIGITS[c]) for c in text))
    # 十, 十二, 二十, 二十一, 三十一
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_CN_DIGITS.get(tens, 1) if tens else 1) * 10 + (_CN_DIGITS.get(ones, 0) if ones else 0)
    return _CN_DIGITS.get(text, 0)


def _iso(y: str, m: str, d: str) -> str | None:
    year, month, day = _cn_number(y), _cn_number(m), _cn_number(d)
    if not (1990 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31):
        return None
    return iso_date(f"{year:04d}-{month:02d}-{day:02d}")  # None for 2月30日


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def find_title(doc: Document) -> str | None:
    meta = _compact(doc.meta.get("title", ""))
    if re.search(r"报告|年报", meta) and re.search(_YEAR + r"\s*年", meta):
        return meta  # the page's own title (ArticleTitle) is what the publisher called the report
    block: list[str] = []
    for paragraph in doc.paragraphs()[:8]:
        line = _compact(paragraph)
        if len(line) > 45 or _SECTION_ORDINAL.match(line) or re.match(r"(发布时间|发布日期|索引号)", line):
            break
        block.append(line)
    with_year = re.compile(_YEAR + r"年")
    for k, line in enumerate(block):
        if not (with_year.search(line) and re.search(r"报告|年报|报$|信息公开", line)):
            continue
        title = line
        if with_year.match(line) and k > 0:
            title = block[k - 1] + title  # "洪泽区人民政府" / "2023年…报告"
        # a title wrapped over lines ("…信息公开" / "工作年度报告", "…年度报" / "告"): take the shortest run of
        # following lines that completes it
        extended = title
        for following in block[k + 1:k + 3]:
            if re.search(r"报告$|年报$", title) or with_year.search(following) or len(following) > 16:
                break
            extended += following
            if re.search(r"报告$|年报$", extended):
                title = extended
                break
        if re.search(r"(年度|工作)报$", title):
            title += "告"  # the last character alone on a line, lost (seen in scans)
        if re.search(r"报告|年报", title):
            return title
    joined = "".join(block)
    if with_year.search(joined) and re.search(r"报告|年报", joined):
        return joined
    return meta or None


def find_agency(doc: Document, title: str | None) -> str | None:
    prefix = ""
    if title:
        match = _TITLE_YEAR.match(title)
        if match:
            prefix = re.sub(r"关于$", "", match.group(1))
    if prefix and not _AGENCY_SUFFIX.search(prefix):
        prefix = ""
    if not prefix and title:
        # "2019年上海市人民政府办公厅政府信息公开工作年度报告": the agency follows the year
        match = re.match(_YEAR + r"年度?(.+?)(?:政府信息公开|信息公开|政务公开)", title)
        if match and _AGENCY_SUFFIX.search(match.group(2)):
            prefix = match.group(2)
    paragraphs = [_without_signed_date(_compact(p)) for p in doc.paragraphs()]
    standalone = [p for p in paragraphs[:6] + paragraphs[-10:]
                  if 2 <= len(p) <= 40 and not re.search(r"[，。；：:,;！？、（）()《》]|\d", p)
                  and _AGENCY_SUFFIX.search(p)]
    filler = re.search(r"填报单位[（(]?盖章[)）]?[:：]\s*(\S+)", doc.full_text())
    if filler and not prefix:
        return filler.group(1)
    if prefix:
        fuller = [p for p in standalone if p.endswith(prefix) and len(p) > len(prefix)]
        return max(fuller, key=len) if fuller else prefix
    if standalone:
        return standalone[0]
    source = _compact(doc.meta.get("source", ""))
    return source if source and _AGENCY_SUFFIX.search(source) else None


def _without_signed_date(line: str) -> str:
    match = _SIGNED_AFTER_AGENCY.match(line)
    return match.group(1) if match and _AGENCY_SUFFIX.search(match.group(1)) else line


def find_year(title: str | None, dates: Dates, doc: Document) -> int | None:
    if title:
        match = re.search(_YEAR + r"\s*年", title)
        if match:
            return _cn_number(match.group(1))
    if dates.period_start:
        return int(dates.period_start[:4])
    match = re.search(r"[（(]\s*(\d{4})\s*年度?\s*[)）]", doc.full_text())
    return int(match.group(1)) if match else None


def find_period(text: str) -> tuple[str | None, str | None]:
    match = _PERIOD.search(_compact(text))
    if not match:
        return None, None
    y1, m1, d1, y2, m2, d2 = match.groups()
    return _iso(y1, m1, d1), _iso(y2 or y1, m2, d2)


def find_signed(doc: Document) -> str | None:
    paragraphs = [_compact(p) for p in doc.paragraphs()]
    for line in reversed(paragraphs[-8:]):
        match = _SIGNED_LINE.match(line) or (_SIGNED_LINE_OCR.match(line) if doc.ocr else None)
        if match:
            return _iso(*match.groups())
        match = _SIGNED_AFTER_AGENCY.match(line)  # "石壁街道办事处 2020年1月20日" on one line
        if match and _AGENCY_SUFFIX.search(match.group(1)):
            return _iso(*match.groups()[1:])
    return None


# The six headings as the national formats print them: an OCR'd heading whose ordinal was misread
# (四、 → 由、) is recognised by its wording.
NATIONAL_HEADINGS = {
    "overview": "总体情况",
    "proactive": "主动公开政府信息情况",
    "requests": "收到和处理政府信息公开申请情况",
    "review": "政府信息公开行政复议、行政诉讼情况",
    "problems": "存在的主要问题及改进情况",
    "other": "其他需要报告的事项",
}
_ANY_ORDINAL = re.compile(r"^.{0,2}?[、.．,，]")


def _national_heading(line: str) -> str | None:
    body = _ANY_ORDINAL.sub("", line, count=1)
    if body == line:
        # the ordinal lost altogether: only the national wording itself, exactly, is a heading
        return next((key for key, heading in NATIONAL_HEADINGS.items() if line == heading), None)
    for key, heading in NATIONAL_HEADINGS.items():
        if abs(len(body) - len(heading)) <= 3 and \
                difflib.SequenceMatcher(None, body, heading).ratio() >= 0.8:
            return key
    return None


def find_sections(doc: Document) -> dict[str, bool]:
    found = dict.fromkeys(SECTION_KEYS, False)
    for row in doc.rows:
        cells = [c for c in row.cells if c]
        if len(cells) != 1:
            continue
        line = fold(cells[0])
        if doc.ocr and len(line) <= 30 and row.table is None:
            key_ = _national_heading(line)
            if key_ is not None:
                found[key_] = True
                continue
        if len(line) > 45 or not _SECTION_ORDINAL.match(line):
            continue
        for key in SECTION_KEYS:
            if not found[key] and SECTION_PATTERNS[key].search(line):
                found[key] = True
                break
    if not all(found.values()):
        # text scraped with headings glued into the prose: look for the national headings themselves
        compact = _compact(doc.full_text())
        for key, pattern in _INLINE_HEADINGS.items():
            if not found[key] and pattern.search(compact):
                found[key] = True
    return found


@dataclass(frozen=True)
class Metadata:
    title: str | None
    agency: str | None
    year: int | None
    dates: Dates
    sections: dict[str, bool]
    uncertain: dict[str, str] = field(default_factory=dict)  # OCR: "dates/signed" → the line it was read from


def _read_surely(doc: Document, text: str) -> bool:
    """Whether the OCR'd line(s) holding `text` were read with high confidence."""
    wanted = _compact(text)
    found = False
    for row in doc.rows:
        if row.table is not None or wanted not in _compact(row.text):
            continue
        found = True
        if any(c is not None and c < SURE_CONFIDENCE for c in row.confidence or ()):
            return False
    return found


def _ocr_doubts(doc: Document, title: str | None, dates: Dates, sections: dict[str, bool]) -> dict[str, str]:
    """What a finding about the year, the dates or the sections would rest on that OCR did not read surely.
    A section OCR did not find is never sure to be missing: its heading may be what was misread."""
    doubts: dict[str, str] = {}
    if title and not _read_surely(doc, title):
        doubts["year"] = title
    text = _compact(doc.full_text())
    period = _PERIOD.search(text)
    if (dates.period_start or dates.period_end) and period and not _read_surely(doc, period.group(0)[-12:]):
        doubts["dates/period_start"] = doubts["dates/period_end"] = period.group(0)
    if dates.signed:
        line = next((p for p in reversed(doc.paragraphs()) if _SIGNED_LINE.match(_compact(p))), dates.signed)
        if not _read_surely(doc, line):
            doubts["dates/signed"] = line
    for key, present in sections.items():
        if not present:
            doubts[f"sections/{key}"] = ""
    return doubts


def _line_confidence(doc: Document, text: str) -> float:
    """How surely OCR read the running-text line(s) holding `text` (the least confident word; -1 if none)."""
    found = [min((c for c in row.confidence or () if c is not None), default=-1.0) for row in doc.rows
             if row.table is None and text in _compact(row.text)]
    return min(found, default=-1.0)


def _settled_title(doc: Document, title: str) -> str:
    """A scanned title whose agency differs by a character or two from the 落款's agency line (番禺 read as
    番遇 in one of them): the reading the document's own text repeats more, then the one OCR read more surely,
    is taken for both."""
    match = _TITLE_YEAR.match(title)
    prefix = match.group(1) if match else ""
    if not (prefix and _AGENCY_SUFFIX.search(prefix)):
        return title
    paragraphs = [_without_signed_date(_compact(p)) for p in doc.paragraphs()]
    text = _compact(doc.full_text())
    for line in paragraphs[-10:]:
        if len(line) != len(prefix) or line == prefix or not _AGENCY_SUFFIX.search(line):
            continue
        if sum(a != b for a, b in zip(line, prefix, strict=True)) > 2:
            continue
        if (text.count(line), _line_confidence(doc, line)) > (text.count(prefix), _line_confidence(doc, prefix)):
            return line + title[len(prefix):]
    if text.count(prefix) > 1:
        return title  # the title's reading is repeated in the text: it stands
    # read once only, in the title: the body's mention of the agency that differs by a few misread characters
    # (潜泽区 for 洪泽区), the one repeated most, then the one read most surely
    allowed = max(2, len(prefix) // 5)
    readings: dict[str, int] = {}
    for paragraph in paragraphs[1:]:
        for start in range(len(paragraph) - len(prefix) + 1):
            window = paragraph[start:start + len(prefix)]
            if window != prefix and _AGENCY_SUFFIX.search(window) and \
                    sum(a != b for a, b in zip(window, prefix, strict=True)) <= allowed:
                readings[window] = readings.get(window, 0) + 1
    if readings:
        best = max(readings, key=lambda r: (readings[r], _line_confidence(doc, r)))
        if _line_confidence(doc, best) > _line_confidence(doc, prefix):
            return best + title[len(prefix):]
    return title


def _with_region_mended(title: str) -> str:
    """A title whose agency's region name OCR misread by a character (广州市番遇区财政局): the region's name
    mended from the ministry's list (a rare character such as 禺 is misread however the line is read)."""
    match = _TITLE_YEAR.match(title)
    prefix = match.group(1) if match else ""
    return with_region_names_mended(prefix) + title[len(prefix):] if prefix else title


def read_metadata(doc: Document) -> Metadata:
    title = find_title(doc)
    if title and doc.ocr:
        title = _with_region_mended(_settled_title(doc, title))
    period_start, period_end = find_period(doc.full_text())
    dates = Dates(signed=find_signed(doc), published=doc.meta.get("published"),
                  period_start=period_start, period_end=period_end)
    sections = find_sections(doc)
    return Metadata(title=title, agency=find_agency(doc, title), year=find_year(title, dates, doc), dates=dates,
                    sections=sections, uncertain=_ocr_doubts(doc, title, dates, sections) if doc.ocr else {})
