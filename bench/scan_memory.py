"""Peak memory of reading one scanned report, each parse in a fresh process.

    .venv/bin/python bench/scan_memory.py [--docs N] [--cli] [--batch]

Renders N generated reports as 300-dpi colour scans with the red seal (the largest pages the generator
makes) and as 250-dpi grey scans with the seal, then parses each in a new Python process (or with `nianbao
parse --json` when `--cli` is given; all of them in one `nianbao parse --json` when `--batch` is) and prints:

- `maxrss`: the largest resident set of any one process (what `/usr/bin/time -v` reports), and
- `tree PSS`: the largest sum, sampled every 5 ms, of the proportional set sizes of the process and all its
  children (tesseract included; pages shared between forked processes counted once).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.reportgen import generate  # noqa: E402
from sandbox.reportgen.render_scan import render_scan  # noqa: E402

LARGEST = (("colour-300dpi-sealed", "sealed", 300), ("grey-250dpi-sealed", "sealed-grey", 250))
PARSE_ONE = "import sys; from parser import parse; parse(open(sys.argv[1], 'rb').read())"


def _children(pid: int) -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(parent, []).append(int(entry))
    return tree


def tree_pss(root: int) -> int:
    tree, total, stack = _children(root), 0, [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
                total += next(int(line.split()[1]) * 1024 for line in handle if line.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
        stack.extend(tree.get(pid, []))
    return total


def measure(command: list[str]) -> tuple[float, float, float]:
    """Seconds, largest single-process RSS (MiB) and largest tree PSS (MiB) of one command."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, cwd=ROOT)
    peak = 0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)  # this child's own rusage, not all children's
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            break
        peak = max(peak, tree_pss(process.pid))
        time.sleep(0.005)
    if process.returncode:
        raise SystemExit(f"{command} failed with {process.returncode}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024, peak / 2 ** 20


def render(folder: Path, docs: int) -> None:
    for seed in range(docs):
        spec = generate(random.Random(5000 + seed))
        for name, kind, dpi in LARGEST:
            path = folder / f"{name}-{seed}.pdf"
            path.write_bytes(render_scan(spec, random.Random(seed), dpi=dpi, kind=kind))


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--docs", type=int, default=3)
    options.add_argument("--cli", action="store_true", help="parse with `nianbao parse --json`")
    options.add_argument("--batch", action="store_true", help="all documents in one `nianbao parse --json`")
    options.add_argument("--render-to", type=Path, help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.render_to:
        render(args.render_to, args.docs)
        return
    with tempfile.TemporaryDirectory(prefix="nianbao-scan-memory-") as tmp:
        # rendered by another process: a child's maxrss counts what it shared with this one before its exec
        subprocess.run([sys.executable, __file__, "--docs", str(args.docs), "--render-to", tmp], check=True)
        print(f"{'document':<28}{'seconds':>9}{'maxrss MiB':>12}{'tree PSS MiB':>14}")
        if args.batch:
            paths = sorted(str(p) for p in Path(tmp).glob("*.pdf"))
            seconds, maxrss, pss = measure([str(ROOT / ".venv" / "bin" / "nianbao"), "parse", "--json", *paths])
            print(f"{f'batch of {len(paths)}':<28}{seconds:>9.1f}{maxrss:>12.0f}{pss:>14.0f}")
            return
        for path in sorted(Path(tmp).glob("*.pdf")):
            if args.cli:
                command = [str(ROOT / ".venv" / "bin" / "nianbao"), "parse", "--json", str(path)]
            else:
                command = [sys.executable, "-c", PARSE_ONE, str(path)]
            seconds, maxrss, pss = measure(command)
            print(f"{path.stem:<28}{seconds:>9.1f}{maxrss:>12.0f}{pss:>14.0f}")


if __name__ == "__main__":
    main()
