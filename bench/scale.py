"""Workers on the job queue: how the work scales with worker processes (PostgreSQL from
NIANBAO_TEST_POSTGRES_URL, a fresh database per measurement).

    NIANBAO_TEST_POSTGRES_URL=postgresql+psycopg://nianbao:nianbao@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/scale.py [--scans 6] [--fake-jobs 60] [--sites 8] [--skip-crawl]

- parse throughput (CPU-bound) with 1 and 2 worker processes: text PDFs (one thread per parse) and scans (OCR,
  whose pages are read by up to min(CPUs, 4) tesseract processes at once, so one worker already uses 2 cores);
- fake I/O-bound jobs (0.2 s sleeps) with 1, 2 and 4 worker processes;
- a sandbox crawl (every platform and format) with 1 and 3 workers (`nianbao worker`, all queues);
- queue latency, deferred → started, with an idle worker (LISTEN/NOTIFY).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

FAKE_SECONDS = 0.2


@contextmanager
def fresh_database() -> Iterator[str]:
    admin = os.environ.get("NIANBAO_TEST_POSTGRES_URL")
    if not admin:
        raise SystemExit("set NIANBAO_TEST_POSTGRES_URL (a PostgreSQL role that may create databases)")
    name = f"nianbao_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    from storage import make_engine, upgrade

    upgrade(make_engine(url))
    try:
        yield url
    finally:
        for attempt in range(5):  # a backend of another role (autovacuum) may hold it a moment
            try:
                with engine.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                break
            except Exception as exc:
                if attempt == 4:
                    print(f"(could not drop {name}: {exc})", file=sys.stderr)
                time.sleep(2)
        engine.dispose()


def span(url: str, task: str) -> tuple[float, int]:
    """Seconds from the first start to the last success of `task`'s jobs, and how many succeeded."""
    engine = create_engine(url)
    with engine.connect() as connection:
        first, last, done = connection.execute(text(
            "SELECT min(e.at) FILTER (WHERE e.type = 'started'), max(e.at) FILTER (WHERE e.type = 'succeeded'), "
            "count(*) FILTER (WHERE e.type = 'succeeded') FROM procrastinate_events e "
            "JOIN procrastinate_jobs j ON j.id = e.job_id WHERE j.task_name = :task"), {"task": task}).one()
    engine.dispose()
    return (last - first).total_seconds(), int(done)


def run_until_drained(commands: list[list[str]], env: dict[str, str]) -> float:
    began = time.monotonic()
    processes = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in commands]
    for process in processes:
        process.wait()
    return time.monotonic() - began


# ---------------------------------------------------------------------- parse throughput
def parse_worker() -> None:
    from monitor.config import Settings
    from workers.app import build_app

    build_app(Settings.from_env()).run_worker(queues=["parse"], concurrency=1, wait=False,
                                              install_signal_handlers=False)


def bench_parse(count: int, workers: int, kind: str) -> None:
    from monitor.config import Settings
    from sandbox.reportgen import generate, render_pdf, render_scan
    from storage.archive import Archive
    from workers.app import PARSE_TASK, build_app

    def render(seed: int) -> bytes:
        spec = generate(random.Random(seed), agency=f"某县某局{seed}")
        return render_scan(spec, random.Random(seed)) if kind == "scans" else render_pdf(spec)

    files = [render(seed) for seed in range(count)]
    with fresh_database() as url, tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, NIANBAO_DATABASE_URL=url, NIANBAO_DATA_DIR=data)
        settings = Settings.from_env(env)
        archive = Archive(Path(data) / "archive")
        with build_app(settings).open() as app:
            for index, body in enumerate(files):
                digest, relative = archive.put(body)
                app.configure_task(PARSE_TASK, queue="parse").defer(sha256=digest, relative=relative, origin={
                    "agency": f"某县某局{index}", "url": f"https://gov.example/{index}.pdf",
                    "seen_at": datetime.now(UTC).isoformat(), "content_type": "application/pdf"})
        run_until_drained([[sys.executable, __file__, "--parse-worker"]] * workers, env)
        seconds, done = span(url, PARSE_TASK)
    print(f"parse ({kind}): {workers} worker(s): {done} {kind} in {seconds:.1f} s = "
          f"{done / seconds * 60:.1f} {kind}/min")


# ---------------------------------------------------------------------- fake I/O jobs and latency
def fake_app(url: str):  # type: ignore[no-untyped-def]
    from procrastinate import App, PsycopgConnector

    from workers.app import conninfo

    app = App(connector=PsycopgConnector(conninfo=conninfo(url), min_size=1, max_size=3))

    @app.task(name="bench.sleep", queue="bench")
    def sleep() -> None:
        time.sleep(FAKE_SECONDS)

    return app, sleep


def fake_worker(url: str, wait: bool) -> None:
    app, _ = fake_app(url)
    app.run_worker(queues=["bench"], concurrency=1, wait=wait, install_signal_handlers=not wait,
                   fetch_job_polling_interval=1.0)


