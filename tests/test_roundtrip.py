"""Generated reports — both formats, zeros, blanks, large numbers, label variants — read back exactly."""

from __future__ import annotations

import random

import pytest
from corpus import differences

from parser import parse
from sandbox.reportgen import generate, render_docx, render_html, render_pdf

RECORDS = 120


def _expected(spec_record: dict, *, published: str | None = None) -> dict:
    expected = dict(spec_record)
    expected["dates"] = {**expected["dates"], "published": published}
    return expected


@pytest.mark.parametrize("renderer", [render_html, render_docx, render_pdf], ids=["html", "docx", "pdf"])
def test_generated_reports_round_trip(renderer) -> None:  # type: ignore[no-untyped-def]
    failures = []
    for seed in range(RECORDS):
        spec = generate(random.Random(seed), big=seed % 17 == 0)
        got = parse(renderer(spec)).to_json()
        problems = differences(_expected(spec.record.to_json(with_source=False)), got)
        if problems:
            failures.append((seed, spec.variant, problems[:5]))
    assert not failures, failures[:3]


def test_gbk_page_with_published_date() -> None:
    spec = generate(random.Random(5), template="2021")
    page = render_html(spec, published="2024-01-30", encoding="gbk")
    page.decode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        page.decode("utf-8")
    got = parse(page).to_json()
    assert not differences(_expected(spec.record.to_json(with_source=False), published="2024-01-30"), got)


def test_both_formats_and_all_variants_are_exercised() -> None:
    specs = [generate(random.Random(seed)) for seed in range(RECORDS)]
    assert {s.record.template for s in specs} == {"2019", "2021"}
    for flag in ("half_width_brackets", "spaced_labels", "label_typos", "single_other_row", "sign_words",
                 "thousands", "title_split", "blanks"):
        assert any(getattr(s.variant, flag) for s in specs), flag
    assert any(s.record.tables["requests"]["new"]["total"] > 1000 for s in
               (generate(random.Random(seed), big=True) for seed in range(3)))
