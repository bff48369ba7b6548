"""Every labelled real report parses to its label exactly, cell by cell and field by field."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import differences, document_path, label, labelled_names

from parser import parse

NAMES = labelled_names() or ["<no corpus>"]


@pytest.mark.corpus
@pytest.mark.parametrize("name", NAMES)
def test_parses_to_label(shared: Path, name: str) -> None:
    expected = label(shared, name)
    record = parse(document_path(shared, name).read_bytes())
    problems = differences(expected, record.to_json())
    assert not problems, "\n".join(problems)


@pytest.mark.corpus
def test_unlabelled_reports_do_not_crash_and_find_metadata(shared: Path) -> None:
    folder = shared / "corpus" / "unlabelled" / "hebei"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    for path in sorted(folder.glob("*.txt")):
        record = parse(path.read_bytes())
        assert record.year is not None, path.name
        assert record.dates.published is not None, path.name
        assert record.agency and record.agency.startswith("河北省"), (path.name, record.agency)


@pytest.mark.corpus
def test_every_frozen_page_has_its_published_date_and_tables(shared: Path) -> None:
    for path in sorted((shared / "corpus" / "pingtan").glob("pingtan20*.html")):
        record = parse(path.read_bytes())
        year = int(path.stem[-4:])
        assert record.year == year
        assert record.dates.published is not None and record.dates.published > f"{year}-12-31"
        if record.template in ("2019", "2021"):
            assert record.tables["requests"]["total"]["total"] is not None
            assert set(record.tables["review"]) == {"review", "litigation_direct", "litigation_after_review"}
