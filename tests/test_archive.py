"""The archive: durable writes (directory fsync after the rename), damage found on read, on write and by
`nianbao db check`, repair from fresh bytes, downloads of a damaged file answered without a 500; the same
interface on an S3-compatible store (moto's standalone server on 127.0.0.1)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from sandbox.reportgen import generate, render_html
from storage import Origin, ingest, make_engine, session_factory, upgrade
from storage.archive import (
    Archive,
    ArchiveDamaged,
    ArchiveMissing,
    S3Archive,
    open_archive,
    sha256,
)
from storage.archive_check import check_archive, last_check_lines
from storage.models import DocumentVersion, HttpValidator

T0 = datetime(2026, 2, 10, 8, tzinfo=UTC)
BUCKET = "nianbao-archive"


def _report(seed: int = 1) -> bytes:
    return render_html(generate(random.Random(seed), agency="洪泽区某局"))


def _damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("compress", [False, True])
def test_put_is_durable_and_verified_on_read(tmp_path: Path, compress: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    archive = Archive(tmp_path / "archive", compress)
    data = _report()
    digest, relative = archive.put(data)
    target = archive.root / relative
    # the referenced file exists with the right bytes, and it, its directory and the new directories are synced
    assert digest == sha256(data) and target.is_file()
    assert archive.get(relative) == data
    assert str(target.parent) in synced and str(target.parent.parent) in synced and str(archive.root) in synced
    assert synced.index(str(target.parent)) > max(i for i, p in enumerate(synced) if ".incoming-" in p)
    assert not list(archive.root.rglob(".incoming-*"))

    _damage(target)
    with pytest.raises(ArchiveDamaged):
        archive.get(relative)
    assert archive.verify(relative) is not None
    # the same bytes again: the damaged file is rewritten, not trusted
    assert archive.put(data) == (digest, relative)
    assert archive.get(relative) == data
    target.unlink()
    with pytest.raises(ArchiveMissing):
        archive.get(relative)


def test_reingest_repairs_db_check_reports_and_download_is_not_500(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from dashboard.app import create_app

    engine = make_engine(f"sqlite:///{tmp_path / 'nianbao.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    archive = Archive(tmp_path / "archive")
    data = _report(3)
    url = "https://gov.example/hz/2025.htm"
    origin = Origin(agency="洪泽区某局", url=url, seen_at=T0)
    first = ingest(sessions, archive, data, origin)
    with sessions() as session, session.begin():
        session.add(HttpValidator(url=url, etag='"v1"', last_modified=None, sha256=None, checked_at=T0))
        relative = session.scalars(select(DocumentVersion.archive_path)).one()
    assert check_archive(sessions, archive).ok
    _damage(archive.root / relative)

    report = check_archive(sessions, archive)
    assert [(p.problem, p.url) for p in report.problems] == [("damaged", url)]
    with sessions() as session:
        assert session.scalar(select(HttpValidator).where(HttpValidator.url == url)) is None  # fetched in full next
        lines = last_check_lines(session)
    assert "DAMAGED" in lines[0] and url in lines[1]

    client = TestClient(create_app(sessions, archive, clock=lambda: T0, admin_password=None, secret_key="s"))
    answer = client.get(f"/files/{first.version_id}")
    assert answer.status_code == 503 and "损坏" in answer.text

    again = ingest(sessions, archive, data, Origin(agency="洪泽区某局", url=url, seen_at=T0))
    assert not again.created and again.version_id == first.version_id  # no new version pointing at bad bytes
    assert archive.get(relative) == data
    assert check_archive(sessions, archive).ok
    answer = client.get(f"/files/{first.version_id}")
    assert answer.status_code == 200 and answer.content == data


def test_db_check_command(tmp_path: Path) -> None:
    env = dict(os.environ, NIANBAO_DATA_DIR=str(tmp_path))
    source = tmp_path / "report.htm"
    source.write_bytes(_report(5))
    run = [sys.executable, "-m", "monitor.cli"]
    subprocess.run([*run, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([*run, "ingest", str(source), "--agency", "洪泽区某局"], env=env, check=True, capture_output=True)
    clean = subprocess.run([*run, "db", "check"], env=env, capture_output=True, text=True)
    assert clean.returncode == 0 and "1 file(s) checked, 0 damaged" in clean.stdout, clean.stdout + clean.stderr
    stored = next(p for p in (tmp_path / "archive").rglob("*") if p.is_file())
    _damage(stored)
    damaged = subprocess.run([*run, "db", "check"], env=env, capture_output=True, text=True)
    assert damaged.returncode != 0 and "damaged: version 1" in damaged.stdout, damaged.stdout + damaged.stderr
    status = subprocess.run([*run, "status"], env=env, capture_output=True, text=True)
    assert "1 of 1 file(s) DAMAGED" in status.stdout, status.stdout + status.stderr


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    pytest.importorskip("moto", reason="moto[server] is a dev dependency (pip install -e '.[dev]')")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()


def _s3_env(endpoint: str, prefix: str) -> dict[str, str]:
    return {"NIANBAO_ARCHIVE": f"s3://{BUCKET}/{prefix}", "NIANBAO_S3_ENDPOINT": endpoint,
            "NIANBAO_S3_REGION": "us-east-1", "NIANBAO_S3_ACCESS_KEY": "test", "NIANBAO_S3_SECRET_KEY": "test"}


@pytest.mark.parametrize("compress", [False, True])
def test_s3_archive_round_trip_damage_and_repair(s3_endpoint: str, tmp_path: Path, compress: bool) -> None:
    archive = open_archive(_s3_env(s3_endpoint, f"t{int(compress)}/"), default_root=tmp_path, compress=compress)
    assert isinstance(archive, S3Archive) and archive.describe().startswith(f"s3://{BUCKET}/t{int(compress)}/")
    data = _report(7)
    digest, relative = archive.put(data)
    assert digest == sha256(data) and archive.get(relative) == data
    assert archive.put(data) == (digest, relative)  # already there, checksum as expected: not written again
    assert list(archive.paths()) == [relative]
    key = f"t{int(compress)}/{relative}"
    archive.client.put_object(Bucket=BUCKET, Key=key, Body=b"not the report")  # overwritten behind our back
    with pytest.raises(ArchiveDamaged):
        archive.get(relative)
    archive.put(data)  # fresh bytes repair it
    assert archive.get(relative) == data
    archive.client.delete_object(Bucket=BUCKET, Key=key)
    with pytest.raises(ArchiveMissing):
        archive.get(relative)


def test_ingest_and_check_on_s3(s3_endpoint: str, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nianbao.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    archive = open_archive(_s3_env(s3_endpoint, "ingest"), default_root=tmp_path)
    result = ingest(sessions, archive, _report(9), Origin(agency="洪泽区某局", url="https://gov.example/a.htm",
                                                          seen_at=T0))
    assert result.created and result.report_id is not None
    assert check_archive(sessions, archive).ok and check_archive(sessions, archive).checked == 1
    assert not (tmp_path / "archive").exists()  # nothing written locally
    with sessions() as session:
        relative = session.scalars(select(DocumentVersion.archive_path)).one()
    assert isinstance(archive, S3Archive)
    archive.client.put_object(Bucket=BUCKET, Key=f"ingest/{relative}", Body=b"junk")
    assert [p.problem for p in check_archive(sessions, archive).problems] == ["damaged"]
