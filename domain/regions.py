"""China's administrative divisions (行政区划代码, GB/T 2260): resolve what people type — 淮安, 淮安市, 江苏省淮安市,
洪泽区, 320813 — to one region, name a code for people, and infer an agency's region from its name.

The table is `data/regions-2025.csv` (the ministry's codes as of 2025-12-31, see its header). A region's
`prefix` is the code prefix that covers it and everything under it ("32", "3208", "320813"), which is how
subscriptions and filters match agencies."""

from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

DATA_FILE = "regions-2025.csv"
DATA_AS_OF = "2025-12-31"

Level = Literal["province", "city", "county"]
_LEVEL_RANK: dict[str, int] = {"province": 0, "city": 1, "county": 2}

# Longest first: the generic part of a name, dropped to get the short name people type (江苏, 淮安, 洪泽).
_SUFFIXES = (
    "维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "自治州", "自治县", "自治旗",
    "林区", "特区", "地区", "新区", "省", "市", "区", "县", "旗", "盟",
)
_MINORITY = re.compile(r"(?:[\u4e00-\u9fff]{1,2}族)+$")  # 黔南布依族苗族 → 黔南
_DIGITS = re.compile(r"\d{2}(?:\d{2})?(?:\d{2})?(?:\d{6})?")


@dataclass(frozen=True)
class Region:
    code: str  # six digits
    name: str  # as the ministry writes it: 洪泽区
    level: Level
    parent_code: str | None

    @property
    def prefix(self) -> str:
        """The 行政区划代码 prefix covering this region and its subordinates."""
        if self.level == "province":
            return self.code[:2]
        if self.level == "city":
            return self.code[:4]
        return self.code

    @property
    def full_name(self) -> str:
        """江苏省淮安市洪泽区; a municipality's district once: 北京市东城区."""
        names: list[str] = []
        region: Region | None = self
        while region is not None:
            if not names or names[-1] != region.name:
                names.append(region.name)
            region = _table().by_code.get(region.parent_code) if region.parent_code else None
        return "".join(reversed(names))

    @property
    def short_name(self) -> str:
        return _short(self.name)


class RegionNotFound(LookupError):
    """Nothing in the table matches; `suggestions` are the nearest full names (for 您是不是要找)."""

    def __init__(self, text: str, suggestions: list[str]) -> None:
        self.text = text
        self.suggestions = suggestions
        message = f"找不到地区“{text}”"
        if suggestions:
            message += "，您是不是要找：" + "、".join(suggestions)
        super().__init__(message)


