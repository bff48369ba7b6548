"""The content-addressed archive of original files: `<root>/ab/cd/<sha256>[.gz]`, written once, verified on
write and on read. The original bytes are the evidence when an agency edits or deletes a report.

Two stores with one interface (`put`, `get`, `verify`, `paths`): a directory (the default, `Archive`) and any
S3-compatible object store (`S3Archive`, through boto3: Ceph RGW, SeaweedFS, cloud object storage), chosen by
`NIANBAO_ARCHIVE` (see `open_archive`).

Durability (local): `put` returns only once the bytes are on disk — the file is fsynced, renamed into place and
its directory (and any directory it created) fsynced — so a path stored in the database never names a file a
power cut can take back. Damage (bytes that no longer hash to their name: a bad disk, a careless hand) is found
by every read (`ArchiveDamaged`), by `nianbao db check`, and by `put`: storing the same bytes again checks the
file already there and rewrites it when it is damaged, instead of trusting it."""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import logging
import os
import tempfile
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("nianbao.archive")

TEMP_PREFIX = ".incoming-"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArchiveDamaged(OSError):
    """The stored bytes of `relative` no longer match their sha256 (or cannot be decompressed)."""

    def __init__(self, relative: str, detail: str = "hash mismatch") -> None:
        super().__init__(f"archive file {relative} is damaged ({detail})")
        self.relative = relative


class ArchiveMissing(FileNotFoundError):
    def __init__(self, relative: str) -> None:
        super().__init__(f"archive file {relative} is missing")
        self.relative = relative


class ArchiveStore(Protocol):
    @property
    def compress(self) -> bool: ...

    def put(self, data: bytes) -> tuple[str, str]: ...

    def get(self, relative: str) -> bytes: ...

    def verify(self, relative: str) -> str | None: ...

    def paths(self) -> Iterator[str]: ...

    def describe(self) -> str: ...

    def remove_stale_temporaries(self, max_age_seconds: float) -> int: ...


def relative_path(digest: str, compress: bool) -> str:
    return f"{digest[:2]}/{digest[2:4]}/{digest}" + (".gz" if compress else "")


def digest_of(relative: str) -> str:
    return Path(relative).name.removesuffix(".gz")


def _payload(data: bytes, compress: bool) -> bytes:
    return gzip.compress(data, mtime=0) if compress else data


def _decode(relative: str, stored: bytes) -> bytes:
    """The original bytes of a stored payload, verified against the name; `ArchiveDamaged` otherwise."""
    if relative.endswith(".gz"):
        try:
            stored = gzip.decompress(stored)
        except (OSError, EOFError, zlib.error) as exc:
            raise ArchiveDamaged(relative, f"not readable as gzip: {exc}") from None
    if sha256(stored) != digest_of(relative):
        raise ArchiveDamaged(relative)
    return stored


def fsync_directory(path: Path) -> None:
    """Make a rename or a new entry in `path` durable (POSIX: the directory's own fsync)."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _make_directories(directory: Path, root: Path) -> None:
    """mkdir -p, fsyncing the parent of every directory created (a new entry is durable only then)."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current == root or current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # a concurrent writer made it: its parent gets fsynced too
            path.mkdir()
        fsync_directory(path.parent)


@dataclass(frozen=True)
class Archive:
    """The archive in a local directory."""

    root: Path
    compress: bool = False

    def relative_path(self, digest: str) -> str:
        return relative_path(digest, self.compress)

    def put(self, data: bytes) -> tuple[str, str]:
        """Store `data` durably; returns its sha256 and the path relative to the root. Idempotent; a damaged
        file already there is replaced by these (fresh) bytes."""
        digest = sha256(data)
        relative = self.relative_path(digest)
        target = self.root / relative
        if target.exists():
            problem = self.verify(relative)
            if problem is None:
                return digest, relative
            log.warning("%s; rewriting it from fresh bytes", problem)
        _make_directories(target.parent, self.root)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(_payload(data, self.compress))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)  # atomic; a concurrent writer of the same bytes writes the same file
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        fsync_directory(target.parent)  # the rename itself must survive a power cut before anyone refers to it
        return digest, relative

    def get(self, relative: str) -> bytes:
        try:
            stored = (self.root / relative).read_bytes()
        except FileNotFoundError:
            raise ArchiveMissing(relative) from None
        return _decode(relative, stored)

    def verify(self, relative: str) -> str | None:
        """None when the file is there and intact, else what is wrong with it."""
        try:
            self.get(relative)
        except (ArchiveDamaged, ArchiveMissing) as exc:
            return str(exc)
        return None

    def paths(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("??/??/*")):
            if not path.name.startswith(TEMP_PREFIX):
                yield path.relative_to(self.root).as_posix()

    def describe(self) -> str:
        return str(self.root)

    def remove_stale_temporaries(self, max_age_seconds: float) -> int:
        """Temp files left by a writer killed mid-write."""
        removed = 0
        if self.root.is_dir():
            for temporary in self.root.rglob(TEMP_PREFIX + "*"):
                try:
                    if time.time() - temporary.stat().st_mtime > max_age_seconds:
                        temporary.unlink()
                        removed += 1
                except OSError:
                    pass
        return removed


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)


