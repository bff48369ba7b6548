"""Dashboard page times in chromium with many stored reports (the acceptance: every page ≤ 1 s with 10,000).

Fills a fresh SQLite database through the real ingest (archive, checks, events) with N reports — 5 years for
each of N/5 agencies in 12 regions, a quarter with a planted error — then serves it with `nianbao serve` and
loads every kind of page in Debian's chromium (Playwright), printing the median and worst load time of each.

    .venv/bin/python bench/dashboard.py [--reports 10000] [--loads 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from parser import parse  # noqa: E402
from sandbox.reportgen import generate, render_html  # noqa: E402
from sandbox.reportgen.plant import PLANTS  # noqa: E402
from sandbox.sites.world import PLACES  # noqa: E402
from storage import Archive, make_engine, session_factory, upgrade  # noqa: E402
from storage.ingest import Origin, ingest  # noqa: E402
from storage.models import Agency, Report  # noqa: E402

BODIES = ("财政局", "教育局", "卫生健康委员会", "交通运输局", "生态环境局", "人民政府", "市场监督管理局", "司法局")


def fill(database: str, archive: Archive, count: int) -> float:
    engine = make_engine(database)
    upgrade(engine)
    sessions = session_factory(engine)
    rng = random.Random(1)
    templates = []
    for seed in range(40):  # parsed once; each stored report is one of these under another agency and year
        spec = generate(random.Random(seed), year=2023)
        if seed % 4 == 0:
            planted = PLANTS["T3-BALANCE"](spec, random.Random(seed))
            spec = planted.spec if planted else spec
        html = render_html(spec, published="2024-01-20")
        templates.append((html, parse(html)))
    began = time.perf_counter()
    for index in range(count):
        agency_no, year = divmod(index, 5)
        place, region = PLACES[agency_no % len(PLACES)]
        batch = agency_no // (len(PLACES) * len(BODIES))
        agency = f"{place}{BODIES[agency_no // len(PLACES) % len(BODIES)]}{batch or ''}"
        year += 2020
        html, record = templates[rng.randrange(len(templates))]
        record = dataclasses.replace(record, agency=agency, year=year,
                                     title=f"{agency}{year}年政府信息公开工作年度报告")
        published = date(year + 1, 1, 1) + timedelta(days=rng.randint(5, 60))
        ingest(sessions, archive, html + f"<!-- {index} -->".encode(),
               Origin(agency=agency, region=region, url=f"https://gov.example/{agency_no}/{year}.htm",
                      seen_at=datetime(year + 1, 2, 1, tzinfo=UTC), published=published),
               parse=lambda data, content_type, record=record: record)
        if index and index % 1000 == 0:
            print(f"  {index} reports stored ({(time.perf_counter() - began) / index * 1000:.0f} ms each)",
                  flush=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nianbao-bench-") as tmp:
        data = Path(tmp)
        database = f"sqlite:///{data / 'nianbao.db'}"
        seconds = fill(database, Archive(data / "archive"), args.reports)
        print(f"stored {args.reports} reports in {seconds:.0f} s", flush=True)
        sessions = session_factory(make_engine(database))
        with sessions() as session:
            report_id = session.scalar(select(Report.id).order_by(Report.id.desc()))
            agency_id = session.scalar(select(Agency.id))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**os.environ, "NIANBAO_DATA_DIR": str(data), "NIANBAO_DATABASE_URL": database,
               "NIANBAO_NOW": "2025-04-20T09:00:00+08:00"}
        server = subprocess.Popen([sys.executable, "-m", "monitor.cli", "serve", "--port", str(port)], env=env,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/api", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            pages = ["/", "/reports", "/reports?errors=1", "/reports?region=32&year=2023", "/reports?q=财政局",
                     f"/reports?page={args.reports // 50}", f"/reports/{report_id}", "/findings",
                     "/findings?severity=error&region=32", "/agencies", f"/agencies/{agency_id}",
                     "/api/reports?year=2024", "/api/findings", f"/api/reports/{report_id}"]
            from playwright.sync_api import sync_playwright

            worst_overall = 0.0
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                page = browser.new_page()
                page.goto(base + "/")  # warm-up
                print(f"{'page':<40} {'median':>8} {'worst':>8}  (navigation start → load event, chromium)")
                for path in pages:
                    times = []
                    for _ in range(args.loads):
                        started = time.perf_counter()
                        response = page.goto(base + path, wait_until="load")
                        times.append(time.perf_counter() - started)
                        assert response is not None and response.status == 200, (path, response)
                    worst_overall = max(worst_overall, max(times))
                    print(f"{path:<40} {statistics.median(times) * 1000:>6.0f}ms {max(times) * 1000:>6.0f}ms",
                          flush=True)
                browser.close()
            print(f"worst page load with {args.reports} reports: {worst_overall * 1000:.0f} ms "
                  f"(bound 1 s: {'met' if worst_overall <= 1.0 else 'NOT met'})")
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
