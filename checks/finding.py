"""A finding: what is wrong, where (table/row/column keys or the sentence), and a stable fingerprint."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

SEVERITIES = ("error", "warning", "notice")


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    message: str
    table: str | None = None
    row: str | None = None
    column: str | None = None
    printed: Any = None
    expected: Any = None
    expression: str | None = None
    text: str | None = None
    page: int | None = None
    agency: str | None = None
    year: int | None = None

    @property
    def fingerprint(self) -> str:
        """Rule, agency, year, cell and printed values — not the file — so a re-crawl, a re-parse or a
        re-check of the same report gives the same fingerprint, and a silent fix gives a new one."""
        key = [self.rule, self.agency, self.year, self.table, self.row, self.column, self.printed, self.expected,
               self.text if self.table is None else None]
        return hashlib.sha256(json.dumps(key, ensure_ascii=False, default=str).encode("utf-8")).hexdigest()[:32]

    def with_severity(self, severity: str, note: str = "") -> Finding:
        return replace(self, severity=severity, message=self.message + note)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "severity": self.severity, "table": self.table, "row": self.row,
            "column": self.column, "printed": self.printed, "expected": self.expected,
            "expression": self.expression, "text": self.text, "page": self.page, "message": self.message,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, agency: str | None = None, year: int | None = None) -> Finding:
        return cls(rule=data["rule"], severity=data["severity"], message=data.get("message", ""),
                   table=data.get("table"), row=data.get("row"), column=data.get("column"),
                   printed=data.get("printed"), expected=data.get("expected"), expression=data.get("expression"),
                   text=data.get("text"), page=data.get("page"), agency=agency, year=year)
