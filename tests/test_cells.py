from __future__ import annotations

import pytest

from parser.cells import is_number, parse_number


@pytest.mark.parametrize(
    ("printed", "value"),
    [
        ("0", 0), ("１，２３４", 1234), (" 12 ", 12), ("+400", 400), ("增4747", 4747), ("増3", 3), ("-2", -2),
        ("减2", -2), ("減7", -7), ("7730.28", 7730.28), ("251000元", 251000), ("11750 万元", 11750),
        ("\u00a0", None), ("", None), ("\u3000", None), ("—", None), ("1,234.5", 1234.5),
    ],
)
def test_printed_numbers(printed: str, value: float | None) -> None:
    assert parse_number(printed) == value


def test_zero_is_never_blank() -> None:
    assert parse_number("0") == 0 and parse_number("0") is not None


def test_ocr_confusions_only_when_asked() -> None:
    assert parse_number("1O", ocr=True) == 10
    assert parse_number("U", ocr=True) == 0
    assert parse_number("l2", ocr=True) == 12
    assert not is_number("U")
    with pytest.raises(ValueError):
        parse_number("行政许可")
