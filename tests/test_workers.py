"""Workers on the job queue (procrastinate on PostgreSQL, archive on moto's S3 server) against the sandbox.

One run of the single process (`nianbao crawl --once` on SQLite, local archive) and one run of three
`nianbao worker` processes (the planner runs inside them) crawl the same sandbox world; during the workers' run
one worker is killed with SIGKILL while it OCRs a scan and another while its crawl child runs. The tests
compare the two runs and read the job tables: same reports, findings, events and alerts, each exactly once;
nothing stuck; every S3 object verifies; one periodic job per period; never two polls of a site at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url

from notifier.subscriptions import subscribe
from sandbox.sites.server import serve
from sandbox.sites.world import build_world
from storage import make_engine, session_factory, upgrade
from storage.archive import open_archive
from storage.models import Delivery, Document, DocumentVersion, Event, FindingRow, MonitorState, Report

pytestmark = pytest.mark.slow

NOW = datetime(2026, 1, 31, 6, 0, tzinfo=UTC)  # the reports of 2025 are being published
SITES = 12
WORKERS = 3
BUCKET = "nianbao-workers"
RUN_TIMEOUT = 240.0


class Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append(json.loads(body or b"{}"))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Outcome:
    sessions: Any
    engine: Engine | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    killed: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    log: str = ""
    status: str = ""


def _postgres() -> str:
    admin = os.environ.get("NIANBAO_TEST_POSTGRES_URL")
    if not admin:
        pytest.skip("NIANBAO_TEST_POSTGRES_URL is not set: the workers need PostgreSQL (scripts/test.sh sets it)")
    name = f"nianbao_workers_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL at {make_url(admin).render_as_string()} is not reachable: {exc}")
    finally:
        engine.dispose()
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


def _drop(url: str) -> None:
    admin = os.environ["NIANBAO_TEST_POSTGRES_URL"]
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def _children(pid: int) -> list[int]:
    """Children of every thread of `pid` (jobs run in threads; each lists the children it started)."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children") as handle:
                found += [int(p) for p in handle.read().split()]
        except OSError:
            pass
    return found


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _subscribe(sessions: Any, hook: str) -> None:
    with sessions() as session, session.begin():
        subscribe(session, channel="webhook", address=hook, kinds=None, now=NOW)


