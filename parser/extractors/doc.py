"""Legacy Word (DOC) and RTF: converted to DOCX by LibreOffice, then read as DOCX."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile

from ..document import Document
from ..errors import CorruptDocument, ParseTimeout, UnsupportedFormat
from ..limits import Limits
from .docx import extract_docx


def _soffice() -> str:
    for name in ("soffice", "libreoffice"):
        path = shutil.which(name)
        if path:
            return path
    raise UnsupportedFormat("DOC needs LibreOffice (soffice) to convert it; it is not installed")


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (Linux /proc; elsewhere only the process itself)."""
    victims = [pid]
    if os.path.isdir("/proc"):
        children = _children()
        index = 0
        while index < len(victims):
            victims.extend(children.get(victims[index], []))
            index += 1
    for victim in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(victim, signal.SIGKILL)


def convert_to_docx(data: bytes, suffix: str, limits: Limits) -> bytes:
    with tempfile.TemporaryDirectory(prefix="nianbao-doc-") as tmp:
        source = os.path.join(tmp, f"input{suffix}")
        with open(source, "wb") as handle:
            handle.write(data)
        profile = os.path.join(tmp, "profile")
        command = [_soffice(), f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
                   "--convert-to", "docx:MS Word 2007 XML", "--outdir", tmp, source]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "HOME": tmp})
        try:
            process.wait(timeout=limits.seconds)
        except subprocess.TimeoutExpired as exc:
            raise ParseTimeout(f"DOC conversion took longer than {limits.seconds:.0f} s") from exc
        finally:
            # soffice is a launcher: the converter (soffice.bin) is its child and must not outlive it
            kill_tree(process.pid)
            process.wait()
        target = os.path.join(tmp, "input.docx")
        if not os.path.exists(target):
            raise CorruptDocument("corrupt DOC: LibreOffice could not convert it")
        with open(target, "rb") as handle:
            return handle.read()


def extract_doc(data: bytes, limits: Limits, *, suffix: str = ".doc") -> Document:
    document = extract_docx(convert_to_docx(data, suffix, limits), limits)
    document.format = suffix.lstrip(".")
    return document
