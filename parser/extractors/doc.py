"""Legacy Word (DOC) and RTF: converted to DOCX by LibreOffice, then read as DOCX."""

from __future__ import annotations

import os
import shutil
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


def convert_to_docx(data: bytes, suffix: str, limits: Limits) -> bytes:
    with tempfile.TemporaryDirectory(prefix="nianbao-doc-") as tmp:
        source = os.path.join(tmp, f"input{suffix}")
        with open(source, "wb") as handle:
            handle.write(data)
        profile = os.path.join(tmp, "profile")
        command = [_soffice(), f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
                   "--convert-to", "docx:MS Word 2007 XML", "--outdir", tmp, source]
        try:
            subprocess.run(command, capture_output=True, timeout=limits.seconds, check=False,
                           env={**os.environ, "HOME": tmp})
        except subprocess.TimeoutExpired as exc:
            raise ParseTimeout(f"DOC conversion took longer than {limits.seconds:.0f} s") from exc
        target = os.path.join(tmp, "input.docx")
        if not os.path.exists(target):
            raise CorruptDocument("corrupt DOC: LibreOffice could not convert it")
        with open(target, "rb") as handle:
            return handle.read()


def extract_doc(data: bytes, limits: Limits, *, suffix: str = ".doc") -> Document:
    document = extract_docx(convert_to_docx(data, suffix, limits), limits)
    document.format = suffix.lstrip(".")
    return document