class S3Archive:
    """The archive in an S3-compatible bucket: `<prefix>ab/cd/<sha256>[.gz]`. Uploads carry their SHA-256
    checksum, so the store itself refuses bytes damaged on the way; an object already there counts as
    stored only when its recorded checksum is the expected one."""

    def __init__(self, settings: S3Settings, *, compress: bool = False, client: Any = None) -> None:
        self.settings = settings
        self.compress = compress
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3", endpoint_url=self.settings.endpoint_url, region_name=self.settings.region,
                aws_access_key_id=self.settings.access_key, aws_secret_access_key=self.settings.secret_key,
                config=Config(retries={"max_attempts": 5, "mode": "standard"}))
        return self._client

    def _key(self, relative: str) -> str:
        return self.settings.prefix + relative

    def relative_path(self, digest: str) -> str:
        return relative_path(digest, self.compress)

    def put(self, data: bytes) -> tuple[str, str]:
        digest = sha256(data)
        relative = self.relative_path(digest)
        payload = _payload(data, self.compress)
        checksum = base64.b64encode(hashlib.sha256(payload).digest()).decode("ascii")
        stored = self._stored_checksum(relative)
        if stored == checksum or (stored == "" and self.verify(relative) is None):  # "": a store without checksums
            return digest, relative
        if stored is not None:
            log.warning("archive object %s has checksum %s, expected %s; rewriting it from fresh bytes",
                        relative, stored, checksum)
        self.client.put_object(Bucket=self.settings.bucket, Key=self._key(relative), Body=payload,
                               ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum, Metadata={"sha256": digest})
        return digest, relative

    def _stored_checksum(self, relative: str) -> str | None:
        """The object's recorded SHA-256 (base64), "" when it has none, None when there is no object."""
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.settings.bucket, Key=self._key(relative),
                                           ChecksumMode="ENABLED")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return str(head.get("ChecksumSHA256") or "")

    def get(self, relative: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.settings.bucket, Key=self._key(relative))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise ArchiveMissing(relative) from None
            raise
        return _decode(relative, answer["Body"].read())

    def verify(self, relative: str) -> str | None:
        try:
            self.get(relative)
        except (ArchiveDamaged, ArchiveMissing) as exc:
            return str(exc)
        return None

    def paths(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=self.settings.prefix):
            for item in page.get("Contents", []):
                yield str(item["Key"])[len(self.settings.prefix):]

    def describe(self) -> str:
        where = f" at {self.settings.endpoint_url}" if self.settings.endpoint_url else ""
        return f"s3://{self.settings.bucket}/{self.settings.prefix}{where}"

    def remove_stale_temporaries(self, max_age_seconds: float) -> int:
        return 0  # an upload is atomic: there are no temp objects


def parse_location(location: str) -> tuple[str, str] | None:
    """`s3://bucket/prefix` → (bucket, "prefix/"); None for a directory."""
    if not location.startswith("s3://"):
        return None
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"NIANBAO_ARCHIVE={location!r}: expected s3://bucket[/prefix]")
    prefix = prefix.strip("/")
    return bucket, (prefix + "/" if prefix else "")


def open_archive(environment: Mapping[str, str], *, default_root: Path, compress: bool = False) -> ArchiveStore:
    """The archive named by `NIANBAO_ARCHIVE`: a directory (default `default_root`) or `s3://bucket/prefix`,
    with `NIANBAO_S3_ENDPOINT` (for a store other than AWS), `NIANBAO_S3_REGION`, and
    `NIANBAO_S3_ACCESS_KEY` / `NIANBAO_S3_SECRET_KEY` (else boto3's usual credential chain)."""
    location = (environment.get("NIANBAO_ARCHIVE") or "").strip()
    s3 = parse_location(location) if location else None
    if s3 is None:
        return Archive(Path(location).expanduser() if location else default_root, compress)
    bucket, prefix = s3
    return S3Archive(S3Settings(bucket=bucket, prefix=prefix,
                                endpoint_url=environment.get("NIANBAO_S3_ENDPOINT") or None,
                                region=environment.get("NIANBAO_S3_REGION") or None,
                                access_key=environment.get("NIANBAO_S3_ACCESS_KEY") or None,
                                secret_key=environment.get("NIANBAO_S3_SECRET_KEY") or None), compress=compress)


def archive_for(settings: Any) -> ArchiveStore:
    """The archive of a `monitor.config.Settings` (`archive`, `s3_*`; absent ones take their defaults)."""
    secret: Any = getattr(settings, "s3_secret_key", None)
    values = {"NIANBAO_ARCHIVE": getattr(settings, "archive", None),
              "NIANBAO_S3_ENDPOINT": getattr(settings, "s3_endpoint", None),
              "NIANBAO_S3_REGION": getattr(settings, "s3_region", None),
              "NIANBAO_S3_ACCESS_KEY": getattr(settings, "s3_access_key", None),
              "NIANBAO_S3_SECRET_KEY": secret.get_secret_value() if hasattr(secret, "get_secret_value") else secret}
    return open_archive({k: str(v) for k, v in values.items() if v}, default_root=settings.archive_root,
                        compress=settings.archive_compress)
