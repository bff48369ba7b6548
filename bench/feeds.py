"""What a feed reader polling every minute costs: a full Atom feed vs the conditional GET that answers 304,
over a database with many alerts (a live dashboard, real HTTP). Prints median and p95 times and bytes.

    .venv/bin/python bench/feeds.py --events 20000 --requests 200
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__)
    arguments.add_argument("--events", type=int, default=20000)
    arguments.add_argument("--requests", type=int, default=200)
    args = arguments.parse_args()

    import uvicorn
    from conftest import free_port

    from dashboard.app import create_app
    from storage import Archive, make_engine, session_factory, upgrade
    from storage.models import Agency, Event

    tmp = Path(tempfile.mkdtemp(prefix="bench-feeds-"))
    engine = make_engine(f"sqlite:///{tmp / 'n.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    with sessions() as session, session.begin():
        agencies = [Agency(name=f"淮安市测试局{i}", region_code=("320813" if i % 2 else "330106"), kind="department",
                           created_at=t0) for i in range(200)]
        session.add_all(agencies)
        session.flush()
        for n in range(args.events):
            agency = agencies[n % len(agencies)]
            session.add(Event(kind="FINDING", key=f"bench:{n}", agency_id=agency.id,
                              created_at=t0 + timedelta(minutes=n),
                              payload={"agency": agency.name, "year": 2024, "rule": "T3-BALANCE", "severity": "error",
                                       "table": "requests", "row": "total", "column": "total", "printed": 34,
                                       "expected": 30, "message": "表三 总计列：勾稽关系不成立"}))
    app = create_app(sessions, Archive(tmp / "archive"), clock=lambda: datetime.now(UTC), admin_password=None,
                     secret_key="bench")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}/feeds/alerts.atom?region=淮安市&kinds=errors"
    with httpx.Client() as client:
        full, conditional = [], []
        first = client.get(url)
        etag = first.headers["etag"]
        for _ in range(args.requests):
            started = time.perf_counter()
            response = client.get(url)
            full.append(time.perf_counter() - started)
            assert response.status_code == 200
            started = time.perf_counter()
            response = client.get(url, headers={"If-None-Match": etag})
            conditional.append(time.perf_counter() - started)
            assert response.status_code == 304
    server.should_exit = True
    thread.join(10)

    def line(name: str, values: list[float], size: int) -> str:
        ordered = sorted(values)
        return (f"{name:<16} median {statistics.median(values) * 1000:7.1f} ms   p95 "
                f"{ordered[int(len(ordered) * 0.95) - 1] * 1000:7.1f} ms   {size:>7} bytes")

    print(f"{args.events} alerts in the database, {args.requests} requests each")
    print(line("full feed (200)", full, len(first.content)))
    print(line("conditional (304)", conditional, 0))


if __name__ == "__main__":
    main()
