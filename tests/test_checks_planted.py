"""Property tests with the report generator: clean reports raise no error; one planted inconsistency of
each kind makes exactly that rule fire, on that cell. Rendered to HTML and parsed back, so the parser and
the checks are tested together."""

from __future__ import annotations

import random

import pytest

import checks
from parser import parse
from sandbox.reportgen import generate, render_html
from sandbox.reportgen.model import Variant
from sandbox.reportgen.plant import PLANTS

SEEDS = 60


def _clean_spec(seed: int):  # type: ignore[no-untyped-def]
    spec = generate(random.Random(seed))
    if spec.variant.blanks:  # blanks are a warning of their own; plants need a report with none
        spec = generate(random.Random(seed + 10 ** 6), variant=Variant(sign_words=True, thousands=True))
    return spec


def test_clean_reports_raise_nothing() -> None:
    for seed in range(300):
        spec = generate(random.Random(seed))
        findings = checks.run(parse(render_html(spec)))
        assert not [f for f in findings if f.severity == "error"], (seed, [f.to_json() for f in findings])
        assert {f.rule for f in findings} <= {"T3-BLANK"}, (seed, [f.to_json() for f in findings])
        has_blank = any(v is None for row in spec.record.tables["requests"].values() for v in row.values())
        assert bool(findings) == has_blank


@pytest.mark.parametrize("rule", sorted(PLANTS))
def test_planted_inconsistency_fires_exactly_its_rule(rule: str) -> None:
    planted_count = 0
    for seed in range(SEEDS):
        spec = _clean_spec(seed)
        planted = PLANTS[rule](spec, random.Random(seed * 31 + 7))
        if planted is None:
            continue  # the rule does not apply to this template
        planted_count += 1
        record = parse(render_html(planted.spec))
        history = [parse(render_html(h)) for h in planted.history]
        findings = checks.run(record, history=history)
        assert {f.rule for f in findings} == {rule}, (seed, [f.to_json() for f in findings])
        if planted.table is not None:
            assert any(f.table == planted.table and (planted.row is None or f.row == planted.row)
                       and (planted.column is None or f.column == planted.column) for f in findings), \
                (seed, planted, [f.to_json() for f in findings])
    assert planted_count >= SEEDS // 3


def test_same_report_checked_twice_gives_same_fingerprints() -> None:
    spec = PLANTS["T3-BALANCE"](_clean_spec(4), random.Random(1))
    assert spec is not None
    page = render_html(spec.spec)
    first = [f.fingerprint for f in checks.run(parse(page))]
    second = [f.fingerprint for f in checks.run(parse(page))]
    assert first == second and first


def test_amounts_are_compared_rounding_aware() -> None:
    from checks.arithmetic import _close

    assert _close(7730.28, 7730.284, decimals=2)
    assert not _close(7730.28, 7730.3, decimals=2)


def test_ocr_figures_read_unsurely_never_make_an_error() -> None:
    from dataclasses import replace

    planted = PLANTS["T4-BLOCK"](_clean_spec(3), random.Random(2))
    assert planted is not None
    record = parse(render_html(planted.spec))
    scanned = replace(record, source=replace(record.source, ocr=True,
                                             uncertain={f"review/{planted.row}/{planted.column}": "5"}))
    findings = checks.run(scanned)
    assert {f.rule: f.severity for f in findings} == {"T4-BLOCK": "warning", "OCR-UNCERTAIN": "notice"}
