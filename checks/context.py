"""What a rule sees: the record, the agency's earlier records, and a helper to build findings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from parser.record import Record

from .finding import Finding


@dataclass(frozen=True)
class Context:
    record: Record
    history: Sequence[Record] = field(default_factory=tuple)

    @property
    def tables(self) -> dict[str, Any]:
        return self.record.tables

    def finding(self, rule: str, severity: str, message: str, **where: Any) -> Finding:
        table = where.get("table")
        page = where.pop("page", None)
        if page is None and table is not None:
            page = self.record.source.table_pages.get(table)
        return Finding(rule=rule, severity=severity, message=message, page=page, agency=self.record.agency,
                       year=self.record.year, **where)

    def previous(self) -> Record | None:
        """The same agency's report for the year before, if known."""
        if self.record.year is None:
            return None
        candidates = [r for r in self.history if r.year == self.record.year - 1]
        return candidates[-1] if candidates else None
