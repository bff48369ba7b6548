"""Every labelled real report yields the findings its label lists, and no other error."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import document_path, expected_findings, labelled_names

import checks
from checks.deadlines import load_calendar
from parser import parse

NAMES = labelled_names() or ["<no corpus>"]


@pytest.mark.corpus
@pytest.mark.parametrize("name", NAMES)
def test_labelled_findings(shared: Path, name: str) -> None:
    record = parse(document_path(shared, name).read_bytes())
    findings = checks.run(record, calendar=load_calendar())
    for wanted in expected_findings(shared, name):
        matches = [f for f in findings if f.rule == wanted["rule"]
                   and all(getattr(f, key) == wanted[key] for key in ("table", "row", "column") if key in wanted)]
        assert matches, f"missing {wanted}; got {[f.to_json() for f in findings]}"
    listed = {(w["rule"], w.get("table"), w.get("row"), w.get("column")) for w in expected_findings(shared, name)}
    extra_errors = [f for f in findings if f.severity == "error"
                    and (f.rule, f.table, f.row, f.column) not in listed
                    and (f.rule, None, None, None) not in listed]
    assert not extra_errors, [f.to_json() for f in extra_errors]


@pytest.mark.corpus
def test_fingerprints_are_stable_across_runs(shared: Path) -> None:
    path = shared / "corpus" / "hzq2023.pdf"
    first = [f.fingerprint for f in checks.run(parse(path.read_bytes()))]
    second = [f.fingerprint for f in checks.run(parse(path.read_bytes()))]
    assert first == second and len(set(first)) == len(first) == 2
