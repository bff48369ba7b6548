"""The content-addressed archive of original files: `<root>/ab/cd/<sha256>[.gz]`, written atomically,
never overwritten. The original bytes are the evidence when an agency edits or deletes a report."""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Archive:
    root: Path
    compress: bool = False

    def relative_path(self, digest: str) -> str:
        return f"{digest[:2]}/{digest[2:4]}/{digest}" + (".gz" if self.compress else "")

    def put(self, data: bytes) -> tuple[str, str]:
        """Store `data`; returns its sha256 and the path relative to the root. Idempotent."""
        digest = sha256(data)
        relative = self.relative_path(digest)
        target = self.root / relative
        if target.exists():
            return digest, relative
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = gzip.compress(data, mtime=0) if self.compress else data
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)  # atomic; a concurrent writer of the same bytes writes the same file
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return digest, relative

    def get(self, relative: str) -> bytes:
        data = (self.root / relative).read_bytes()
        data = gzip.decompress(data) if relative.endswith(".gz") else data
        if sha256(data) != Path(relative).name.removesuffix(".gz"):
            raise OSError(f"archive file {relative} is damaged (hash mismatch)")
        return data
