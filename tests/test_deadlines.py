"""The deadline calendar and LATE / MISSING / BACKDATED from dated evidence."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from checks.deadlines import (
    Due,
    ListCheck,
    Sighting,
    backdated,
    infer_kind,
    late,
    load_calendar,
    missing,
)

CALENDAR = load_calendar()


@pytest.mark.parametrize("year", range(2017, 2027))
@pytest.mark.parametrize("kind", ["department", "government", "township", "other"])
def test_national_rules(year: int, kind: str) -> None:
    due = CALENDAR.due(year, kind)
    if year <= 2018:
        assert due.date == date(year + 1, 3, 31)
        assert "492号" in due.source
    elif kind in ("department", "other"):
        assert due.date == date(year + 1, 1, 31)
        assert "711号" in due.source and "第四十九条" in due.source
    elif kind == "government":
        assert due.date == date(year + 1, 3, 31)
    else:
        assert due.date == date(year + 1, 3, 31)
        assert "默认" in due.source


def test_regional_override_wins_and_cites_its_source() -> None:
    calendar = load_calendar("""
township_default: {month: 3, day: 31, source: default}
rules:
  - {years: [2019, null], kinds: [department, other], month: 1, day: 31, source: national}
  - {years: [2019, null], kinds: [government], month: 3, day: 31, source: national}
  - {years: [2020, null], kinds: [township], month: 2, day: 20, region: "3201", source: "南京市 local rule"}
""")
    assert calendar.due(2023, "township", "320102") == Due(date(2024, 2, 20), "南京市 local rule")
    assert calendar.due(2023, "township", "110102").source == "default"
    assert calendar.due(2019, "township", "320102").date == date(2020, 3, 31)
    with pytest.raises(ValueError):
        calendar.due(2023, "ministry")


def test_published_on_first_of_february_is_late_by_one_day() -> None:
    due = CALENDAR.due(2023, "department")
    assert late("某局", 2023, due, published=date(2024, 1, 31)) is None
    finding = late("某局", 2023, due, published=date(2024, 2, 1))
    assert finding is not None and finding.rule == "LATE" and finding.severity == "error"
    assert "逾期1天" in finding.message


def test_late_evidence_order() -> None:
    due = CALENDAR.due(2023, "department")
    # first seen counts only when the monitor was already watching before the deadline
    assert late("某局", 2023, due, first_seen=datetime(2024, 3, 1), watched_since=datetime(2024, 2, 15)) is None
    seen = late("某局", 2023, due, first_seen=datetime(2024, 3, 1), watched_since=datetime(2024, 1, 2))
    assert seen is not None and "首次发现" in seen.message
    # the signing date is a lower bound on publication
    signed = late("某局", 2023, due, signed=date(2024, 2, 10))
    assert signed is not None and "落款" in signed.message
    assert late("某局", 2023, due, signed=date(2024, 1, 10)) is None
    # the page date beats the others
    assert late("某局", 2023, due, published=date(2024, 1, 20), signed=date(2024, 2, 10)) is None


def test_missing_needs_a_passed_deadline_and_a_look_after_it() -> None:
    due = CALENDAR.due(2024, "government")
    after = datetime(2025, 4, 2, 9)
    assert missing("某区人民政府", 2024, due, now=datetime(2025, 3, 31, 23), found_years=[],
                   last_successful_check=datetime(2025, 3, 31, 22)) is None
    assert missing("某区人民政府", 2024, due, now=after, found_years=[2024], last_successful_check=after) is None
    assert missing("某区人民政府", 2024, due, now=after, found_years=[], last_successful_check=None) is None
    finding = missing("某区人民政府", 2024, due, now=after, found_years=[2023], last_successful_check=after)
    assert finding is not None and finding.rule == "MISSING" and "已逾期2天" in finding.message


def test_backdated() -> None:
    url = "http://site/t20240125_1.htm"
    sighting = Sighting(url=url, first_seen=datetime(2024, 2, 5, 10), published=date(2024, 1, 25))
    checks_ = [ListCheck("http://site/", datetime(2024, 1, 28, 10), frozenset({"http://site/other.htm"})),
               ListCheck("http://site/", datetime(2024, 2, 5, 10), frozenset({url}))]
    finding = backdated("某局", 2023, sighting, checks_)
    assert finding is not None and finding.rule == "BACKDATED" and "2024-01-28" in finding.message
    honest = Sighting(url=url, first_seen=datetime(2024, 1, 28, 10), published=date(2024, 1, 28))
    assert backdated("某局", 2023, honest, checks_[1:]) is None


@pytest.mark.parametrize(("agency", "kind"), [
    ("北京市西城区广安门外街道办事处", "township"), ("某某镇人民政府", "township"), ("洪泽区人民政府", "government"),
    ("平潭综合实验区", "government"), ("河北省教育厅", "department"), ("上海市人民政府办公厅", "department"),
])
def test_kind_inferred_from_name(agency: str, kind: str) -> None:
    assert infer_kind(agency) == kind
