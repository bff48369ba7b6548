"""The 行政区划 table: what people type resolves to the region they mean, codes read as names."""

import pytest

from domain.regions import (
    RegionNotFound,
    provinces,
    region_by_code,
    region_candidates,
    region_from_agency_name,
    region_label,
    resolve_region,
)


def test_every_province_by_full_short_and_code() -> None:
    assert len(provinces()) == 34
    for province in provinces():
        assert resolve_region(province.name) == province
        assert resolve_region(province.short_name) == province
        assert resolve_region(province.code[:2]) == province
        assert province.prefix == province.code[:2]


@pytest.mark.parametrize(
    ("text", "code", "prefix"),
    [
        ("淮安", "320800", "3208"),
        ("淮安市", "320800", "3208"),
        ("江苏省淮安市", "320800", "3208"),
        ("江苏淮安", "320800", "3208"),
        ("洪泽区", "320813", "320813"),
        ("洪泽", "320813", "320813"),
        ("淮安市洪泽区", "320813", "320813"),
        ("江苏省淮安市洪泽区", "320813", "320813"),
        ("南京市", "320100", "3201"),
        ("320813", "320813", "320813"),
        ("3208", "320800", "3208"),
        ("320813000000", "320813", "320813"),
        ("浦东新区", "310115", "310115"),
        ("仙桃市", "429004", "429004"),
        ("黔南州", "522700", "5227"),
        ("平潭县", "350128", "350128"),
        ("北京", "110000", "11"),
        (" 淮安市 ", "320800", "3208"),
    ],
)
def test_cities_and_counties(text: str, code: str, prefix: str) -> None:
    region = resolve_region(text)
    assert (region.code, region.prefix) == (code, prefix)


def test_qualified_name_never_falls_back_to_the_province() -> None:
    with pytest.raises(RegionNotFound):
        resolve_region("江苏省淮安市不存在区")
    with pytest.raises(RegionNotFound) as caught:
        resolve_region("淮按市")
    assert "淮安市" in "".join(caught.value.suggestions)
    assert "您是不是要找" in str(caught.value)
    for nothing in ("", "99", "abc", "地区32"):
        with pytest.raises(RegionNotFound):
            resolve_region(nothing)


def test_ambiguous_names_list_every_candidate() -> None:
    names = [region.full_name for region in region_candidates("朝阳区")]
    assert names[0] == "北京市朝阳区"
    assert "吉林省长春市朝阳区" in names
    assert resolve_region("长春市朝阳区").code == "220104"


def test_names_for_codes() -> None:
    assert region_label("320813") == "江苏省淮安市洪泽区"
    assert region_label("110101") == "北京市东城区"
    assert region_label("32") == "江苏省"
    assert region_label("999999") == "999999"
    assert region_by_code("320813") is not None
    assert region_by_code("32x") is None


@pytest.mark.parametrize(
    ("agency", "code"),
    [
        ("淮安市洪泽区人民政府", "320813"),
        ("淮安市洪泽区财政局", "320813"),
        ("江苏省人民政府办公厅", "320000"),
        ("淮安市人民政府", "320800"),
        ("上海市浦东新区人民政府", "310115"),
        ("国家税务总局淮安市税务局", "320800"),
        ("福建省平潭县人民政府", "350128"),
    ],
)
def test_region_from_agency_name(agency: str, code: str) -> None:
    region = region_from_agency_name(agency)
    assert region is not None and region.code == code


def test_national_bodies_have_no_region() -> None:
    assert region_from_agency_name("国务院办公厅") is None
    assert region_from_agency_name("") is None
