"""One crawl pass in a child process (`nianbao crawl --once` for a batch of site keys).

Why a child per pass rather than Scrapy in the monitor's own event loop: Twisted's reactor cannot be
restarted in one process, and scrapy-playwright needs the asyncio reactor for the whole process; a child
gives each pass a fresh reactor, keeps chromium, pdfplumber and OCR memory out of the long-running monitor
(which idles at a few tens of MB), and a crash or hang in a pass cannot take the monitor down — it is
timed out and killed. Ingest is transactional and idempotent, so a pass cut short loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Settings

PARENT_ENV = "NIANBAO_EXIT_WITH_PARENT"
TERMINATE_GRACE_SECONDS = 20


@dataclass(frozen=True)
class CrawlSummary:
    """What a crawl pass did, as the child reports it to its parent: one JSON object on its standard output
    (`nianbao crawl --once --json`), never a sentence to be parsed."""

    sites_done: int = 0
    sites_total: int = 0
    requests: int = 0
    bytes: int = 0
    not_modified: int = 0
    reports_found: int = 0
    stored: int = 0
    errors: int = 0
    refused: int = 0
    events: dict[str, int] = field(default_factory=dict)
    finished: bool = False

    KEY = "nianbao.crawl/1"

    @classmethod
    def from_stats(cls, stats: dict[str, Any]) -> CrawlSummary:
        return cls(sites_done=int(stats.get("nianbao/sites_done", 0)),
                   sites_total=int(stats.get("nianbao/sites_total", 0)),
                   requests=int(stats.get("downloader/request_count", 0)),
                   bytes=int(stats.get("downloader/response_bytes", 0)),
                   not_modified=int(stats.get("nianbao/not_modified", 0)),
                   reports_found=int(stats.get("nianbao/reports_found", 0)),
                   stored=int(stats.get("nianbao/stored", 0)),
                   errors=int(stats.get("nianbao/list_errors", 0)) + int(stats.get("nianbao/document_errors", 0)),
                   refused=int(stats.get("nianbao/refused_ssrf", 0)),
                   events={k.split("/")[-1]: int(v) for k, v in stats.items() if k.startswith("nianbao/events/")},
                   finished=stats.get("finish_reason") == "finished")

    def to_json(self) -> str:
        return json.dumps({"format": self.KEY, **asdict(self)}, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_output(cls, output: str) -> CrawlSummary | None:
        """The last summary object in a child's standard output (anything else there is ignored)."""
        for line in reversed(output.splitlines()):
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict) and data.pop("format", None) == cls.KEY:
                known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
                return cls(**known)
        return None

    def describe(self) -> str:
        return (f"crawl: {self.sites_done}/{self.sites_total} sites, {self.requests} requests, {self.bytes} bytes, "
                f"{self.not_modified} not modified, {self.reports_found} report files fetched, {self.stored} stored, "
                f"{self.errors} errors, refused {self.refused}; events: "
                + (", ".join(f"{k} {v}" for k, v in sorted(self.events.items())) or "none"))


@dataclass(frozen=True)
class CrawlOutcome:
    keys: tuple[str, ...]
    returncode: int | None  # None: abandoned (shutdown) or timed out
    seconds: float
    summary: str
    timed_out: bool = False
    report: CrawlSummary | None = None  # what the child said it did

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class SubprocessCrawler:
    def __init__(self, registry: str, *, environment: dict[str, str], log_path: Path, timeout: float,
                 revisit_hours: float, slot_per_site: bool) -> None:
        self.registry = registry
        self.environment = environment
        self.log_path = log_path
        self.timeout = timeout
        self.revisit_hours = revisit_hours
        self.slot_per_site = slot_per_site
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = False

    def run(self, keys: Sequence[str]) -> CrawlOutcome:
        began = time.monotonic()
        with tempfile.NamedTemporaryFile("w", suffix=".keys", delete=False, encoding="utf-8") as handle:
            handle.write("\n".join(keys))
        # the registry goes by environment, not argv: its URL may carry a password, and argv is public (ps)
        command = [sys.executable, "-m", "monitor.cli", "crawl", "--once",
                   "--site", "@" + handle.name, "--revisit-hours", str(self.revisit_hours), "--json"]
        if self.slot_per_site:
            command.append("--slot-per-site")
        env = dict(self.environment, **{PARENT_ENV: str(os.getpid()), "NIANBAO_SITES": self.registry})
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.log_path, "ab") as log:
                with self._lock:
                    if self._stopping:
                        return CrawlOutcome(tuple(keys), None, 0.0, "not started: shutting down")
                    self._child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env)
                child = self._child
                try:
                    out, _ = child.communicate(timeout=self.timeout)
                    timed_out = False
                except subprocess.TimeoutExpired:
                    self._terminate(child)
                    out, timed_out = b"", True
                with self._lock:
                    self._child = None
        finally:
            Path(handle.name).unlink(missing_ok=True)
        report = CrawlSummary.from_output(out.decode("utf-8", "replace"))
        abandoned = self._stopping and child.returncode not in (0, None)
        summary = report.describe() if report else ("timed out" if timed_out else "stopped at shutdown" if abandoned
                                                    else f"exit {child.returncode} (see {self.log_path})")
        return CrawlOutcome(tuple(keys), None if timed_out or abandoned else child.returncode,
                            time.monotonic() - began, summary, timed_out, report)

    def stop(self) -> None:
        """Ask a running pass to stop (Scrapy closes gracefully on SIGTERM), killing it after a grace period."""
        with self._lock:
            self._stopping = True
            child = self._child
        if child is not None:
            self._terminate(child)

    @staticmethod
    def _terminate(child: subprocess.Popen[bytes]) -> None:
        if child.poll() is not None:
            return
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(TERMINATE_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def crawl_pass(settings: Settings, location: str, site: str | None, *, lists_only: bool, revisit_hours: float,
               slot_per_site: bool = False) -> CrawlSummary:
    """One Scrapy pass in this process (the child's side). The settings reach the crawler through Scrapy's
    settings — `NIANBAO_SETTINGS` and the values Scrapy itself uses — never through the environment."""
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings as ScrapySettings

    import crawler.settings as crawler_defaults
    from crawler.settings import browser_settings
    from crawler.spiders.annual_reports import AnnualReportSpider
    from domain.redact import install_log_redaction

    scrapy_settings = ScrapySettings()
    scrapy_settings.setmodule(crawler_defaults, priority="project")
    scrapy_settings.update(settings.scrapy_overrides(), priority="cmdline")
    scrapy_settings.update(browser_settings(settings.allowed_hosts, settings.chromium), priority="cmdline")
    process = CrawlerProcess(scrapy_settings)
    install_log_redaction()  # Scrapy's own log handler, installed just now: no password of a registry URL in it
    crawler = process.create_crawler(AnnualReportSpider)
    process.crawl(crawler, sites=location, site=site or "", lists_only="1" if lists_only else "",
                  revisit_hours=str(revisit_hours), slot_per_site="1" if slot_per_site else "")
    process.start()
    return CrawlSummary.from_stats(crawler.stats.get_stats() if crawler.stats else {})


def exit_with_parent() -> None:
    """In a crawl child: die with the monitor (even on kill -9), so no orphaned pass runs beside the next."""
    expected = os.environ.get(PARENT_ENV)
    if not expected or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != int(expected):  # the parent died before prctl took effect
        os._exit(1)
