"""Databases for the storage tests: a fresh SQLite file, and a fresh database on the PostgreSQL server named
by NIANBAO_TEST_POSTGRES_URL (scripts/test.sh starts one and sets it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def postgres_admin_url() -> str | None:
    return os.environ.get("NIANBAO_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nianbao.db'}"
        return
    admin = postgres_admin_url()
    if not admin:
        pytest.skip("NIANBAO_TEST_POSTGRES_URL is not set (scripts/test.sh starts a local PostgreSQL and sets it)")
    name = f"nianbao_test_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server is not there: say so instead of failing every test
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL at {make_url(admin).render_as_string()} is not reachable: {exc}")
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