def bench_fake(jobs: int, workers: int) -> None:
    with fresh_database() as url:
        app, sleep = fake_app(url)
        with app.open():
            for _ in range(jobs):
                sleep.defer()
        run_until_drained([[sys.executable, __file__, "--fake-worker", url]] * workers, dict(os.environ))
        seconds, done = span(url, "bench.sleep")
    print(f"I/O-bound fake jobs ({FAKE_SECONDS} s each): {workers} worker(s): {done} jobs in {seconds:.1f} s = "
          f"{done / seconds:.1f} jobs/s")


def bench_latency(samples: int) -> None:
    with fresh_database() as url:
        worker = subprocess.Popen([sys.executable, __file__, "--fake-worker", url, "--wait"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(4)  # started and listening
            app, sleep = fake_app(url)
            with app.open():
                for _ in range(samples):
                    sleep.defer()
                    time.sleep(FAKE_SECONDS + 0.3)
            time.sleep(2)
        finally:
            worker.terminate()
            worker.wait(30)
        engine = create_engine(url)
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT extract(epoch FROM s.at - d.at) FROM procrastinate_events d JOIN procrastinate_events s "
                "ON s.job_id = d.job_id AND s.type = 'started' WHERE d.type = 'deferred'")).scalars().all()
        engine.dispose()
    latencies = sorted(float(r) * 1000 for r in rows)
    print(f"queue latency deferred → started (idle worker, LISTEN/NOTIFY): "
          f"median {statistics.median(latencies):.0f} ms, max {latencies[-1]:.0f} ms over {len(latencies)} jobs")


# ---------------------------------------------------------------------- a sandbox crawl
def bench_crawl(sites: int, workers: int) -> None:
    from sandbox.sites.server import serve
    from sandbox.sites.world import build_world

    world = build_world(sites, 11, datetime(2026, 1, 31, 6, tzinfo=UTC), years=1)
    sandbox = serve(world)
    try:
        with fresh_database() as url, tempfile.TemporaryDirectory() as data:
            env = dict(os.environ, NIANBAO_DATABASE_URL=url, NIANBAO_DATA_DIR=data,
                       NIANBAO_SITES=f"{sandbox.base_url}/__sandbox__/sites.yaml",
                       NIANBAO_CLOCK_URL=f"{sandbox.base_url}/__sandbox__/clock", NIANBAO_ALLOWED_HOSTS="127.0.0.1",
                       NIANBAO_SLOT_PER_SITE="1", NIANBAO_TICK="1", NIANBAO_WORKER_HEARTBEAT="2",
                       NIANBAO_POLL_GROUPS=str(max(3, workers)), NIANBAO_POLL_INTERVAL="86400",
                       NIANBAO_POLL_INTERVAL_OFFSEASON="86400")
            began = time.monotonic()
            processes = [subprocess.Popen([sys.executable, "-m", "monitor.cli", "worker", "--concurrency", "1"],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                         for _ in range(workers)]
            engine = create_engine(url)
            try:
                while time.monotonic() - began < 900:
                    time.sleep(1)
                    with engine.connect() as connection:
                        polled, busy = connection.execute(text(
                            "SELECT (SELECT count(*) FROM sites WHERE last_poll_at IS NOT NULL), (SELECT count(*) "
                            "FROM procrastinate_jobs WHERE status IN ('todo', 'doing') AND task_name IN "
                            "('nianbao.poll_sites', 'nianbao.parse_document'))")).one()
                    if polled == sites and busy == 0:
                        break
                seconds = time.monotonic() - began
                with engine.connect() as connection:
                    reports = connection.execute(text("SELECT count(*) FROM reports")).scalar()
            finally:
                for process in processes:
                    process.terminate()
                for process in processes:
                    try:
                        process.wait(60)
                    except subprocess.TimeoutExpired:
                        process.kill()
                engine.dispose()
    finally:
        sandbox.shutdown()
    print(f"sandbox crawl, {sites} sites: {workers} worker(s): {reports} reports stored in {seconds:.1f} s "
          "(from the workers' start)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scans", type=int, default=6)
    parser.add_argument("--pdfs", type=int, default=16, help="text PDFs (CPU-bound, one thread per parse)")
    parser.add_argument("--only-parse", action="store_true")
    parser.add_argument("--fake-jobs", type=int, default=60)
    parser.add_argument("--sites", type=int, default=8)
    parser.add_argument("--skip-crawl", action="store_true")
    parser.add_argument("--parse-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fake-worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--wait", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.parse_worker:
        return parse_worker()
    if args.fake_worker:
        return fake_worker(args.fake_worker, args.wait)
    print(f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}")
    if not args.only_parse:
        bench_latency(20)
        for workers in (1, 2, 4):
            bench_fake(args.fake_jobs, workers)
    for workers in (1, 2):
        bench_parse(args.pdfs, workers, "pdfs")
    for workers in (1, 2):
        bench_parse(args.scans, workers, "scans")
    if not args.skip_crawl and not args.only_parse:
        for workers in (1, 3):
            bench_crawl(args.sites, workers)
    return None


if __name__ == "__main__":
    main()
