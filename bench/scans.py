"""Scanned reports: cells right, metadata right, error findings on clean documents, seconds per page.

    .venv/bin/python bench/scans.py [--renders] [--rescan N] [--generated N] [--kind KIND ...] [--only NAME]

`--renders` reads the rendered real records in $NIANBAO_CORPUS/corpus/renders (default ../shared); `--rescan N`
prints and scans those renders' PDFs again N times with each kind of scan (real records, every kind of scan);
`--generated N` renders N scans of each kind with the project's report generator (kinds: see `SCAN_KINDS` in
sandbox/reportgen/render_scan.py). Prints one line per document, then totals and the median / p95 seconds
per page per kind, and the peak RSS (this process and the largest tesseract child).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from corpus import differences  # noqa: E402

import checks  # noqa: E402
from parser import parse  # noqa: E402
from parser.record import Record  # noqa: E402
from sandbox.reportgen import generate  # noqa: E402
from sandbox.reportgen.render_scan import SCAN_KINDS, render_scan, scan_pdf  # noqa: E402

METADATA = ("title", "agency", "year", "template", "dates", "sections")


def table_cells(label: dict[str, Any]) -> int:
    count = 0
    for table in (label.get("tables") or {}).values():
        for row in table.values():
            if isinstance(row, dict):
                count += sum(1 for key, value in row.items() if not isinstance(value, dict) and key != "extra")
    return count


def score(label: dict[str, Any], got: dict[str, Any]) -> tuple[int, int, int, int, list[str]]:
    diffs = differences(label, got)
    cells = table_cells(label)
    wrong_cells = sum(1 for d in diffs if d.startswith(".tables"))
    meta_fields = 0
    for key in METADATA:
        value = label.get(key)
        meta_fields += len(value) if isinstance(value, dict) else 1
    wrong_meta = sum(1 for d in diffs if d.split(".")[1].split(":")[0] in METADATA)
    return cells - wrong_cells, cells, meta_fields - wrong_meta, meta_fields, diffs


def unlabelled(label: Any, got: Any, path: str = "") -> list[str]:
    """Keys of the parsed tables that the label does not have (a header row read as a table row)."""
    if not isinstance(label, dict) or not isinstance(got, dict):
        return []
    out = [f"{path}.{key}" for key in got if key not in label]
    for key, value in label.items():
        out += unlabelled(value, got.get(key), f"{path}.{key}")
    return out


def unexpected_errors(record: Record, expected: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    findings = checks.run(record)
    wanted = {(e["rule"], e.get("table"), e.get("row"), e.get("column")) for e in expected}
    found = {(f.rule, f.table, f.row, f.column) for f in findings}
    extra = [f"{f.rule} {f.table}/{f.row}/{f.column}: {f.message}" for f in findings
             if f.severity == "error" and (f.rule, f.table, f.row, f.column) not in wanted]
    missed_or_found = [f"found ({f.severity}) {f.rule} {f.table}/{f.row}/{f.column}" for f in findings
                       if (f.rule, f.table, f.row, f.column) in wanted]
    missed = [f"MISSED {rule} {table}/{row}/{column}" for rule, table, row, column in wanted - found]
    return extra, missed + missed_or_found


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--renders", action="store_true")
    options.add_argument("--rescan", type=int, default=0, help="scans of each render's PDF per kind")
    options.add_argument("--generated", type=int, default=0)
    options.add_argument("--kind", action="append", help="generated kinds (default: all)")
    options.add_argument("--only", help="renders whose name contains this")
    options.add_argument("--verbose", "-v", action="store_true", help="print every difference")
    args = options.parse_args()

    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    per_page: dict[str, list[float]] = defaultdict(list)
    cpu_per_page: dict[str, list[float]] = defaultdict(list)  # wall time depends on what else the machine runs
    jobs: list[tuple[str, str, bytes, dict[str, Any], list[dict[str, Any]]]] = []
    if args.renders:
        corpus = Path(os.environ.get("NIANBAO_CORPUS", ROOT.parent / "shared")) / "corpus" / "renders"
        if not corpus.is_dir():
            print(f"(no renders at {corpus})")
        for path in sorted((corpus / "docs").glob("*-scan.pdf")):
            name = path.stem
            if args.only and args.only not in name:
                continue
            label = json.loads((corpus / "labels" / f"{name}.json").read_text(encoding="utf-8"))
            expected = json.loads((corpus / "labels" / f"{name}.findings.json").read_text(encoding="utf-8"))
            jobs.append(("renders", name, path.read_bytes(), label, expected))
    if args.rescan:
        corpus = Path(os.environ.get("NIANBAO_CORPUS", ROOT.parent / "shared")) / "corpus" / "renders"
        for path in sorted((corpus / "docs").glob("*-pdf.pdf")):
            name = path.stem.removesuffix("-pdf")
            if args.only and args.only not in name:
                continue
            label = json.loads((corpus / "labels" / f"{name}-scan.json").read_text(encoding="utf-8"))
            expected = json.loads((corpus / "labels" / f"{name}-scan.findings.json").read_text(encoding="utf-8"))
            for seed in range(args.rescan):
                for kind in args.kind or list(SCAN_KINDS):
                    data = scan_pdf(path.read_bytes(), random.Random(seed), kind=kind, agency=label.get("agency") or "")
                    jobs.append((f"rescan-{kind}", f"{name}/{seed}", data, label, expected))
    for seed in range(args.generated):
        for kind in args.kind or list(SCAN_KINDS):
            spec = generate(random.Random(5000 + seed))
            data = render_scan(spec, random.Random(seed), kind=kind)
            jobs.append((f"gen-{kind}", f"seed{seed}", data, spec.record.to_json(with_source=False), []))

    unlabelled_keys = 0
    print(f"{'kind':<14}{'document':<34}{'cells':>11}{'meta':>8}{'errors':>7}{'s/page':>8}")
    for kind, name, data, label, expected in jobs:
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        record = parse(data)
        elapsed = time.perf_counter() - started
        pages = record.source.pages or 1
        per_page[kind].append(elapsed / pages)
        cpu_per_page[kind].append((_cpu_seconds() - cpu_started) / pages)
        right, cells, meta_right, meta, diffs = score(label, record.to_json(with_source=False))
        junk = unlabelled(label.get("tables"), record.to_json()["tables"], ".tables")
        unlabelled_keys += len(junk)
        diffs += [f"UNLABELLED {path}" for path in junk]
        extra, missed = unexpected_errors(record, expected)
        total = totals[kind]
        for i, value in enumerate((right, cells, meta_right, meta, len(extra), 1)):
            total[i] += value
        print(f"{kind:<14}{name[:33]:<34}{right:>5}/{cells:<5}{meta_right:>3}/{meta:<4}{len(extra):>7}"
              f"{elapsed / pages:>8.2f}")
        if args.verbose:
            for line in diffs:
                print("      diff", line)
            for line in extra:
                print("      ERROR", line)
            for line in missed:
                print("     ", line)
            for where, read in record.source.uncertain.items():
                print(f"      unsure {where}: {read!r}")
    print()
    print(f"{'kind':<14}{'docs':>5}{'cells right':>14}{'metadata right':>16}{'errors':>8}{'s/page med':>11}"
          f"{'p95':>7}{'cpu s/page':>11}")
    for kind, (right, cells, meta_right, meta, errors, docs) in sorted(totals.items()):
        seconds = sorted(per_page[kind])
        p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))]
        print(f"{kind:<14}{docs:>5}{100 * right / max(cells, 1):>13.2f}%{100 * meta_right / max(meta, 1):>15.1f}%"
              f"{errors:>8}{statistics.median(seconds):>11.2f}{p95:>7.2f}{statistics.median(cpu_per_page[kind]):>11.2f}")
    print(f"table keys the labels do not have (rows read from headers or stray text): {unlabelled_keys}")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: {own:.0f} MiB (this process), {child:.0f} MiB (largest child)")


if __name__ == "__main__":
    main()
