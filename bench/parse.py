"""Parser speed, memory and accuracy, per format: median and p95 milliseconds per page and per document,
peak RSS; cells and metadata right on the renders of the official template (DOCX, PDF, HTML); and a batch of
text PDFs read by `nianbao parse --json` against a text-only pdfplumber read of the same files
(`for f: pdfplumber.open(f); [p.extract_text() for p in pages]`), as a ratio of wall times.

    .venv/bin/python bench/parse.py [--generated N] [--scans N] [--batch N] [--rounds R]

Reads the labelled real reports from $NIANBAO_CORPUS (default ../shared) when present, and renders N
generated reports per format with the project's report generator. The batch holds the corpus's text PDFs
and `--batch` generated ones.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
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


TEXT_ONLY = """
import sys, pdfplumber
for f in sys.argv[1:]:
    with pdfplumber.open(f) as pdf:
        [p.extract_text() for p in pdf.pages]
"""


NIANBAO_COUNTED = """
import sys
from monitor.cli import main
status = main(sys.argv[1:])
from multiprocessing import forkserver
forkserver._forkserver._stop()
sys.exit(status)
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _score(expected: object, got: object, counts: dict[str, list[int]], in_tables: bool = False) -> None:
    if isinstance(expected, dict):
        for key, value in expected.items():
            _score(value, got.get(key) if isinstance(got, dict) else None, counts, in_tables or key == "tables")
        return
    right = (expected == got and type(expected) is type(got)) or (
        isinstance(expected, int | float) and isinstance(got, int | float) and expected == got)
    counts["cells" if in_tables else "metadata"][0] += int(right)
    counts["cells" if in_tables else "metadata"][1] += 1


def renders_accuracy(corpus: Path) -> None:
    """Cells and metadata right on the text formats of the renders (scans: bench/scans.py)."""
    folder = corpus / "corpus" / "renders"
    if not (folder / "labels").is_dir():
        print("(no renders in the corpus)")
        return
    by_kind: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"cells": [0, 0], "metadata": [0, 0]})
    for label in sorted((folder / "labels").glob("r-*.json")):
        kind = label.stem.rsplit("-", 1)[-1]
        if label.name.endswith(".findings.json") or kind == "scan":
            continue
        document = next((folder / "docs").glob(label.stem + ".*"))
        _score(json.loads(label.read_text(encoding="utf-8")), parse(document.read_bytes()).to_json(), by_kind[kind])
    print(f"{'renders':<10}{'cells right':>20}{'metadata right':>20}")
    for kind, counts in sorted(by_kind.items()):
        cells, meta = counts["cells"], counts["metadata"]
        print(f"{kind:<10}{f'{cells[0]}/{cells[1]} ({100 * cells[0] / cells[1]:.2f} %)':>20}"
              f"{f'{meta[0]}/{meta[1]} ({100 * meta[0] / meta[1]:.2f} %)':>20}")


def batch_against_text_only(corpus: Path, generated: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="nianbao-batch-") as tmp:
        paths = [p for p in [corpus / "corpus" / "hzq2023.pdf",
                             *sorted((corpus / "corpus" / "renders" / "docs").glob("*-pdf.pdf"))] if p.is_file()]
        for seed in range(generated):
            path = Path(tmp) / f"generated-{seed:03d}.pdf"
            path.write_bytes(render_pdf(generate(random.Random(seed))))
            paths.append(path)
        files = [str(p) for p in paths]
        pages = sum(parse(p.read_bytes()).source.pages or 1 for p in paths)
        nianbao = [str(ROOT / ".venv" / "bin" / "nianbao"), "parse", "--json", *files]
        # the same command, then the fork server stopped and waited for, so its readers' CPU time is counted
        nianbao_cpu = [sys.executable, "-c", NIANBAO_COUNTED, "parse", "--json", *files]
        text_only = [sys.executable, "-c", TEXT_ONLY, *files]
        times: dict[str, list[float]] = {"nianbao": [], "text-only": []}
        cpu: dict[str, list[float]] = {"nianbao": [], "text-only": []}
        for _ in range(rounds):  # alternating, so both see the same machine load
            for name, command in (("text-only", text_only), ("nianbao", nianbao)):
                started = time.perf_counter()
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                times[name].append(time.perf_counter() - started)
            for name, command in (("text-only", text_only), ("nianbao", nianbao_cpu)):
                before = _children_cpu()
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                cpu[name].append(_children_cpu() - before)
        ours, theirs = statistics.median(times["nianbao"]), statistics.median(times["text-only"])
        print(f"batch of {len(files)} text PDFs ({pages} pages), median of {rounds} rounds, {os.cpu_count()} cores: "
              f"nianbao parse --json {ours:.2f} s ({1000 * ours / pages:.0f} ms/page wall), "
              f"pdfplumber text-only {theirs:.2f} s; ratio {ours / theirs:.2f}")
        ours_cpu, theirs_cpu = statistics.median(cpu["nianbao"]), statistics.median(cpu["text-only"])
        print(f"  CPU seconds (all processes): nianbao {ours_cpu:.2f}, text-only {theirs_cpu:.2f}; ratio "
              f"{ours_cpu / theirs_cpu:.2f} (on a busy machine the wall ratio tends to this; idle, to it / cores)")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--generated", type=int, default=100)
    options.add_argument("--scans", type=int, default=10)
    options.add_argument("--batch", type=int, default=11, help="generated PDFs added to the batch")
    options.add_argument("--rounds", type=int, default=3)
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
    renders_accuracy(corpus)
    batch_against_text_only(corpus, args.batch, args.rounds)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak RSS: {peak_kib / 1024:.0f} MiB (this process); {children_kib / 1024:.0f} MiB (largest child: "
          "tesseract, LibreOffice)")


if __name__ == "__main__":
    main()
