"""Attack figures for issue 13, printed: connections reaching a canary on 127.0.0.2 while crawling a hostile
site (Scrapy and chromium), the pager bomb's cost, password guesses the dashboard evaluates per second, and
duplicate alerts from two racing dispatchers.

    .venv/bin/python bench/security.py [canary|pager|login|dispatch ...] [--repo /work/main]

`--repo` runs the crawl commands from another checkout (e.g. the code before the fix) with this venv.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _crawl(repo: Path, data_dir: Path, registry: str, limit: float = 600, **env: str) -> tuple[str, float, int]:
    (data_dir / "sites.yaml").write_text(registry, encoding="utf-8")
    environment = {**os.environ, "NIANBAO_DATA_DIR": str(data_dir), **env,
                   "NIANBAO_DATABASE_URL": f"sqlite:///{data_dir / 'nianbao.db'}"}
    command = ["/usr/bin/time", "-f", "%M", "timeout", "-s", "KILL", str(int(limit)),
               sys.executable, "-m", "monitor.cli", "crawl", "--once",
               "--allow-host", "127.0.0.1", "--sites", str(data_dir / "sites.yaml")]
    started = time.monotonic()
    result = subprocess.run(command, cwd=repo, env=environment, capture_output=True, text=True, check=False)
    max_rss_kib = int(next((line for line in reversed(result.stderr.splitlines()) if line.strip().isdigit()), "0"))
    return result.stdout + result.stderr, time.monotonic() - started, max_rss_kib


def canary(repo: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from sandbox.hostile_sites import Canary, HostileSite

    target = Canary()
    site = HostileSite(target)
    with tempfile.TemporaryDirectory() as tmp:
        _, seconds, _ = _crawl(repo, Path(tmp), site.registry())
    print(f"canary: {len(target.connections)} connections reached 127.0.0.2 ({seconds:.1f} s crawl; repo {repo})")
    for line in target.connections:
        print(f"  {line}")
    site.shutdown()
    target.close()


def pager(repo: Path, timeout: float) -> None:
    sys.path.insert(0, str(ROOT))
    from sandbox.hostile_sites import Canary, HostileSite, pager_registry

    site = HostileSite(Canary())
    with tempfile.TemporaryDirectory() as tmp:
        _, seconds, rss = _crawl(repo, Path(tmp), pager_registry(site), limit=timeout)
    pages = sum(1 for hit in site.hits if hit.startswith("/pager/index"))
    ended = "killed at the time limit" if seconds >= timeout - 1 else "finished"
    memory = f"max RSS {rss / 1024:.0f} MiB" if ended == "finished" else "max RSS not measured"
    print(f"pager bomb (claims 2,000,000 pages): {pages} list pages fetched, crawl {seconds:.1f} s ({ended}), "
          f"{memory} (repo {repo})")
    site.shutdown()


def login(seconds: float, password: str = "richtig-und-lang") -> None:
    """Wrong passwords from one client as fast as it can send them: how many are evaluated (not refused
    by the throttle) per second, and whether the right password is then accepted at once."""
    import uvicorn
    from conftest import Clock, free_port

    from dashboard.app import create_app
    from storage import Archive, make_engine, session_factory, upgrade

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'n.db'}")
        upgrade(engine)
        app = create_app(session_factory(engine), Archive(Path(tmp) / "archive"), clock=Clock(),
                         admin_password=password, secret_key="bench")
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(),
                                             _NoRedirect())
        page = opener.open(base + "/login").read().decode()
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        evaluated = refused = 0
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            status = _post(opener, base + "/login", {"csrf": csrf, "password": f"wrong-{evaluated + refused}"})
            if status == 429:
                refused += 1
            else:
                evaluated += 1
        elapsed = time.monotonic() - started
        right = _post(opener, base + "/login", {"csrf": csrf, "password": password})
        print(f"login: {evaluated + refused} wrong passwords sent in {elapsed:.1f} s; {evaluated} evaluated "
              f"({evaluated / elapsed:.1f}/s), {refused} refused by the throttle (HTTP 429); the right password "
              f"right after: HTTP {right}")
        server.should_exit = True


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def _post(opener: urllib.request.OpenerDirector, url: str, data: dict[str, str]) -> int:
    try:
        with opener.open(url, data=urllib.parse.urlencode(data).encode()) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def dispatch(rounds: int, repo: Path) -> None:
    """Two dispatcher processes over one SQLite outbox, `rounds` times 30 alerts: duplicates sent."""
    os.environ["PYTHONPATH"] = os.pathsep.join([str(repo), str(ROOT / "tests")])  # the spawned dispatchers
    from test_dispatch_race import PER_ROUND, race

    with tempfile.TemporaryDirectory() as tmp:
        sends, _ = race(f"sqlite:///{Path(tmp) / 'n.db'}", str(Path(tmp) / "sent.log"), rounds)
    total = sum(sends.values())
    print(f"dispatch race (SQLite, 2 processes, {rounds} rounds of {PER_ROUND} alerts): {total} sent for "
          f"{rounds * PER_ROUND} alerts, {total - len(sends) * rounds} duplicates")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="*", default=["canary", "pager", "login", "dispatch"])
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--seconds", type=float, default=5.0, help="login attack duration")
    parser.add_argument("--rounds", type=int, default=20, help="dispatch race rounds")
    parser.add_argument("--limit", type=float, default=120, help="seconds a pager-bomb crawl may take")
    args = parser.parse_args()
    if args.repo != ROOT and set(args.what) & {"canary", "pager"} and set(args.what) & {"login", "dispatch"}:
        parser.error("with --repo, run canary/pager apart from login/dispatch (they import this checkout)")
    sys.path[:0] = [str(args.repo), str(args.repo / "tests"), str(ROOT / "tests")]  # --repo's code
    for what in args.what:
        {"canary": lambda: canary(args.repo), "pager": lambda: pager(args.repo, args.limit),
         "login": lambda: login(args.seconds), "dispatch": lambda: dispatch(args.rounds, args.repo)}[what]()


if __name__ == "__main__":
    main()
