"""Reading one printed cell: text normalisation and numbers as reports print them."""

from __future__ import annotations

import re
import unicodedata

Number = int | float

_SPACES = re.compile(r"[\s\u00a0\u3000\u2002\u2003\u200b\ufeff]+")
# OCR and typesetting confusions seen in scanned reports, applied only inside a cell that is otherwise numeric.
_OCR_DIGITS = str.maketrans({"U": "0", "O": "0", "o": "0", "D": "0", "Q": "0", "¢": "0", "©": "0", "°": "0",
                             "〇": "0", "○": "0", "l": "1", "I": "1", "|": "1", "!": "1", "]": "1", "[": "1",
                             "S": "5", "s": "5", "B": "8", "Z": "2", "z": "2", "G": "6", "g": "9"})
_SIGN_WORDS = {"增": "+", "増": "+", "加": "+", "减": "-", "減": "-", "少": "-"}
_UNIT = re.compile(r"(万元|亿元|千元|元|件|条|个|次|人次|人|项|篇|%)$")
_NUMBER = re.compile(r"^([+\-]?)(\d+(?:\.\d+)?)$")
_EMPTY_MARKS = {"", "-", "—", "——", "/", "／", "\\", "无", "空"}


def fold(text: str) -> str:
    """NFKC (full-width → half-width), no spaces of any kind."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text))


def squash(text: str) -> str:
    """Runs of white space (non-breaking and ideographic included) collapsed to one space; text as printed."""
    return _SPACES.sub(" ", text).strip()


def parse_number(raw: str | None, *, ocr: bool = False) -> Number | None:
    """A printed count or amount, or None when the cell is empty.

    Raises ValueError when the cell holds text that is not a number.
    """
    if raw is None:
        return None
    text = fold(raw)
    if text in _EMPTY_MARKS:
        return None
    text = text.replace(",", "").replace("，", "")
    if text and text[0] in _SIGN_WORDS:
        text = _SIGN_WORDS[text[0]] + text[1:]
    text = _UNIT.sub("", text)
    if ocr:
        text = text.translate(_OCR_DIGITS)
    match = _NUMBER.match(text)
    if not match:
        raise ValueError(f"not a number: {raw!r}")
    sign, digits = match.groups()
    value: Number = float(digits) if "." in digits else int(digits)
    return -value if sign == "-" else value


def is_number(raw: str | None, *, ocr: bool = False) -> bool:
    if raw is None or not fold(raw):
        return False
    try:
        return parse_number(raw, ocr=ocr) is not None
    except ValueError:
        return False


def is_blank(raw: str | None) -> bool:
    return raw is not None and fold(raw) in _EMPTY_MARKS


def unit_of(raw: str) -> str | None:
    match = _UNIT.search(fold(raw))
    return match.group(1) if match else None
