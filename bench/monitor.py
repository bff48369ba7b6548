"""The running monitor (`nianbao run`, a real process) against the sandbox and the Bot API emulator:

1. detection latency — publish on a sandbox site → the Telegram message — over N publications at a given
   poll interval (the acceptance: ≤ poll interval + 60 s);
2. idle RSS of the daemon watching many sites (after its first full pass; crawl children excluded, their
   peak reported separately).

    .venv/bin/python bench/monitor.py [--latency-sites 120 --interval 30 --spacing 4] [--rss-sites 1000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from monitor_harness import CHAT, Harness, make_harness  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from storage.models import Delivery, Report, Site  # noqa: E402

CHINA = ZoneInfo("Asia/Shanghai")


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_rss_kib(pid: int) -> int:
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if f"\nPPid:\t{pid}\n" in text:
            total += rss_kib(int(status.parent.name))
    return total


def latency(args: argparse.Namespace) -> None:
    # 1 January: every site's 2025 report is still to come
    start = datetime(2026, 1, 1, 10, 0, tzinfo=CHINA)
    with tempfile.TemporaryDirectory(prefix="nianbao-bench-") as tmp:
        harness = make_harness(Path(tmp), sites=args.latency_sites, now=start, poll_seconds=args.interval,
                               years=1, extra_env={"NIANBAO_TICK": "1", "NIANBAO_DISPATCH_INTERVAL": "1"})
        try:
            with harness.sessions() as session, session.begin():
                from notifier.subscriptions import subscribe

                subscribe(session, channel="telegram", address=str(CHAT), kinds=["new"], now=harness.world.now)
            harness.start()
            assert harness.wait_for(lambda: _polled(harness) >= args.latency_sites, 600), "first pass"
            print(f"first pass over {args.latency_sites} sites done; publishing every ~{args.spacing:g} s, "
                  f"poll interval {args.interval:g} s", flush=True)
            pending = [(site.key, site.agency) for site in harness.world.sites.values()
                       if any(r.publish_at is None or r.publish_at > harness.world.now for r in site.reports)]
            random.Random(3).shuffle(pending)
            published: dict[str, float] = {}
            for key, agency in pending:
                harness.world.publish_next(key)
                published[agency] = time.time()
                time.sleep(random.uniform(0.5, 1.5) * args.spacing)
            deadline = time.monotonic() + args.interval + 120
            while time.monotonic() < deadline and len(_arrivals(harness, published)) < len(published):
                time.sleep(1)
            arrivals = _arrivals(harness, published)
            delays = sorted(arrivals[a] - published[a] for a in arrivals)
            lost = len(published) - len(arrivals)
            q = statistics.quantiles(delays, n=20) if len(delays) > 1 else delays
            print(f"latency publish → Telegram over {len(published)} publications at a {args.interval:g} s poll "
                  f"interval: median {statistics.median(delays):.1f} s, p95 {q[-1]:.1f} s, max {max(delays):.1f} s, "
                  f"not arrived {lost}; bound interval + 60 s = {args.interval + 60:g} s: "
                  f"{'met' if max(delays) <= args.interval + 60 and not lost else 'NOT met'}", flush=True)
            harness.stop()
        finally:
            harness.close()


def _polled(harness: Harness) -> int:
    with harness.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Site).where(Site.last_poll_at.is_not(None)))
                   or 0)


def _reports(harness: Harness) -> int:
    with harness.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Report)) or 0)


def _undelivered(harness: Harness) -> bool:
    with harness.sessions() as session:
        return session.scalar(select(Delivery.id).where(Delivery.status.in_(("pending", "sending"))).limit(1)) \
            is not None


def _arrivals(harness: Harness, published: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    with harness.telegram.state.lock:
        for message in harness.telegram.state.sent:
            text = message["text"]
            if "【新报告】" not in text or "2025" not in text:
                continue
            agency = text.split("\n", 1)[0].removeprefix("【新报告】")
            if agency in published:
                out.setdefault(agency, float(message["received_at"]))
    return out


def idle_rss(args: argparse.Namespace) -> None:
    # late February: last year's reports and most of this season's are online
    start = datetime(2026, 2, 20, 10, 0, tzinfo=CHINA)
    with tempfile.TemporaryDirectory(prefix="nianbao-bench-") as tmp:
        harness = make_harness(Path(tmp), sites=args.rss_sites, now=start, poll_seconds=3600, years=2,
                               extra_env={"NIANBAO_TICK": "5"})
        with harness.sessions() as session, session.begin():
            from notifier.subscriptions import subscribe

            subscribe(session, channel="telegram", address=str(CHAT), now=harness.world.now)  # every alert sent
        peak_children = 0
        stop = threading.Event()

        def watch_children() -> None:
            nonlocal peak_children
            while not stop.wait(0.5):
                if harness.process is not None:
                    peak_children = max(peak_children, children_rss_kib(harness.process.pid))

        try:
            began = time.monotonic()
            process = harness.start()
            threading.Thread(target=watch_children, daemon=True).start()
            assert harness.wait_for(lambda: _polled(harness) >= args.rss_sites * 0.95, 1800), "first pass"
            first = time.monotonic() - began
            reports = _reports(harness)
            assert harness.wait_for(lambda: not _undelivered(harness), 900), "alerts"
            time.sleep(15)  # the pass's child has exited; the monitor idles until the next poll is due
            samples = []
            for _ in range(30):
                samples.append(rss_kib(process.pid))
                time.sleep(1)
            stop.set()
            print(f"idle RSS of nianbao run watching {args.rss_sites} sites (bot and scheduler on): "
                  f"median {statistics.median(samples) / 1024:.1f} MiB, max {max(samples) / 1024:.1f} MiB "
                  f"(bound 300 MB: {'met' if max(samples) * 1024 <= 300e6 else 'NOT met'}); first pass "
                  f"{first:.0f} s ({reports} reports stored, {len(harness.messages())} alerts sent); "
                  f"peak RSS of the crawl child {peak_children / 1024:.0f} MiB", flush=True)
            harness.stop()
        finally:
            harness.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-sites", type=int, default=120)
    parser.add_argument("--interval", type=float, default=30.0, help="poll interval in seconds")
    parser.add_argument("--spacing", type=float, default=4.0, help="mean seconds between publications")
    parser.add_argument("--rss-sites", type=int, default=1000)
    parser.add_argument("--skip", choices=["latency", "rss"], action="append", default=[])
    args = parser.parse_args()
    if "latency" not in args.skip:
        latency(args)
    if "rss" not in args.skip:
        idle_rss(args)


if __name__ == "__main__":
    main()
