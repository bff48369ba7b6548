"""Parser speed and memory, per format: median and p95 milliseconds per page and per document, and peak RSS.

    .venv/bin/python bench/parse.py [--generated N] [--scans N]

Reads the labelled real reports from $NIANBAO_CORPUS (default ../shared) when present, and renders N
generated reports per format with the project's report generator.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from parser import parse  # noqa: E402
from sandbox.reportgen import generate, render_docx, render_html, render_pdf, render_scan  # noqa: E402


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(samples: dict[str, list[tuple[float, int]]], label: str, data: bytes) -> None:
    started = time.perf_counter()
    record = parse(data)
    elapsed = (time.perf_counter() - started) * 1000
    samples[label].append((elapsed, record.source.pages or 1))


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--generated", type=int, default=100)
    options.add_argument("--scans", type=int, default=10)
    args = options.parse_args()

    samples: dict[str, list[tuple[float, int]]] = defaultdict(list)
    corpus = Path(os.environ.get("NIANBAO_CORPUS", ROOT.parent / "shared"))
    labels = corpus / "corpus" / "labels"
    if labels.is_dir():
        for label in sorted(labels.glob("*.json")):
            if label.name.endswith(".findings.json"):
                continue
            name = label.name[: -len(".json")]
            found = [p for p in corpus.rglob(name + ".*") if "labels" not in p.parts]
            if found:
                path = found[0]
                kind = {".pdf": "corpus-pdf", ".html": "corpus-html", ".txt": "corpus-text"}.get(path.suffix, "corpus")
                for _ in range(5):
                    measure(samples, kind, path.read_bytes())
    else:
        print(f"(no corpus at {corpus}: generated documents only)")
    for seed in range(args.generated):
        spec = generate(random.Random(seed))
        measure(samples, "generated-html", render_html(spec))
        measure(samples, "generated-docx", render_docx(spec))
        measure(samples, "generated-pdf", render_pdf(spec))
    for seed in range(args.scans):
        spec = generate(random.Random(seed))
        measure(samples, "generated-scan", render_scan(spec, random.Random(seed)))

    print(f"{'format':<16}{'docs':>6}{'ms/doc med':>12}{'ms/doc p95':>12}{'ms/page med':>13}{'ms/page p95':>13}")
    for kind, values in sorted(samples.items()):
        per_doc = [ms for ms, _ in values]
        per_page = [ms / pages for ms, pages in values]
        print(f"{kind:<16}{len(values):>6}{statistics.median(per_doc):>12.1f}{p95(per_doc):>12.1f}"
              f"{statistics.median(per_page):>13.1f}{p95(per_page):>13.1f}")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak RSS: {peak_kib / 1024:.0f} MiB (this process); {children_kib / 1024:.0f} MiB (largest child: "
          "tesseract, LibreOffice)")


if __name__ == "__main__":
    main()
