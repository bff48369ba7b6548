"""The canonical report record (`nianbao.report/1`, see report-schema.md).

A `Record` is a frozen value. `tables` holds plain JSON-shaped dicts keyed exactly as the schema says;
`source` holds what the parser saw besides the schema fields (format, page count, body text, where each
table sits, block headings) so checks can cite evidence without re-reading the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "nianbao.report/1"

SECTION_KEYS = ("overview", "proactive", "requests", "review", "problems", "other")

Cell = int | float | None
Table = dict[str, Any]


@dataclass(frozen=True)
class Dates:
    signed: str | None = None
    published: str | None = None
    period_start: str | None = None
    period_end: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "signed": self.signed,
            "published": self.published,
            "period_start": self.period_start,
            "period_end": self.period_end,
        }


@dataclass(frozen=True)
class Source:
    """What the parser saw: evidence for checks, not part of the scored schema."""

    format: str = "unknown"
    pages: int | None = None
    text: str = ""
    table_pages: dict[str, int | None] = field(default_factory=dict)
    block_labels: tuple[str, ...] = ()
    ocr: bool = False
    low_confidence_cells: tuple[str, ...] = ()
    # OCR: values not read with high confidence, by record path ("requests/granted/natural_person",
    # "dates/signed", "sections/review") → the text as read; findings resting on them are never errors
    uncertain: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "pages": self.pages,
            "table_pages": dict(self.table_pages),
            "block_labels": list(self.block_labels),
            "ocr": self.ocr,
            "low_confidence_cells": list(self.low_confidence_cells),
            "uncertain": dict(self.uncertain),
            "text": self.text,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Source:
        return cls(
            format=data.get("format", "unknown"),
            pages=data.get("pages"),
            text=data.get("text", ""),
            table_pages=dict(data.get("table_pages", {})),
            block_labels=tuple(data.get("block_labels", ())),
            ocr=bool(data.get("ocr", False)),
            low_confidence_cells=tuple(data.get("low_confidence_cells", ())),
            uncertain=dict(data.get("uncertain") or {}),
        )


@dataclass(frozen=True)
class Record:
    title: str | None
    agency: str | None
    year: int | None
    template: str | None
    dates: Dates = field(default_factory=Dates)
    sections: dict[str, bool] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    source: Source = field(default_factory=Source)

    def to_json(self, *, with_source: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "title": self.title,
            "agency": self.agency,
            "year": self.year,
            "template": self.template,
            "dates": self.dates.to_json(),
            "sections": {k: bool(self.sections.get(k, False)) for k in SECTION_KEYS},
            "tables": json.loads(json.dumps(self.tables)),
        }
        if with_source:
            out["source"] = self.source.to_json()
        return out

    def dumps(self, *, with_source: bool = True) -> str:
        return json.dumps(self.to_json(with_source=with_source), ensure_ascii=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        dates = data.get("dates") or {}
        return cls(
            title=data.get("title"),
            agency=data.get("agency"),
            year=data.get("year"),
            template=data.get("template"),
            dates=Dates(
                signed=dates.get("signed"),
                published=dates.get("published"),
                period_start=dates.get("period_start"),
                period_end=dates.get("period_end"),
            ),
            sections=dict(data.get("sections") or {}),
            tables=json.loads(json.dumps(data.get("tables") or {})),
            source=Source.from_json(data.get("source") or {}),
        )
