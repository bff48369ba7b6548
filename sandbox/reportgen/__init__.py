"""The report generator: random, internally consistent annual reports rendered as the formats agencies
publish (HTML pages, DOCX, DOC, Word-style PDF, scanned PDF). Tests, benchmarks and the sandbox sites use it.

    spec = generate(random.Random(7), template="2021", year=2023)
    html = render_html(spec)            # bytes; spec.record is what a parser must read back
"""

from .model import ReportSpec, Variant, generate
from .render_docx import render_docx
from .render_html import render_html
from .render_pdf import render_pdf
from .render_scan import render_scan

__all__ = ["ReportSpec", "Variant", "generate", "render_docx", "render_html", "render_pdf", "render_scan"]
