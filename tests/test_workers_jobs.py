"""The workers' small parts on a real PostgreSQL: a periodic job runs once per period (and a lagging worker's
older period not at all), the same job may run again after its worker died; sites keep their poll group;
schedules as cron; the queue names a worker accepts; PostgreSQL is required."""

from __future__ import annotations

from pathlib import Path

import pytest
from storage_fixtures import database_url  # noqa: F401  (the fixture)

from monitor.config import Settings
from storage import make_engine, upgrade


def test_schedules_groups_and_queues() -> None:
    from workers.app import conninfo, every
    from workers.run import parse_queues
    from workers.tasks import poll_group

    assert every(1) == "*/1 * * * * *" and every(30) == "*/30 * * * * *" and every(600) == "*/10 * * * *"
    assert every(3600) == "0 */1 * * *" and every(86400) == "0 3 * * *"
    assert [poll_group(f"site{i:04d}", 16) for i in range(50)] == [poll_group(f"site{i:04d}", 16) for i in range(50)]
    assert len({poll_group(f"site{i:04d}", 16) for i in range(200)}) == 16
    assert parse_queues(None) == ["poll", "parse", "alerts", "maintenance"]
    assert parse_queues("parse, alerts") == ["parse", "alerts"]
    with pytest.raises(SystemExit, match="unknown queue"):
        parse_queues("parse,ocr")
    with pytest.raises(SystemExit, match="need PostgreSQL"):
        conninfo("sqlite:///x.db")
    assert conninfo("postgresql+psycopg://u:p@h:5/d") == "postgresql://u:p@h:5/d"


def test_a_period_is_claimed_once(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    if not database_url.startswith("postgresql"):
        pytest.skip("the job queue is PostgreSQL-only")
    from sqlalchemy import inspect

    from workers import tasks

    upgrade(make_engine(database_url))
    assert inspect(make_engine(database_url)).has_table("procrastinate_jobs")  # migration 0007
    settings = Settings.from_env({"NIANBAO_DATABASE_URL": database_url, "NIANBAO_DATA_DIR": str(tmp_path)})
    monkeypatch.setattr(tasks, "_runtime", tasks.build_runtime(settings))
    assert tasks.claim_period("dispatch", 1000, job_id=1)
    assert not tasks.claim_period("dispatch", 1000, job_id=2)  # another job for the same period
    assert tasks.claim_period("dispatch", 1000, job_id=1)  # the same job again (its worker died)
    assert tasks.claim_period("dispatch", 1010, job_id=3)
    assert not tasks.claim_period("dispatch", 1000, job_id=4)  # a lagging worker's older period
    assert tasks.claim_period("sweep", 1000, job_id=5)  # periods are per task
    tasks.runtime().engine.dispose()


def test_a_group_polled_elsewhere_is_not_polled_again(database_url: str, tmp_path: Path,  # noqa: F811
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Even when its job was (wrongly) declared stalled and run again: the group's session lock is held."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the job queue is PostgreSQL-only")
    import hashlib

    from sqlalchemy import text

    from workers import tasks

    engine = make_engine(database_url)
    upgrade(engine)
    settings = Settings.from_env({"NIANBAO_DATABASE_URL": database_url, "NIANBAO_DATA_DIR": str(tmp_path),
                                  "NIANBAO_SITES": str(tmp_path / "sites.yaml")})
    monkeypatch.setattr(tasks, "_runtime", tasks.build_runtime(settings))
    key = int(hashlib.sha256(b"nianbao-poll-group:3").hexdigest()[:15], 16)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as holder:
        assert holder.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
        with pytest.raises(tasks.GroupBusy):
            tasks.poll_sites(3, ["site0001"])
    tasks.runtime().engine.dispose()
    engine.dispose()
