"""A record's tables laid out as the national format prints them — rows and columns in the record's order,
with the printed Chinese labels — and the cells behind findings marked (pure: record + findings in, grid out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from checks.labels import APPLICANT, PROACTIVE_FIELD, PROACTIVE_ROW, REQUEST_ROW, REVIEW_BLOCK, REVIEW_COLUMN

TABLE_TITLES = {"proactive": "二、主动公开政府信息情况", "requests": "三、收到和处理政府信息公开申请情况",
                "review": "四、政府信息公开行政复议、行政诉讼情况"}
ROW_LABELS = {"proactive": PROACTIVE_ROW, "requests": REQUEST_ROW, "review": REVIEW_BLOCK}
COLUMN_LABELS = {"proactive": PROACTIVE_FIELD, "requests": APPLICANT, "review": REVIEW_COLUMN}


@dataclass
class Cell:
    value: Any
    findings: list[int] = field(default_factory=list)  # the numbers of the findings about this cell
    severity: str | None = None

    @property
    def text(self) -> str:
        if self.value is None:
            return "—"
        return f"{self.value:g}" if isinstance(self.value, float) else str(self.value)


@dataclass
class Grid:
    key: str
    title: str
    columns: list[tuple[str, str]]  # key, label
    rows: list[tuple[str, str, list[Cell]]]  # key, label, cells in column order


SEVERITY_ORDER = {"error": 0, "warning": 1, "notice": 2}


def grids(record: dict[str, Any] | None, findings: list[dict[str, Any]]) -> list[Grid]:
    """`findings`: dicts with number, severity, table, row, column (the finding's evidence)."""
    tables = (record or {}).get("tables") or {}
    out = []
    for key, rows in tables.items():
        if not isinstance(rows, dict) or not rows:
            continue
        column_keys: list[str] = []
        for value in rows.values():
            if isinstance(value, dict):
                column_keys += [c for c in value if c not in column_keys]
        if not column_keys:
            column_keys = ["value"]
        row_labels, column_labels = ROW_LABELS.get(key, {}), COLUMN_LABELS.get(key, {})
        grid = Grid(key=key, title=TABLE_TITLES.get(key, key),
                    columns=[(c, column_labels.get(c, c)) for c in column_keys], rows=[])
        for row_key, value in rows.items():
            cells = []
            for column in column_keys:
                raw = value.get(column) if isinstance(value, dict) else (value if column == "value" else None)
                if isinstance(raw, (dict, list)):
                    raw = str(raw)
                cell = Cell(raw)
                for finding in findings:
                    if finding.get("table") == key and finding.get("row") == row_key and (
                            finding.get("column") in (column, None)):
                        cell.findings.append(finding["number"])
                        severity = finding.get("severity") or "notice"
                        if cell.severity is None or SEVERITY_ORDER[severity] < SEVERITY_ORDER[cell.severity]:
                            cell.severity = severity
                cells.append(cell)
            grid.rows.append((row_key, row_labels.get(row_key) or row_key, cells))
        out.append(grid)
    return out
