"""Metadata of OCR'd reports (pure: `Document` rows as the scan reader gives them, no tesseract): the misreads
tesseract makes in titles, periods and 落款 dates, and what the record keeps of them."""

from __future__ import annotations

import pytest

from parser.document import Document, Row
from parser.metadata import find_period, read_metadata


def _scan(*lines: tuple[str, float]) -> Document:
    return Document(format="scanned-pdf", rows=[Row((text,), page=1, confidence=(conf,)) for text, conf in lines],
                    pages=1, ocr=True)


@pytest.mark.parametrize("text", [
    "本报告所列数据统计期限自2024年1月工日起至2024年12月31日止。",  # 1 read as 工
    "本报告所列数据统计期限自2024年1月1上月起至2024年12月31日目。",  # a stray character before 日, 日 as 目
    "本报告所列数据统计期限自2024年l月1日起至2024年12月31日止。",
    "本报告所列数据统计期限自2024年1月1日起至2024年12?月31日止。",  # a stray character before 月
])
def test_a_period_as_ocr_misreads_it(text: str) -> None:
    assert find_period(text) == ("2024-01-01", "2024-12-31")


def test_a_period_needs_its_numbers() -> None:
    assert find_period("统计期限自2024年工作日起至年底止。") == (None, None)


def test_a_title_agency_misread_once_is_settled_by_the_body() -> None:
    meta = read_metadata(_scan(("潜泽区人民政府2023年政府信息公开工作年度报告", 45.0),
                               ("一、总体情况", 92.0),
                               ("2023年，洪泽区人民政府坚持以习近平新时代中国特色社会主义思想为指导。", 66.0)))
    assert meta.agency == "洪泽区人民政府"
    assert meta.title == "洪泽区人民政府2023年政府信息公开工作年度报告"
    assert "year" in meta.uncertain  # read unsurely: a finding resting on it stays a warning


def test_a_title_agency_the_text_repeats_stands() -> None:
    meta = read_metadata(_scan(("南京市人民政府2023年政府信息公开工作年度报告", 60.0),
                               ("2023年，南京市人民政府坚持依法公开。", 90.0),
                               ("按照北京市人民政府的经验，做好公开工作。", 95.0)))
    assert meta.agency == "南京市人民政府"


def test_a_title_read_surely_is_not_overruled() -> None:
    meta = read_metadata(_scan(("南京市人民政府2023年政府信息公开工作年度报告", 96.0),
                               ("学习北京市人民政府的经验。", 90.0)))
    assert meta.agency == "南京市人民政府"


def test_a_signing_date_whose_day_mark_reads_as_month() -> None:
    meta = read_metadata(_scan(("北京市西城区财政局2019年政府信息公开工作年度报告", 90.0),
                               ("六、其他需要报告的事项", 92.0), ("无其他需要报告的事项。", 90.0),
                               ("北京市西城区财政局", 90.0), ("2020年1月18月", 70.0)))
    assert meta.dates.signed == "2020-01-18"
    assert "dates/signed" in meta.uncertain


@pytest.mark.parametrize(("read", "mended"), [
    ("广州市番遇区财政局2019年政府信息公开工作年度报告", "广州市番禺区财政局2019年政府信息公开工作年度报告"),
    ("江苏省淮安市共泽区人民政府2023年政府信息公开工作年度报告",
     "江苏省淮安市洪泽区人民政府2023年政府信息公开工作年度报告"),
    ("广州市公安局2023年政府信息公开工作年度报告", "广州市公安局2023年政府信息公开工作年度报告"),  # no region misread
    ("苏州工业园区管委会2023年政府信息公开工作年度报告", "苏州工业园区管委会2023年政府信息公开工作年度报告"),
])
def test_a_region_name_ocr_misread_in_the_title_is_mended(read: str, mended: str) -> None:
    meta = read_metadata(_scan((read, 40.0), ("一、总体情况", 92.0)))
    assert meta.title == mended
    assert "year" in meta.uncertain


def test_a_text_document_keeps_its_title_as_printed() -> None:
    document = Document(format="html", rows=[Row(("广州市番遇区财政局2019年政府信息公开工作年度报告",))], pages=1)
    assert read_metadata(document).title == "广州市番遇区财政局2019年政府信息公开工作年度报告"


def _proactive_2019(header_of_block_five: tuple[str | None, ...]) -> Document:
    rows = [
        ("第二十条第(一)项", None, None, None),
        ("信息内容", "本年新制作数量", "本年新公开数量", "对外公开总数量"),
        ("规章", "0", "0", "0"),
        ("规范性文件", "89", "89", "89"),
        ("第二十条第(五)项", None, None, None),
        header_of_block_five,
        ("行政许可", "396", "0", "181"),
        ("其他对外管理服务事项", "10", "0", "153"),
    ]
    return Document(format="scanned-pdf", rows=[Row(r, page=1, table=0, confidence=tuple(
        None if c is None else 90.0 for c in r)) for r in rows], pages=1, ocr=True)


@pytest.mark.parametrize("header", [
    ("言息内容", "上一年项目数量", "?", ""),  # 信 read 言, 本年增/减 unreadable, a blank cell after it
    ("信息内容", "上一年项目数量", "go", "处理决定数量"),
])
def test_a_garbled_block_header_on_a_scan_is_no_table_row(header: tuple[str | None, ...]) -> None:
    from parser.tables import read_tables

    proactive = read_tables(_proactive_2019(header)).tables["proactive"]
    assert "extra" not in proactive
    assert proactive["licensing"] == {"previous": 396, "change": 0, "decisions": 181}
    assert proactive["rules"] == {"made": 0, "published": 0, "total": 0}


def test_a_decimal_point_as_small_as_a_speck_is_kept_between_figures() -> None:
    import cv2
    import numpy as np

    from parser.extractors.ocr import _despeckle

    def cell(dot_top: int) -> np.ndarray:
        image = np.full((40, 160), 255, np.uint8)
        for left in (10, 30, 50, 90, 110):  # five "digits", 14 x 21 pixels, strokes 3 wide
            image[8:29, left:left + 14] = 0
            image[11:26, left + 3:left + 11] = 255
        image[dot_top:dot_top + 4, 72:75] = 0  # a dot of 12 pixels (a speck's size) in the gap after the third digit
        image[4:7, 140:143] = 0  # a speck past the last digit
        return image

    def marks(image: np.ndarray) -> tuple[int, tuple[int, ...]]:
        kept = _despeckle(image)
        return cv2.connectedComponents(cv2.bitwise_not(kept))[0] - 1, kept.shape

    assert marks(cell(25)) == (6, (21, 114))  # on the baseline: a decimal point; the speck is gone
    assert marks(cell(15)) == (5, (21, 114))  # halfway up: a speck