def _short(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            stem = name[: -len(suffix)]
            minority = _MINORITY.search(stem)
            if minority and len(stem) - len(minority.group()) >= 2:
                stem = stem[: minority.start()]
            return stem
    return name


def _names(name: str) -> set[str]:
    """The full name, the short name, and the everyday form of an autonomous one (黔南州, 峨边县)."""
    short = _short(name)
    keys = {name, short}
    for suffix, everyday in (("自治州", "州"), ("自治县", "县"), ("自治旗", "旗")):
        if name.endswith(suffix) and short != name:
            keys.add(short + everyday)
    return keys


def _level(code: str) -> Level:
    if code[2:] == "0000":
        return "province"
    if code[4:] == "00":
        return "city"
    return "county"


@dataclass(frozen=True)
class _Table:
    regions: tuple[Region, ...]
    by_code: dict[str, Region]
    children: dict[str | None, tuple[Region, ...]]
    by_name: dict[str, tuple[Region, ...]]  # full and short names


@cache
def _table() -> _Table:
    text = resources.files("domain").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    rows = [row for row in csv.reader(line for line in text.splitlines() if not line.startswith("#"))][1:]
    names = {code: name for code, name in rows}
    regions: list[Region] = []
    for code, name in rows:
        level = _level(code)
        province = code[:2] + "0000"
        if level == "city" and names.get(province) == name:
            continue  # a municipality's city-level row (北京市 under 北京市): the province stands for it
        if level == "province":
            parent = None
        elif level == "city":
            parent = province
        else:
            city = code[:4] + "00"
            parent = city if city in names and names[city] != names.get(province) else province
        regions.append(Region(code, name, level, parent))
    by_code = {region.code: region for region in regions}
    children: dict[str | None, list[Region]] = {}
    by_name: dict[str, list[Region]] = {}
    for region in regions:
        children.setdefault(region.parent_code, []).append(region)
        for key in _names(region.name):
            by_name.setdefault(key, []).append(region)
    order = lambda rs: tuple(sorted(rs, key=lambda r: (_LEVEL_RANK[r.level], r.code)))  # noqa: E731
    return _Table(
        tuple(regions),
        by_code,
        {key: order(value) for key, value in children.items()},
        {key: order(value) for key, value in by_name.items()},
    )


def all_regions() -> tuple[Region, ...]:
    return _table().regions


def provinces() -> tuple[Region, ...]:
    return _table().children[None]


def region_by_code(code: str) -> Region | None:
    """A 2-, 4-, 6- or 12-digit code (32, 3208, 320813, 320813000000)."""
    code = code.strip()
    if not code.isdigit() or len(code) not in (2, 4, 6, 12):
        return None
    return _table().by_code.get(code[:6].ljust(6, "0"))


def _parse_path(text: str, *, full_names_only: bool, whole: bool) -> list[Region]:
    """Read `text` as a chain of names from the top down (江苏省 淮安市 洪泽区, or starting lower: 淮安市洪泽区),
    longest name first at each step. With `whole`, the chain must use up the text."""
    table = _table()
    best: list[Region] = []

    def walk(rest: str, parent: Region | None, chain: list[Region]) -> bool:
        nonlocal best
        if not rest:
            best = chain
            return True
        if len(chain) > len(best):
            best = chain
        if parent is None:
            candidates: Iterable[Region] = table.regions
        else:
            candidates = _descendants(parent)
        matches: list[tuple[int, Region]] = []
        for region in candidates:
            keys: Iterable[str] = (region.name,) if full_names_only else _names(region.name)
            for key in keys:
                if len(key) >= 2 and rest.startswith(key):
                    matches.append((len(key), region))
        matches.sort(key=lambda m: (-m[0], _LEVEL_RANK[m[1].level], m[1].code))
        return any(walk(rest[length:], region, [*chain, region]) for length, region in matches)

    done = walk(text, None, [])
    if whole and not done:
        return []
    return best


def _descendants(region: Region) -> tuple[Region, ...]:
    table = _table()
    direct = table.children.get(region.code, ())
    nested = tuple(child for city in direct for child in table.children.get(city.code, ()))
    return direct + nested


def region_candidates(text: str) -> list[Region]:
    """Every region `text` could mean, most general first (朝阳区 → 北京市朝阳区, 长春市朝阳区)."""
    text = re.sub(r"\s+", "", text or "")
    if not text:
        return []
    if _DIGITS.fullmatch(text):
        region = region_by_code(text)
        return [region] if region else []
    exact = _table().by_name.get(text)
    if exact:
        return list(exact)
    chain = _parse_path(text, full_names_only=False, whole=True)
    return [chain[-1]] if chain else []


def resolve_region(text: str) -> Region:
    """One region for what a person typed; the most general and then the lowest code where a name is shared
    (use `region_candidates` to offer a choice). Raises RegionNotFound with suggestions."""
    candidates = region_candidates(text)
    if candidates:
        return candidates[0]
    cleaned = re.sub(r"\s+", "", text or "")
    names = list(_table().by_name)
    close = difflib.get_close_matches(cleaned, names, n=5, cutoff=0.5)
    suggestions: list[str] = []
    for name in close:
        for region in _table().by_name[name]:
            if region.full_name not in suggestions:
                suggestions.append(region.full_name)
    raise RegionNotFound(text, suggestions[:3])


def region_from_agency_name(agency: str) -> Region | None:
    """The most specific region an agency's name starts with (淮安市洪泽区人民政府 → 洪泽区; 江苏省人民政府办公厅 →
    江苏省); failing that, the first full region name of three or more characters inside it (国家税务总局淮安市税务局
    → 淮安市). None for national bodies (国务院办公厅)."""
    name = re.sub(r"\s+", "", agency or "")
    if not name:
        return None
    chain = _parse_path(name, full_names_only=True, whole=False)
    if chain:
        return chain[-1]
    table = _table()
    for start in range(1, len(name) - 2):
        rest = name[start:]
        hits = [
            region for key, regions in table.by_name.items() if len(key) >= 3 and rest.startswith(key)
            for region in regions if region.name == key
        ]
        if hits:
            chain = _parse_path(rest, full_names_only=True, whole=False)
            return chain[-1] if chain else hits[0]
    return None


def with_region_names_mended(agency: str) -> str:
    """An agency name read by OCR with one character of a region's name misread (广州市番遇区财政局): the
    name with that region's name as the ministry writes it (广州市番禺区财政局). A region is mended only where
    exactly one known name of the same length fits but for one character — under the regions read before it
    when there are any; its last character (区, 县, 市) must match. Otherwise the name is returned as it is."""
    name = agency or ""
    chain = _parse_path(name, full_names_only=True, whole=False)
    done = sum(len(region.name) for region in chain)
    if chain and chain[-1].level == "county":
        return name  # read down to the county: nothing to mend above the agency itself
    candidates: Iterable[Region] = _descendants(chain[-1]) if chain else _table().regions
    rest = name[done:]
    fits = {
        region.name for region in candidates
        if len(region.name) >= 3 and len(rest) > len(region.name) and rest[len(region.name) - 1] == region.name[-1]
        and sum(a != b for a, b in zip(rest, region.name, strict=False)) == 1
    }
    if len(fits) != 1:
        return name
    fit = fits.pop()
    return name[:done] + fit + rest[len(fit):]


def region_label(code: str | None) -> str:
    """A code as people read it (320813 → 江苏省淮安市洪泽区); the code itself when unknown."""
    if not code:
        return ""
    region = region_by_code(code)
    return region.full_name if region else code


def matches_prefix(agency_region_code: str | None, prefix: str) -> bool:
    """Whether an agency with this region code lies within the region whose prefix is given."""
    return bool(agency_region_code) and str(agency_region_code).startswith(prefix)
