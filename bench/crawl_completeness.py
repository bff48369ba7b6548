"""Completeness on the full sandbox: N sites of every platform, every format (HTML, PDF, DOCX, DOC, scans),
failure modes on; prints how many published reports were stored, how many more than once, and the events.

    .venv/bin/python bench/crawl_completeness.py [--sites 50]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
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
from storage.models import Document, DocumentVersion, Event  # noqa: E402


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--sites", type=int, default=50)
    args = options.parse_args()
    world = build_world(args.sites, seed=21)
    server = serve(world)
    with urllib.request.urlopen(server.base_url + "/__sandbox__/manifest") as response:
        manifest = json.load(response)
    expected = {m["attachment_urls"][0] if m["attachment_urls"] else m["detail_url"] for m in manifest}
    platforms = collections.Counter(s.platform for s in world.sites.values())
    formats = collections.Counter(m["format"] for m in manifest)
    print(f"{args.sites} sites {dict(platforms)}; {len(expected)} reports published {dict(formats)}")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "NIANBAO_DATA_DIR": tmp, "NIANBAO_CLOCK_URL": server.base_url + "/__sandbox__/clock"}
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "monitor.cli", "crawl", "--once", "--slot-per-site",
                                 "--allow-host", "127.0.0.1", "--sites", server.base_url + "/__sandbox__/sites.yaml"],
                                cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        print(f"crawl: {time.perf_counter() - started:.0f} s; {result.stdout.strip().splitlines()[-1]}")
        sessions = session_factory(make_engine(f"sqlite:///{tmp}/nianbao.db"))
        with sessions() as session:
            stored = collections.Counter(session.scalars(select(Document.url)))
            versions = collections.Counter(session.scalars(select(DocumentVersion.document_id)))
            kinds = collections.Counter(session.scalars(select(Event.kind)))
            unreadable = session.scalars(select(Document.url).join(DocumentVersion)).all()
        found = expected & set(stored)
        print(f"stored {len(found)} of {len(expected)} published ({len(found) / len(expected):.1%}); "
              f"missed {sorted(expected - set(stored))[:5]}; stored twice: "
              f"{sum(1 for c in versions.values() if c > 1)}; not published but stored: {len(set(stored) - expected)}")
        print(f"events: {dict(kinds)}; documents {len(unreadable)}")
    server.shutdown()


if __name__ == "__main__":
    main()