def _hook_server() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    server.received = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Outcome, Outcome]]:
    database = _postgres()
    from moto.server import ThreadedMotoServer

    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    s3_host, s3_port = s3.get_host_and_port()
    world = build_world(SITES, 11, NOW, years=1)
    for site in world.sites.values():
        # flaky500's answers depend on request order, which differs between two runs; slow only costs time
        if site.failure in ("flaky500", "slow"):
            site.failure = "none"
    sandbox = serve(world)
    hook = _hook_server()
    base_env = dict(os.environ)
    base_env.update({
        "NIANBAO_SITES": f"{sandbox.base_url}/__sandbox__/sites.yaml",
        "NIANBAO_CLOCK_URL": f"{sandbox.base_url}/__sandbox__/clock",
        "NIANBAO_ALLOWED_HOSTS": "127.0.0.1", "NIANBAO_SLOT_PER_SITE": "1", "NIANBAO_REVISIT_HOURS": "1000",
        "NIANBAO_POLL_INTERVAL": "86400", "NIANBAO_POLL_INTERVAL_OFFSEASON": "86400",
    })
    processes: list[subprocess.Popen[bytes]] = []
    address = f"json://127.0.0.1:{hook.server_address[1]}/hook"
    try:
        # the single process
        single_dir = tmp_path_factory.mktemp("single")
        single_url = f"sqlite:///{single_dir / 'nianbao.db'}"
        engine = make_engine(single_url)
        upgrade(engine)
        single = Outcome(session_factory(engine), engine)
        _subscribe(single.sessions, address)
        single.env = dict(base_env, NIANBAO_DATA_DIR=str(single_dir), NIANBAO_DATABASE_URL=single_url)
        began = time.monotonic()
        crawl = subprocess.run([sys.executable, "-m", "monitor.cli", "crawl", "--once", "--slot-per-site"],
                               env=single.env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        single.seconds = time.monotonic() - began
        assert f"crawl: {SITES}/{SITES} sites" in crawl.stdout, crawl.stdout + crawl.stderr[-3000:]

        # the workers
        workers_dir = tmp_path_factory.mktemp("workers")
        engine = make_engine(database)
        upgrade(engine)
        many = Outcome(session_factory(engine), engine)
        _subscribe(many.sessions, address)
        import boto3

        boto3.client("s3", endpoint_url=f"http://{s3_host}:{s3_port}", region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test").create_bucket(Bucket=BUCKET)
        many.env = dict(base_env, NIANBAO_DATA_DIR=str(workers_dir), NIANBAO_DATABASE_URL=database,
                        NIANBAO_ARCHIVE=f"s3://{BUCKET}/archive", NIANBAO_S3_ENDPOINT=f"http://{s3_host}:{s3_port}",
                        NIANBAO_S3_REGION="us-east-1", NIANBAO_S3_ACCESS_KEY="test", NIANBAO_S3_SECRET_KEY="test",
                        NIANBAO_TICK="1", NIANBAO_WORKER_HEARTBEAT="2", NIANBAO_POLL_GROUPS="3",
                        NIANBAO_DISPATCH_INTERVAL="1")
        hook.received.clear()  # type: ignore[attr-defined]
        many.received = hook.received  # type: ignore[attr-defined]
        logs: list[Path] = []

        def start_worker() -> subprocess.Popen[bytes]:
            logs.append(workers_dir / f"worker-{len(logs)}.log")
            with open(logs[-1], "wb") as out:
                process = subprocess.Popen([sys.executable, "-m", "monitor.cli", "worker", "--concurrency", "1"],
                                           env=many.env, stdout=out, stderr=subprocess.STDOUT)
            processes.append(process)
            return process

        began = time.monotonic()
        for _ in range(WORKERS):
            start_worker()
        deadline = began + RUN_TIMEOUT
        while time.monotonic() < deadline:
            alive = [p for p in processes if p.poll() is None]
            for process in alive:
                tree = _descendants(process.pid)
                if "scan" not in many.killed and any("tesseract" in _command(p) for p in tree):
                    process.send_signal(signal.SIGKILL)
                    many.killed["scan"] = process.pid
                    break
                if ("crawl" not in many.killed and many.killed.get("scan") != process.pid
                        and any("monitor.cli crawl --once" in _command(p) for p in tree)
                        and time.monotonic() - began > 8):
                    process.send_signal(signal.SIGKILL)
                    many.killed["crawl"] = process.pid
                    break
            if len(many.killed) == 2 and sum(p.poll() is None for p in processes) < WORKERS:
                start_worker()  # back to three: the killed ones' jobs are run again by the others
            if many.killed and _settled(many) and len(many.received) >= _count(many.sessions, Delivery):
                break
            time.sleep(0.1)
        many.seconds = time.monotonic() - began
        print(f"single process {single.seconds:.1f} s; {WORKERS} workers (2 killed) {many.seconds:.1f} s")
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:  # a job still running (a crawl pass): it would be run again
                process.kill()
                process.wait(10)
        many.log = "\n".join(p.read_text(errors="replace")[-3000:] for p in logs)
        many.status = subprocess.run([sys.executable, "-m", "monitor.cli", "status"], env=many.env,
                                     capture_output=True, text=True, timeout=60).stdout
        yield single, many
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        sandbox.shutdown()
        hook.shutdown()
        s3.stop()
        _drop(database)


def _count(sessions: Any, model: Any) -> int:
    from sqlalchemy import func

    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _settled(outcome: Outcome) -> bool:
    """Every site polled, no job waiting or running (but the periodic ones), every delivery sent."""
    with outcome.sessions() as session:
        unpolled = session.execute(text("SELECT count(*) FROM sites WHERE last_poll_at IS NULL")).scalar()
        sites = session.execute(text("SELECT count(*) FROM sites")).scalar()
        busy = session.execute(text(
            "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
            "AND task_name IN ('nianbao.poll_sites', 'nianbao.parse_document')")).scalar()
        pending = session.execute(text("SELECT count(*) FROM deliveries WHERE status <> 'sent'")).scalar()
    return sites == SITES and unpolled == 0 and busy == 0 and pending == 0


def _reports(outcome: Outcome) -> Counter[tuple[Any, ...]]:
    with outcome.sessions() as session:
        rows = session.execute(select(Document.url, DocumentVersion.sha256, Report.year, Report.template,
                                      Report.error).join(DocumentVersion, DocumentVersion.document_id == Document.id)
                               .join(Report, Report.version_id == DocumentVersion.id)).all()
    return Counter(tuple(row) for row in rows)


def _findings(outcome: Outcome) -> Counter[tuple[Any, ...]]:
    with outcome.sessions() as session:
        rows = session.execute(select(Document.url, FindingRow.rule, FindingRow.fingerprint, FindingRow.severity)
                               .join(Report, FindingRow.report_id == Report.id)
                               .join(DocumentVersion, Report.version_id == DocumentVersion.id)
                               .join(Document, DocumentVersion.document_id == Document.id)).all()
    return Counter(tuple(row) for row in rows)


def _event_key(event: Event) -> tuple[Any, ...]:
    payload = event.payload or {}
    return (event.kind, payload.get("agency"), payload.get("url"), payload.get("fingerprint"), payload.get("site"))


def _events(outcome: Outcome) -> Counter[tuple[Any, ...]]:
    with outcome.sessions() as session:
        return Counter(_event_key(e) for e in session.scalars(select(Event)))


def _alerts(outcome: Outcome) -> Counter[tuple[Any, ...]]:
    with outcome.sessions() as session:
        return Counter(_event_key(e) for e in session.scalars(select(Event).join(Delivery)))


def test_workers_store_what_the_single_process_stores_each_once(runs: tuple[Outcome, Outcome]) -> None:
    single, many = runs
    assert _settled(many), many.log[-6000:]
    reports = _reports(single)
    assert sum(1 for r in reports if r[2] is not None) >= 4  # the world's published reports, read
    assert _reports(many) == reports, (_reports(many) - reports, reports - _reports(many))
    assert _findings(many) == _findings(single) and _findings(single), (_findings(many) - _findings(single),
                                                                        _findings(single) - _findings(many))
    assert _events(many) == _events(single), (_events(many) - _events(single), _events(single) - _events(many))
    assert all(n == 1 for n in _events(many).values()) and all(n == 1 for n in _reports(many).values())
    assert _alerts(many) == _alerts(single) and _alerts(single)


def test_a_killed_worker_loses_nothing_and_doubles_nothing(runs: tuple[Outcome, Outcome]) -> None:
    _, many = runs
    assert set(many.killed) == {"scan", "crawl"}, many.log
    with many.sessions() as session:
        stuck = session.execute(text("SELECT task_name, status, count(*) FROM procrastinate_jobs "
                                     "WHERE status IN ('todo', 'doing', 'failed') AND task_name IN "
                                     "('nianbao.poll_sites', 'nianbao.parse_document') GROUP BY 1, 2")).all()
        reruns = session.execute(text(
            "SELECT j.task_name, count(*) FROM procrastinate_events e JOIN procrastinate_jobs j ON j.id = e.job_id "
            "WHERE e.type IN ('deferred_for_retry', 'aborted') GROUP BY 1")).all()
    assert stuck == [], stuck
    rerun = dict(reruns)
    # the killed workers' jobs were found through their stale heartbeats and run again (a poll's by its twin
    # waiting with the same queueing lock, which re-reads the sites still due)
    assert rerun.get("nianbao.parse_document", 0) >= 1 and rerun.get("nianbao.poll_sites", 0) >= 1, reruns
    # every alert reached the hook exactly once
    texts = [json.dumps(m, sort_keys=True, ensure_ascii=False) for m in many.received]
    assert len(texts) == len(set(texts)) == _count(many.sessions, Delivery), many.log
    # every archived original is in the bucket and verifies
    archive = open_archive(many.env, default_root=Path("/nonexistent"))
    with many.sessions() as session:
        paths = list(session.scalars(select(DocumentVersion.archive_path)))
    assert paths and all(archive.verify(p) is None for p in paths)
    assert set(archive.paths()) == set(paths)


def test_periodic_jobs_once_per_period_and_no_site_polled_twice_at_once(runs: tuple[Outcome, Outcome]) -> None:
    _, many = runs
    with many.sessions() as session:
        per_period = session.execute(text(
            "SELECT task_name, args->>'timestamp', count(*) FROM procrastinate_jobs WHERE args ? 'timestamp' "
            "GROUP BY 1, 2 HAVING count(*) > 1")).all()
        plans = session.execute(text(
            "SELECT count(DISTINCT args->>'timestamp') FROM procrastinate_jobs "
            "WHERE task_name = 'nianbao.plan_polls'")).scalar()
        polls = session.execute(text(
            "SELECT j.lock, e.type, e.at FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id "
            "WHERE j.task_name = 'nianbao.poll_sites' AND e.type IN ('started', 'succeeded', 'failed', "
            "'deferred_for_retry', 'aborted') ORDER BY e.at, e.id")).all()
        history = {row.name.removeprefix("periodic:"): row.value.get("history", []) for row in session.scalars(
            select(MonitorState).where(MonitorState.name.like("periodic:%")))}
    # procrastinate deferred a period twice only where a lagging worker came back to an older period ...
    assert len(per_period) <= plans * 0.2, per_period
    # ... and then only one of the two jobs ran it
    for name, runs_ in history.items():
        periods = [timestamp for timestamp, _ in runs_]
        assert len(periods) == len(set(periods)), (name, runs_)
    # a plan per period (NIANBAO_TICK=1) at most; fewer while every worker is busy crawling or parsing
    assert len(history["plan_polls"]) >= 10
    running: Counter[str] = Counter()
    for lock, kind, _ in polls:
        if kind == "started":
            running[lock] += 1
            assert running[lock] == 1, f"two polls of group {lock} at once"
        else:
            running[lock] = max(0, running[lock] - 1)


def test_status_shows_workers_and_queues(runs: tuple[Outcome, Outcome]) -> None:
    _, many = runs
    assert "workers: 0 alive, 5 stopped or silent" in many.status, many.status  # 3 stopped, 2 killed
    assert "queues poll,parse,alerts,maintenance ×1" in many.status
    assert "job queue: " in many.status and "stalled jobs: 0; failed jobs: none" in many.status, many.status
