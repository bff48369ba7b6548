"""Crawling the sandbox: a first full crawl and an unchanged re-poll of many sites (wall time, requests,
bytes and browser launches per site, by platform), discovery from the agencies' portals (`nianbao sites
import` of a CSV: time per portal, how many found right), and detection latency (publish → stored).

    .venv/bin/python bench/crawl.py [--sites 1000] [--browser-share S] [--portals 300] [--latency-publications 10]

By default the platforms take turns as in the sandbox (2 in 5 sites render their list with JavaScript — half
of those behind a cookie challenge — and 1 in 5 of all sites has each failure mode: flaky 500s, slow, dead
links, redirect loops); `--browser-share` sets the JavaScript/challenge share instead."""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from sandbox.sites.server import serve  # noqa: E402
from sandbox.sites.world import build_world  # noqa: E402
from storage import make_engine, session_factory  # noqa: E402
from storage.models import Document  # noqa: E402


def crawl(base: str, data: Path, *extra: str) -> tuple[float, str]:
    env = {**os.environ, "NIANBAO_DATA_DIR": str(data), "NIANBAO_CLOCK_URL": base + "/__sandbox__/clock"}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "monitor.cli", "crawl", "--once", "--allow-host", "127.0.0.1",
                             "--slot-per-site",
                             "--sites", base + "/__sandbox__/sites.yaml", *extra], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)
    summary = [line for line in result.stdout.splitlines() if line.startswith("crawl: ")][-1:]
    browser = [line for line in result.stderr.splitlines() if line.startswith("crawl: browser launches")][-1:]
    lines = summary + browser
    return time.perf_counter() - started, "\n    ".join(lines) if lines else result.stderr[-2000:]


def stats(base: str) -> dict[str, dict[str, int]]:
    with urllib.request.urlopen(base + "/__sandbox__/stats") as response:
        return dict(json.load(response))


def per_site(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], keys: list[str],
             metric: str) -> list[int]:
    return [after.get(k, {}).get(metric, 0) - before.get(k, {}).get(metric, 0) for k in keys]


