"""The full-size parser bombs of issue 13, each read by `nianbao parse --json` under `prlimit --as=3GiB` with
default limits: wall time, the reason it ended with, and the peak resident memory of the largest process in
the caller's tree (sampled every 20 ms: caller, fork server, reader, anything the reader starts).

    .venv/bin/python bench/parser_bombs.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox import bombs  # noqa: E402

BOMBS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "regex": ("127-byte text: a row label + 36 digits", bombs.regex_backtracking),
    "html-spans": ("HTML: 3,000 cells with rowspan/colspan 200", bombs.html_spans),
    "tiff-frames": ("TIFF: 300 frames of 80 megapixels", bombs.tiff_frames),
    "docx-xml": ("DOCX: document.xml of 190 MB", bombs.docx_huge_xml),
    "docx-xml-15": ("DOCX: document.xml of 15 MB, just under the limit", lambda: bombs.docx_huge_xml(15)),
    "pdf-flate": ("PDF: a 1 GB FlateDecode stream", bombs.pdf_flate_stream),
    "docx-gridspan": ("DOCX: gridSpan 50,000,000", bombs.docx_grid_span),
    "spaces": ("300 MB of spaces", bombs.spaces),
    "pdf-giant-page": ("scanned PDF: a page 200 × 14,400 points", bombs.pdf_giant_page),
}
ADDRESS_SPACE = 3 * 1024 ** 3


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, stack = [pid], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(path: Path) -> tuple[float, int, str, int]:
    command = [str(ROOT / ".venv" / "bin" / "nianbao"), "parse", "--json", str(path)]
    if shutil.which("prlimit"):
        command = ["prlimit", f"--as={ADDRESS_SPACE}", *command]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    while process.poll() is None:
        peak = max([peak, *(_rss_kib(pid) for pid in _tree(process.pid))])
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    stderr = process.stderr.read() if process.stderr else ""
    reason = stderr.strip().splitlines()[-1].split(": ", 1)[-1] if stderr.strip() else "(read, no error)"
    return elapsed, peak, reason, process.returncode


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--only", nargs="*", choices=sorted(BOMBS))
    args = options.parse_args()
    print(f"{'bomb':<15}{'file':>10}{'seconds':>9}{'peak MiB':>10}  ends with")
    with tempfile.TemporaryDirectory(prefix="nianbao-bombs-") as tmp:
        for name, (label, build) in BOMBS.items():
            if args.only and name not in args.only:
                continue
            path = Path(tmp) / name
            path.write_bytes(build())
            size = path.stat().st_size
            elapsed, peak, reason, status = run(path)
            shown = f"{size} B" if size < 1024 else f"{size / 1024:.0f} KB" if size < 10 << 20 else f"{size >> 20} MB"
            print(f"{name:<15}{shown:>10}{elapsed:>9.2f}{peak / 1024:>10.0f}  [{status}] {reason}   ({label})")
            path.unlink()


if __name__ == "__main__":
    main()
