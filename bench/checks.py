"""Checks on planted errors: how many planted inconsistencies are found and how many false alarms, over
many generated reports (render → parse → check), and how long checking takes.

    .venv/bin/python bench/checks.py [--seeds N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import checks
from parser import parse
from sandbox.reportgen import generate, render_html
from sandbox.reportgen.model import Variant
from sandbox.reportgen.plant import PLANTS


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--seeds", type=int, default=120)
    args = options.parse_args()
    planted: Counter[str] = Counter()
    found: Counter[str] = Counter()
    false_alarms: Counter[str] = Counter()
    clean_reports = clean_errors = 0
    check_ms: list[float] = []
    for seed in range(args.seeds):
        spec = generate(random.Random(seed))
        started = time.perf_counter()
        findings = checks.run(parse(render_html(spec)))
        check_ms.append((time.perf_counter() - started) * 1000)
        clean_reports += 1
        clean_errors += sum(1 for f in findings if f.severity == "error")
        if spec.variant.blanks:
            spec = generate(random.Random(seed + 10 ** 6), variant=Variant(sign_words=True))
        for rule, plant in PLANTS.items():
            result = plant(spec, random.Random(seed * 31 + 7))
            if result is None:
                continue
            planted[rule] += 1
            record = parse(render_html(result.spec))
            history = [parse(render_html(h)) for h in result.history]
            rules = [f.rule for f in checks.run(record, history=history)]
            if rule in rules:
                found[rule] += 1
            false_alarms.update(r for r in set(rules) if r != rule)
    total = sum(planted.values())
    print(f"{'rule':<20}{'planted':>9}{'found':>8}")
    for rule in sorted(planted):
        print(f"{rule:<20}{planted[rule]:>9}{found[rule]:>8}")
    print(f"planted reports: {total}; found {sum(found.values())} ({sum(found.values()) / total:.2%}); "
          f"false alarms (other rules firing): {sum(false_alarms.values())} {dict(false_alarms)}")
    print(f"clean reports: {clean_reports}; error findings on them: {clean_errors}")
    print(f"parse+check per HTML report: median {statistics.median(check_ms):.1f} ms")


if __name__ == "__main__":
    main()