def discovery(base: str, data: Path, world: object, count: int) -> None:
    """`nianbao sites import` of a CSV of `count` portals (and the one without a column): time per portal,
    and how many entries name exactly the sandbox's column and platform."""
    with urllib.request.urlopen(base + "/__sandbox__/portals") as response:
        portals = json.load(response)
    chosen = portals[:count] + [p for p in portals if p["list_url"] is None]
    table = data / "agencies.csv"
    with table.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["agency", "portal_url"])
        writer.writerows([p["agency"], p["portal_url"]] for p in chosen)
    env = {**os.environ, "NIANBAO_DATA_DIR": str(data)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "monitor.cli", "sites", "import", str(table), "--allow-host",
                             "127.0.0.1", "--jobs", "4", "--output", str(data / "found.yaml"), "--report",
                             str(data / "unresolved.csv")], cwd=ROOT, env=env, capture_output=True, text=True,
                            check=False)
    seconds = time.perf_counter() - started
    import yaml

    found = {s["key"]: s for s in (yaml.safe_load((data / "found.yaml").read_text(encoding="utf-8")) or {})
             .get("sites", [])}
    right = 0
    for portal in chosen:
        entry = found.get(portal["key"])
        if portal["list_url"] is None:
            right += entry is None
        elif entry is not None and entry["platform"] == portal["platform"] and \
                entry["list_urls"][0].split("?")[0] == portal["list_url"].split("?")[0]:
            right += 1
    extra = [k for k in found if k not in {p["key"] for p in chosen}]
    print(f"discovery (`sites import`, 4 at a time) of {len(chosen)} portals: {seconds:.1f} s wall, "
          f"{seconds / len(chosen):.2f} s per portal; right (exactly the column and platform, or 'no column'): "
          f"{right}/{len(chosen)} ({100 * right / len(chosen):.1f} %); entries for no portal: {len(extra)}; "
          f"exit {result.returncode}")
    timings = sorted(float(m.group(2)) for m in (re.search(r"\((\d+) requests, ([\d.]+) s\)$", line)
                                                 for line in result.stderr.splitlines()) if m)
    requests = [int(m.group(1)) for m in (re.search(r"\((\d+) requests, ([\d.]+) s\)$", line)
                                          for line in result.stderr.splitlines()) if m]
    if timings:
        print(f"    discovery per portal: median {statistics.median(timings):.2f} s, "
              f"p95 {timings[int(0.95 * (len(timings) - 1))]:.2f} s, max {timings[-1]:.2f} s "
              f"(a challenged portal starts chromium once); requests mean {statistics.mean(requests):.1f}, "
              f"max {max(requests)}")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--sites", type=int, default=1000)
    options.add_argument("--browser-share", type=float, default=None)
    options.add_argument("--portals", type=int, default=300, help="portals discovered through `sites import`")
    options.add_argument("--latency-publications", type=int, default=10)
    options.add_argument("--interval", type=float, default=20.0, help="poll interval for the latency run (s)")
    args = options.parse_args()

    world = build_world(args.sites, seed=11, years=1, formats=("html", "pdf"), browser_share=args.browser_share)
    server = serve(world)
    base = server.base_url
    keys = sorted(world.sites)
    browser = sum(1 for s in world.sites.values() if s.platform in ("jsapi", "challenge"))
    by_platform = {p: [k for k in keys if world.sites[k].platform == p]
                   for p in ("trs", "hanweb", "plain", "jsapi", "challenge")}
    print(f"{args.sites} sandbox sites: {args.sites - browser} plain HTTP, {browser} JavaScript "
          f"({100 * browser / args.sites:.0f} %: {len(by_platform['jsapi'])} JSON-API lists, "
          f"{len(by_platform['challenge'])} behind a cookie challenge); "
          f"{sum(len(world.visible(s)) for s in world.sites.values())} reports published")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        for label, extra in (("first full crawl", ()), ("unchanged re-poll", ())):
            before = stats(base)
            seconds, summary = crawl(base, data, *extra)
            after = stats(base)
            requests = per_site(before, after, keys, "requests")
            size = per_site(before, after, keys, "bytes")
            plain = [k for k in keys if world.sites[k].platform not in ("jsapi", "challenge")]
            plain_requests = per_site(before, after, plain, "requests")
            plain_bytes = per_site(before, after, plain, "bytes")
            launches = int(re.search(r"browser launches (\d+)", summary).group(1)) if "browser launches" in summary \
                else -1
            print(f"{label}: {seconds:.1f} s wall; per site: requests mean {statistics.mean(requests):.3f} "
                  f"(plain sites max {max(plain_requests)}), bytes mean {statistics.mean(size):.0f} "
                  f"(plain sites max {max(plain_bytes)}), browser launches {launches / len(keys):.3f} "
                  f"({launches} in the pass)")
            for platform, members in by_platform.items():
                if members:
                    print(f"    {platform:<9} {len(members):>4} sites: requests mean "
                          f"{statistics.mean(per_site(before, after, members, 'requests')):.3f}, bytes mean "
                          f"{statistics.mean(per_site(before, after, members, 'bytes')):.0f}")
            print(f"    {summary}")

        if args.portals:
            discovery(base, data, world, args.portals)

        if not args.latency_publications:
            server.shutdown()
            return
        # detection latency: the crawler polls every `interval` seconds; reports are published in between
        env = {**os.environ, "NIANBAO_DATA_DIR": str(data), "NIANBAO_CLOCK_URL": base + "/__sandbox__/clock"}
        small = [k for k in keys if world.sites[k].platform in ("trs", "hanweb", "plain")][:50]
        registry = data / "subset.yaml"
        with urllib.request.urlopen(base + "/__sandbox__/sites.yaml") as response:
            import yaml

            entries = [s for s in yaml.safe_load(response)["sites"] if s["key"] in small]
        registry.write_text(yaml.safe_dump({"sites": entries}, allow_unicode=True), encoding="utf-8")
        daemon = subprocess.Popen([sys.executable, "-m", "monitor.cli", "crawl", "--interval", str(args.interval),
                                   "--slot-per-site", "--allow-host", "127.0.0.1", "--sites", str(registry)],
                                  cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sessions = session_factory(make_engine(f"sqlite:///{data / 'nianbao.db'}"))
        latencies = []
        rng = random.Random(5)
        try:
            for _ in range(args.latency_publications):
                time.sleep(rng.uniform(0, args.interval))
                site = world.sites[rng.choice(small)]
                world.publish_next(site.key) or world.sites[site.key].reports.append(
                    type(site.reports[0])(site=site.key, year=site.reports[-1].year + 1, seed=rng.randrange(10**6),
                                          format="html", publish_at=world.now, doc_id=900_000 + len(latencies)))
                published_at = time.monotonic()
                with sessions() as session:
                    known = set(session.scalars(select(Document.url)))
                while time.monotonic() - published_at < args.interval * 3 + 60:
                    with sessions() as session:
                        if set(session.scalars(select(Document.url))) - known:
                            break
                    time.sleep(0.5)
                latencies.append(time.monotonic() - published_at)
        finally:
            daemon.terminate()
            daemon.wait(30)
        print(f"detection latency at a {args.interval:g} s poll interval over {len(latencies)} publications: "
              f"median {statistics.median(latencies):.1f} s, max {max(latencies):.1f} s")
    server.shutdown()
    print(f"peak RSS: bench process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, "
          f"largest crawl process {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
