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
