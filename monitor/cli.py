"""`nianbao` — the command line. A thin shell over the library: it reads files, calls the pure core,
and prints."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from domain.vocabulary import FindingStatus, Severity
from parser import LimitExceeded, Limits, ParseError, Record
from parser.guard import parse_guarded, parse_many

if TYPE_CHECKING:
    from .config import Settings

EXIT_OK = 0
EXIT_UNREADABLE = 2


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(max_bytes=int(args.max_mb * 1024 * 1024), max_pages=args.max_pages, seconds=args.timeout)


def _load(path: Path, limits: Limits) -> bytes:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ParseError(f"cannot open: {exc.strerror}") from exc
    if size > limits.max_bytes:
        raise LimitExceeded(f"file is {size} bytes, over the limit of {limits.max_bytes}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ParseError(f"cannot read: {exc.strerror}") from exc


def _read(path: Path, limits: Limits) -> Record:
    return parse_guarded(_load(path, limits), limits=limits)


class _Readings:
    """The files named on the command line, read one by one; an unreadable one gets its line on stderr and
    makes the exit status 2, and the others are still read."""

    def __init__(self, paths: Sequence[str], limits: Limits) -> None:
        self.paths, self.limits, self.status = paths, limits, EXIT_OK

    def __iter__(self) -> Iterator[tuple[int, Path, Record]]:
        paths = [Path(name) for name in self.paths]
        # all cores, one guarded reader per file; results in the order given
        results = parse_many([functools.partial(_load, path, self.limits) for path in paths], limits=self.limits)
        for index, (path, result) in enumerate(zip(paths, results, strict=True)):
            if isinstance(result, ParseError):
                print(f"{path}: {result.kind}: {result.reason}", file=sys.stderr)
                self.status = EXIT_UNREADABLE
            else:
                yield index, path, result


def cmd_parse(args: argparse.Namespace) -> int:
    readings = _Readings(args.paths, _limits(args))
    for index, path, record in readings:
        if args.json:
            print(json.dumps(record.to_json(with_source=args.source), ensure_ascii=False))
        else:
            print(("\n" if index else "") + f"== {path}")
            from .render import render_record  # not at the top: `parse --json` starts faster without checks

            print(render_record(record))
        sys.stdout.flush()
    return readings.status


def cmd_check(args: argparse.Namespace) -> int:
    import checks
    from checks.deadlines import load_calendar

    limits = _limits(args)
    history: list[Record] = []
    for name in args.history or ():
        try:
            history.append(_read(Path(name), limits))
        except ParseError as exc:
            print(f"{name}: {exc.kind}: {exc.reason} (history file skipped)", file=sys.stderr)
    calendar = load_calendar()
    readings = _Readings(args.paths, limits)
    for index, path, record in readings:
        findings = checks.run(record, history=history, calendar=calendar, kind=args.kind, region=args.region or "")
        if args.json:
            print(json.dumps({"report": record.to_json(with_source=args.source),
                              "findings": [f.to_json() for f in findings]}, ensure_ascii=False))
        else:
            print(("\n" if index else "") + f"== {path}: {record.title or '（标题未识别）'}")
            from .render import render_findings

            print(render_findings(findings))
        sys.stdout.flush()
    return readings.status


def _settings(args: argparse.Namespace) -> Settings:
    """The one settings object of this command: read once (environment over --config / NIANBAO_CONFIG), here
    in the composition root, and passed down from here."""
    settings = getattr(args, "settings", None)
    if settings is None:
        from domain.redact import install_log_redaction
        from domain.time import use_timezone

        from .config import Settings

        settings = Settings.from_env(config_file=getattr(args, "config", None))
        use_timezone(settings.timezone)
        install_log_redaction()
        args.settings = settings
    return settings


def _open_store(args: argparse.Namespace, *, migrate: bool = False):  # type: ignore[no-untyped-def]
    from storage import make_engine, session_factory, upgrade
    from storage.archive import archive_for
    from storage.database import is_current

    settings = _settings(args)
    if settings.database_url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    elif not is_current(engine):
        raise SystemExit(f"nianbao: the database at {engine.url.render_as_string()} has no schema yet; "
                         "run `nianbao db upgrade` first")
    return settings, engine, session_factory(engine), archive_for(settings)


def cmd_db(args: argparse.Namespace) -> int:
    if args.action == "check":
        return cmd_db_check(args)
    settings, engine, _, _ = _open_store(args, migrate=True)
    print(f"database {engine.url.render_as_string()} is at the newest schema; archive at {settings.archive_root}")
    return EXIT_OK


def cmd_db_check(args: argparse.Namespace) -> int:
    from storage.archive_check import check_archive

    _, _, sessions, archive = _open_store(args)
    report = check_archive(sessions, archive)
    for problem in report.problems:
        print(f"{problem.problem}: version {problem.version_id} {problem.relative} ({problem.url})")
    print(f"archive {archive.describe()}: {report.checked} file(s) checked, {len(report.problems)} damaged or "
          f"missing" + (f"; {report.refetch_queued} URL(s) will be fetched in full at the next poll to repair them"
                        if report.refetch_queued else ""))
    return EXIT_OK if report.ok else EXIT_UNREADABLE


def cmd_worker(args: argparse.Namespace) -> int:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("httpx", "telegram", "alembic", "procrastinate"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from workers.run import parse_queues, run_worker

    queues = parse_queues(args.queues)
    settings, _, _, _ = _open_store(args, migrate=True)
    return run_worker(settings, queues, args.concurrency, args.name)


def cmd_ingest(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from checks.deadlines import load_calendar
    from domain.time import parse_date
    from storage import Origin, ingest

    if args.url and len(args.paths) > 1:
        raise SystemExit("nianbao: --url names one document; give one PATH with it")
    published = parse_date(args.published)
    if args.published and published is None:
        raise SystemExit(f"nianbao: --published {args.published!r} is not a date (YYYY-MM-DD)")
    _, _, sessions, archive = _open_store(args)
    calendar = load_calendar()
    status = EXIT_OK
    for name in args.paths:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
            status = EXIT_UNREADABLE
            continue
        origin = Origin(agency=args.agency, url=args.url or path.resolve().as_uri(), seen_at=datetime.now(UTC),
                        region=args.region, kind=args.kind,
                        published=published)
        result = ingest(sessions, archive, data, origin, calendar=calendar)
        if result.error:
            print(f"{path}: stored, but could not be read: {result.error}", file=sys.stderr)
            status = EXIT_UNREADABLE
        state = "new version" if result.created else "unchanged"
        print(f"{path}: {state}; report {result.report_id}; events: {', '.join(result.events) or 'none'}")
    return status


def cmd_reports(args: argparse.Namespace) -> int:
    from storage.queries import list_reports

    _, _, sessions, _ = _open_store(args)
    with sessions() as session:
        rows = list_reports(session, agency=args.agency, region=args.region, year=args.year)
    if args.json:
        for row in rows:
            print(json.dumps(row.__dict__, ensure_ascii=False))
        return EXIT_OK
    print(f"{'id':>5}  {'year':<5} {'tmpl':<5} {'err':>3} {'warn':>4}  agency / title")
    for row in rows:
        print(f"{row.id:>5}  {row.year or '-':<5} {row.template or '-':<5} {row.errors:>3} {row.warnings:>4}  "
              f"{row.agency} / {row.title or row.parse_error or ''}")
    return EXIT_OK


def cmd_findings(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from storage.queries import decide, list_findings

    _, _, sessions, _ = _open_store(args)
    if args.action in ("dismiss", "confirm"):
        if not args.fingerprint:
            raise SystemExit("nianbao: give the FINGERPRINT of the finding")
        with sessions() as session, session.begin():
            try:
                decision = FindingStatus.DISMISSED if args.action == "dismiss" else FindingStatus.CONFIRMED
                changed = decide(session, args.fingerprint, decision.value,
                                 note=args.note or "", by=args.by, at=datetime.now(UTC))
            except LookupError as exc:
                raise SystemExit(f"nianbao: {exc}") from None
        if not changed:
            print(f"no finding with fingerprint {args.fingerprint}", file=sys.stderr)
            return EXIT_UNREADABLE
        print(f"{args.action}ed {changed} stored occurrence(s) of {args.fingerprint}")
        return EXIT_OK
    with sessions() as session:
        rows = list_findings(session, severity=args.severity, status=args.status)
        for row in rows:
            if args.json:
                print(json.dumps({**row.evidence, "status": row.status, "report_id": row.report_id,
                                  "note": row.note}, ensure_ascii=False))
            else:
                print(f"{row.fingerprint[:12]}  {row.severity:<7} {row.status:<9} {row.rule:<18} {row.message}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from storage.queries import export_cells, write_export

    _, _, sessions, _ = _open_store(args)
    with sessions() as session:
        payload = write_export(export_cells(session), args.format)
    if args.output:
        Path(args.output).write_bytes(payload)
        print(f"wrote {args.output}")
    elif args.format == "xlsx":
        raise SystemExit("nianbao: xlsx is binary; give --output FILE")
    else:
        sys.stdout.buffer.write(payload)
    return EXIT_OK


def _prepare_crawl(args: argparse.Namespace) -> str:
    """The registry to crawl (read once here, so a bad one is a clear message), with the allowed private hosts
    added to the settings and the database migrated."""
    from crawler.registry import load_registry
    from domain.redact import redact_url

    settings = _settings(args)
    if args.allow_host:
        args.settings = settings.model_copy(update={"allowed_hosts": tuple(args.allow_host)})
    location = args.sites or settings.sites
    if not location:
        raise SystemExit("nianbao: give --sites FILE_OR_URL (or set NIANBAO_SITES)")
    try:
        load_registry(location)
    except Exception as exc:
        raise SystemExit(f"nianbao: site registry {redact_url(location)}: {redact_url(str(exc))}") from None
    _open_store(args, migrate=True)
    return str(location)


def cmd_crawl(args: argparse.Namespace) -> int:
    import time

    from .crawl_runner import exit_with_parent

    location = _prepare_crawl(args)
    if args.once:
        exit_with_parent()
        return _crawl_once(_settings(args), location, args.site, lists_only=False,
                           revisit_hours=args.revisit_hours, slot_per_site=args.slot_per_site, as_json=args.json)
    while True:  # without --once: poll again and again, each pass in a fresh process (Twisted cannot restart)
        status = _crawl_subprocess(location, args)
        print(f"crawl: pass finished (exit {status}); next in {args.interval:g} s", file=sys.stderr)
        time.sleep(args.interval)


def _crawl_subprocess(location: str, args: argparse.Namespace) -> int:
    import subprocess

    command = [sys.executable, "-m", "monitor.cli", "crawl", "--once", "--sites", location,
               "--revisit-hours", str(args.revisit_hours)] + (["--slot-per-site"] if args.slot_per_site else [])
    if args.site:
        command += ["--site", args.site]
    for host in args.allow_host or ():
        command += ["--allow-host", host]
    return subprocess.run(command, check=False).returncode


def _crawl_once(settings: Settings, location: str, site: str | None, *, lists_only: bool, revisit_hours: float,
                slot_per_site: bool = False, as_json: bool = False) -> int:
    """One crawl pass in this process; prints its summary: one JSON object (`--json`, what the monitor's crawl
    runner reads) or a sentence."""
    from .crawl_runner import crawl_pass

    summary = crawl_pass(settings, location, site, lists_only=lists_only, revisit_hours=revisit_hours,
                         slot_per_site=slot_per_site)
    print(summary.to_json() if as_json else summary.describe(), flush=True)
    return EXIT_OK if summary.finished else EXIT_UNREADABLE


def cmd_sites(args: argparse.Namespace) -> int:
    from domain.redact import redact
    from storage.crawl_state import site_statuses

    if args.action in ("discover", "import"):
        from . import sites_discover

        if not args.targets:
            raise SystemExit(f"nianbao: sites {args.action} needs " + ("URL…" if args.action == "discover"
                                                                       else "AGENCIES.csv"))
        return (sites_discover.cmd_discover if args.action == "discover" else sites_discover.cmd_import)(args)
    if args.action == "check":
        location = _prepare_crawl(args)
        _crawl_once(_settings(args), location, args.site, lists_only=True, revisit_hours=0)
    _, _, sessions, _ = _open_store(args)
    with sessions() as session:
        rows = site_statuses(session)
    print(f"{'site':<12} {'status':<8} {'platform':<10} {'last poll':<17} {'last success':<17} agency")
    for row in rows:
        print(f"{row.key:<12} {row.status:<8} {row.platform:<10} {_when(row.last_poll_at):<17} "
              f"{_when(row.last_success_at):<17} {row.agency}" + (f"  ({redact(row.last_error)})" if row.last_error
                                                                  else ""))
    if args.action == "check":
        from .sites_discover import print_shortcuts

        print_shortcuts(sessions)
    return EXIT_OK


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else "-"


def cmd_sandbox(args: argparse.Namespace) -> int:
    import signal
    from datetime import datetime

    from sandbox.sites.server import serve
    from sandbox.sites.world import build_world

    world = build_world(args.sites, args.seed, datetime.fromisoformat(args.now) if args.now else None)
    server = serve(world, port=args.port)
    print(f"sandbox: {args.sites} sites at {server.base_url}  (registry: {server.base_url}/__sandbox__/sites.yaml, "
          f"manifest: /__sandbox__/manifest, stats: /__sandbox__/stats; clock {world.now.isoformat()})", flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    server.shutdown()
    return EXIT_OK


def cmd_subscribe(args: argparse.Namespace) -> int:
    from notifier.subscriptions import describe, subscribe

    if args.channel in ("wecom", "dingtalk", "feishu"):
        return _subscribe_robot(args)
    if args.secret:
        raise SystemExit("nianbao: --secret is for a work-chat robot (--channel wecom, dingtalk or feishu)")
    settings, _, sessions, _ = _open_store(args)
    with sessions() as session, session.begin():
        try:
            row = subscribe(session, channel=args.channel, address=args.address, regions=args.region,
                            agencies=args.agency, kinds=args.kinds.split(",") if args.kinds else None,
                            now=settings.clock()())
        except (ValueError, LookupError) as exc:
            raise SystemExit(f"nianbao: {exc}") from None
        print("subscribed: " + describe(row))
    return EXIT_OK


def _subscribe_robot(args: argparse.Namespace) -> int:
    """A work-chat robot, by the web sign-up's rules: a public webhook address (or one in
    NIANBAO_WEBHOOK_ALLOWED_HOSTS), a test message sent at once, and the subscription stored active only when
    the platform answered with its own success code; the same scope at the same robot is replaced."""
    import secrets as random_tokens

    from notifier.channels import SendFailed
    from notifier.subscriptions import describe, subscribe, supersede
    from notifier.workchat import ROBOTS, BadWebhook, check_webhook
    from storage.models import Subscription

    settings, _, sessions, _ = _open_store(args)
    allowed = frozenset(host.lower() for host in settings.webhook_allowed_hosts)
    try:
        address = check_webhook(args.channel, args.address, args.secret, allowed)
    except BadWebhook as exc:
        reason = {"not-webhook": f"not a {ROBOTS[args.channel].label} webhook URL (copy it whole from the "
                                 "group robot's settings)",
                  "private": "the webhook points at a private, loopback or unresolvable address (allow a "
                             "host with NIANBAO_WEBHOOK_ALLOWED_HOSTS)",
                  "secret": "the signing secret is malformed (it starts with SEC)"}[exc.problem]
        raise SystemExit(f"nianbao: {reason}") from None
    with sessions() as session, session.begin():  # the scope is checked before anything is sent
        try:
            row = subscribe(session, channel=args.channel, address=address, regions=args.region,
                            agencies=args.agency, kinds=args.kinds.split(",") if args.kinds else None,
                            now=settings.clock()(), active=False, origin="cli", nonce=random_tokens.token_hex(8))
        except (ValueError, LookupError) as exc:
            raise SystemExit(f"nianbao: {exc}") from None
        subscription_id = row.id
    robot = ROBOTS[args.channel](None, allowed_hosts=allowed)
    try:
        robot.test(address)
    except SendFailed as exc:
        with sessions() as session, session.begin():
            failed = session.get(Subscription, subscription_id)
            if failed is not None:
                session.delete(failed)  # not kept, and neither is the webhook's key
        print(f"nianbao: the test message was not accepted, nothing subscribed: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    with sessions() as session, session.begin():
        stored = session.get(Subscription, subscription_id)
        assert stored is not None
        moment = settings.clock()()
        stored.active, stored.confirmed_at, stored.created_at = True, moment, moment
        supersede(session, stored, moment)
        shown = describe(stored)
    print(f"test message accepted; subscribed: {shown}")
    return EXIT_OK


def cmd_subscriptions(args: argparse.Namespace) -> int:
    from notifier.subscriptions import active_subscriptions, describe, remove_subscription

    _, _, sessions, _ = _open_store(args)
    with sessions() as session, session.begin():
        if args.remove is not None:
            if not remove_subscription(session, args.remove):
                raise SystemExit(f"nianbao: no active subscription #{args.remove}")
            print(f"unsubscribed #{args.remove}")
            return EXIT_OK
        for row in active_subscriptions(session):
            print(describe(row))
    return EXIT_OK


def cmd_dispatch(args: argparse.Namespace) -> int:
    import time

    from notifier.outbox import dispatch

    from .daemon import build_channels

    settings, _, sessions, _ = _open_store(args)
    channels, _ = build_channels(settings)
    clock = settings.clock()
    while True:
        result = dispatch(sessions, channels, clock, links=settings.public_links())
        if result.sent or result.deferred or result.failed:
            print(f"dispatch: {result.sent} sent, {result.deferred} to retry, {result.failed} given up",
                  file=sys.stderr)
        if args.once:
            return EXIT_OK
        time.sleep(args.interval)


def cmd_digest(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from checks.deadlines import load_calendar
    from notifier.channels import SendFailed
    from notifier.digest import collect, last_week, render, send, with_links
    from notifier.subscriptions import scope_of
    from storage.models import Subscription

    settings, _, sessions, _ = _open_store(args)
    week = args.week or last_week(settings.clock()())
    smtp = settings.smtp()
    if args.send and (smtp is None or not args.to):
        raise SystemExit("nianbao: --send needs --to and NIANBAO_SMTP_HOST")
    # a sent digest carries what the monitor's carry: the one-click unsubscribe (RFC 8058) and manage links,
    # signed with the dashboard's key
    links = settings.signed_links() if args.send else settings.public_links()
    with sessions() as session:
        scope = scope_of(session, "email", args.to) if args.to else None
        data = collect(session, scope or _everything(), week, load_calendar(), links)
        first = session.scalars(select(Subscription).where(
            Subscription.channel == "email", Subscription.address == args.to, Subscription.active.is_(True))
            .order_by(Subscription.id)).first() if args.to else None
        with_links(data, links, first)
    if args.send:
        assert smtp is not None and args.to
        if first is None:
            print(f"nianbao: {args.to} has no e-mail subscription: the digest covers everything and has no "
                  "unsubscribe link", file=sys.stderr)
        try:
            print(f"sent to {args.to}: {send(data, args.to, smtp)}")
        except SendFailed as exc:
            print(f"nianbao: {exc}", file=sys.stderr)
            return EXIT_UNREADABLE
        return EXIT_OK
    print(render(data)[0])
    return EXIT_OK


def cmd_bot(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from notifier.telegram_bot import TelegramBot, TokenRejected, run_bot

    settings = _settings(args)
    if settings.telegram_token is None:
        raise SystemExit("nianbao: set NIANBAO_TELEGRAM_TOKEN or telegram_token in the --config file (and "
                         "NIANBAO_TELEGRAM_BASE_URL for a local Bot API)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    # httpx logs every request URL at INFO, and Telegram's URLs contain the token: keep it out of the logs
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from domain.redact import install_log_redaction

    install_log_redaction()
    _, _, sessions, _ = _open_store(args)
    bot = TelegramBot(sessions, settings.clock(), settings.telegram_admins)
    token = settings.telegram_token.get_secret_value()

    async def until_signalled() -> None:
        import signal

        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await run_bot(bot, token, settings.telegram_base_url, stop=stop)

    try:
        asyncio.run(until_signalled())
    except TokenRejected as exc:
        raise SystemExit(f"nianbao: {exc}") from None
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from .status import status_text

    _, _, sessions, _ = _open_store(args)
    with sessions() as session:
        print(status_text(session))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("httpx", "telegram", "uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: already running" is the design
    from domain.redact import install_log_redaction

    install_log_redaction()
    if args.demo:
        from .demo import run_demo

        return run_demo(sites=args.demo_sites, port=args.demo_port, seed=args.demo_seed,
                        data_dir=Path(args.data_dir) if args.data_dir else None, poll_seconds=args.demo_poll)
    from .daemon import data_dir_lock, serve_forever

    settings, engine, sessions, _ = _open_store(args, migrate=True)
    logging.getLogger("nianbao.monitor").info("settings: %s", settings.describe())
    lock = data_dir_lock(settings.data_dir / "monitor.lock")
    try:
        return serve_forever(settings, engine, sessions)
    finally:
        lock.close()


def cmd_serve(args: argparse.Namespace) -> int:
    from .web_thread import uvicorn_server

    settings, _, sessions, _ = _open_store(args)
    host, port = args.host or settings.web_host, args.port if args.port is not None else settings.web_port
    print(f"dashboard at http://{host}:{port}/ (" + ("admin login enabled" if settings.admin_password else
                                                      "read-only: set NIANBAO_ADMIN_PASSWORD to decide findings")
          + ")", file=sys.stderr, flush=True)
    uvicorn_server(settings, sessions, settings.clock(), host, port).run()
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    from checks.deadlines import load_calendar
    from storage.sweeps import sweep_deadlines

    settings, _, sessions, _ = _open_store(args)
    found = sweep_deadlines(sessions, load_calendar(), settings.clock()())
    print(f"sweep: {len(found)} report(s) newly missing" + (": " + ", ".join(found) if found else ""))
    return EXIT_OK


def _everything():  # type: ignore[no-untyped-def]
    from notifier.matching import Scope

    return Scope()


def _add_limit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-mb", type=float, default=50, help="largest file read, in MB (default 50)")
    parser.add_argument("--max-pages", type=int, default=300, help="most pages read per document (default 300)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per document, OCR included (default 120)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nianbao", description="Monitor Chinese government information-"
                                     "disclosure annual reports (政府信息公开工作年度报告).")
    parser.add_argument("--config", help="a TOML file of settings (also NIANBAO_CONFIG); NIANBAO_* variables "
                                         "override it")
    commands = parser.add_subparsers(dest="command", required=True)

    parse = commands.add_parser("parse", help="read report files into the canonical record")
    parse.add_argument("paths", nargs="+", help="report files: HTML, PDF (text or scanned), DOCX, DOC, text")
    parse.add_argument("--json", action="store_true", help="print nianbao.report/1 JSON (JSON Lines for several)")
    parse.add_argument("--source", action="store_true",
                       help="with --json: include the `source` block (format, pages, body text, evidence)")
    _add_limit_options(parse)
    parse.set_defaults(handler=cmd_parse)

    check = commands.add_parser("check", help="parse report files and list what is wrong with them")
    check.add_argument("paths", nargs="+", help="report files")
    check.add_argument("--json", action="store_true",
                       help='print {"report": ..., "findings": [...]} per file (JSON Lines for several)')
    check.add_argument("--source", action="store_true", help="with --json: include the record's `source` block")
    check.add_argument("--history", nargs="+", metavar="PATH",
                       help="the same agency's reports of other years (for CARRY-OVER, IN-FORCE-DRIFT, "
                            "DUPLICATE-CONTENT)")
    check.add_argument("--kind", choices=("department", "government", "township", "other"),
                       help="agency kind for the deadline (default: inferred from the agency's name)")
    check.add_argument("--region", help="行政区划代码 of the agency, for regional deadline rules")
    _add_limit_options(check)
    check.set_defaults(handler=cmd_check)

    db = commands.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=("upgrade", "check"), help="upgrade: create or migrate the schema; check: "
                                                                "verify every archived file against its sha256")
    db.set_defaults(handler=cmd_db)

    ingest = commands.add_parser("ingest", help="store report files: archive, parse, check, record events")
    ingest.add_argument("paths", nargs="+")
    ingest.add_argument("--agency", required=True, help="the issuing body, e.g. 淮安市洪泽区人民政府")
    ingest.add_argument("--region", help="行政区划代码 (GB/T 2260)")
    ingest.add_argument("--kind", choices=("department", "government", "township", "other"),
                        help="agency kind for deadlines (default: inferred from the name)")
    ingest.add_argument("--url", help="where the file was published (default: its file:// path)")
    ingest.add_argument("--published", help="the page's 发布时间, YYYY-MM-DD")
    ingest.set_defaults(handler=cmd_ingest)

    reports = commands.add_parser("reports", help="list stored reports")
    reports.add_argument("--agency", help="part of the agency's name")
    reports.add_argument("--region", help="行政区划代码 prefix")
    reports.add_argument("--year", type=int)
    reports.add_argument("--json", action="store_true")
    reports.set_defaults(handler=cmd_reports)

    findings = commands.add_parser("findings", help="list findings, or confirm / dismiss one")
    findings.add_argument("action", nargs="?", choices=("list", "dismiss", "confirm"), default="list")
    findings.add_argument("fingerprint", nargs="?",
                          help="with dismiss/confirm: the finding's fingerprint (or a unique prefix)")
    findings.add_argument("--severity", choices=[s.value for s in Severity])
    findings.add_argument("--status", choices=[s.value for s in FindingStatus])
    findings.add_argument("--note", help="why (with dismiss/confirm)")
    findings.add_argument("--by", default=os.environ.get("USER", "cli"), help="who decided (default: $USER)")
    findings.add_argument("--json", action="store_true")
    findings.set_defaults(handler=cmd_findings)

    export = commands.add_parser("export", help="export stored tables, one row per report and cell")
    export.add_argument("--format", choices=("csv", "xlsx", "jsonl"), default="csv")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    export.set_defaults(handler=cmd_export)

    crawl = commands.add_parser("crawl", help="find new reports on the registered sites and store them")
    crawl.add_argument("--sites", help="site registry: a YAML file or URL (default $NIANBAO_SITES)")
    crawl.add_argument("--site", help="crawl only this site key")
    crawl.add_argument("--once", action="store_true", help="one pass, then exit (default: poll forever)")
    crawl.add_argument("--interval", type=float, default=3600, help="seconds between passes without --once")
    crawl.add_argument("--revisit-hours", type=float, default=24,
                       help="re-check stored reports that are older than this, to notice silent edits (default 24)")
    crawl.add_argument("--allow-host", action="append",
                       help="a host that may resolve to a private address (the sandbox: 127.0.0.1)")
    crawl.add_argument("--json", action="store_true", help="with --once: print the pass's summary as one JSON "
                                                          "object (what `nianbao run` reads)")
    crawl.add_argument("--slot-per-site", action="store_true",
                       help="politeness per registry site rather than per host (for the sandbox, whose simulated "
                            "sites share one host)")
    crawl.set_defaults(handler=cmd_crawl)

    sites = commands.add_parser("sites", help="site status: list, or check (read every list page now); discover "
                                "registry entries from portal URLs, or import an agencies CSV")
    sites.add_argument("action", choices=("list", "check", "discover", "import"), nargs="?", default="list")
    sites.add_argument("--sites", help="with check: the registry (default $NIANBAO_SITES)")
    sites.add_argument("--site", help="with check: only this site key")
    sites.add_argument("--allow-host", action="append", help="as for crawl")
    from .sites_discover import add_arguments as add_discover_arguments

    add_discover_arguments(sites)
    sites.set_defaults(handler=cmd_sites)

    sandbox = commands.add_parser("sandbox", help="serve simulated agency sites on 127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--sites", type=int, default=20, help="how many sites (default 20)")
    sandbox.add_argument("--seed", type=int, default=1)
    sandbox.add_argument("--now", help="the sandbox clock, ISO (default shortly before the 31 March deadline)")
    sandbox.set_defaults(handler=cmd_sandbox)

    sub = commands.add_parser("subscribe", help="follow regions, agencies or everything for chosen alert kinds")
    sub.add_argument("--channel", choices=("console", "email", "telegram", "webhook", "wecom", "dingtalk", "feishu"),
                     required=True, help="wecom / dingtalk / feishu: a group robot, which gets a test message at "
                                         "once and is subscribed only if the platform accepted it")
    sub.add_argument("--address", required=True,
                     help="chat id, e-mail address, a robot's webhook URL (wecom, dingtalk, feishu), or an Apprise "
                          "URL for --channel webhook (json://…)")
    sub.add_argument("--secret", help="the robot's signing secret (钉钉 加签 / 飞书 签名校验), SEC…")
    sub.add_argument("--region", action="append", help="行政区划代码 (prefix) or a province's name; repeatable")
    sub.add_argument("--agency", action="append", help="an agency's name (or part of it); repeatable")
    sub.add_argument("--kinds", help="comma-separated: new,errors,warnings,deadlines,changes,admin "
                                     "(default: all but admin)")
    sub.set_defaults(handler=cmd_subscribe)

    subs = commands.add_parser("subscriptions", help="list active subscriptions, or --remove ID")
    subs.add_argument("--remove", type=int, metavar="ID")
    subs.set_defaults(handler=cmd_subscriptions)

    dispatch_ = commands.add_parser("dispatch", help="send pending alerts (console; e-mail when NIANBAO_SMTP_HOST "
                                                     "is set), retrying failures with backoff")
    dispatch_.add_argument("--once", action="store_true", help="one pass, then exit")
    dispatch_.add_argument("--interval", type=float, default=10, help="seconds between passes (default 10)")
    dispatch_.set_defaults(handler=cmd_dispatch)

    digest = commands.add_parser("digest", help="the weekly digest: print its text, or e-mail it with --send")
    digest.add_argument("--week", help="ISO week, e.g. 2025-W12 (default: last week)")
    digest.add_argument("--to", help="an e-mail subscriber: the digest covers their subscriptions' scope")
    digest.add_argument("--send", action="store_true", help="send it over SMTP (NIANBAO_SMTP_HOST …)")
    digest.set_defaults(handler=cmd_digest)

    bot = commands.add_parser("bot", help="run the Telegram bot (NIANBAO_TELEGRAM_TOKEN, _BASE_URL, _ADMINS)")
    bot.set_defaults(handler=cmd_bot)

    status = commands.add_parser("status", help="watched sites, last poll, reports by year, findings, alerts")
    status.set_defaults(handler=cmd_status)

    run = commands.add_parser("run", help="the continuous monitor: polls, sweeps, alerts, digests, bot (until "
                                          "SIGTERM); --demo runs it offline against the sandbox")
    run.add_argument("--demo", action="store_true", help="offline demo: sandbox sites, a clock just before a "
                                                         "deadline, alerts on the console, data in a temp dir")
    run.add_argument("--demo-sites", type=int, default=20, help="with --demo: how many sandbox sites (20)")
    run.add_argument("--demo-port", type=int, default=8765, help="with --demo: the sandbox's port (8765)")
    run.add_argument("--demo-seed", type=int, default=7, help=argparse.SUPPRESS)
    run.add_argument("--demo-poll", type=float, default=20.0, help="with --demo: seconds between polls (20)")
    run.add_argument("--data-dir", help="with --demo: keep the demo's data here instead of a temp dir")
    run.set_defaults(handler=cmd_run)

    serve = commands.add_parser("serve", help="the web dashboard and its JSON API (NIANBAO_WEB_HOST/_PORT, "
                                              "NIANBAO_ADMIN_PASSWORD for confirming / dismissing findings)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.set_defaults(handler=cmd_serve)

    worker = commands.add_parser("worker", help="a worker on the job queue (PostgreSQL): polls, parses, alerts, "
                                                "maintenance — any number, on any number of machines")
    worker.add_argument("--queues", help="comma-separated, of poll,parse,alerts,maintenance (default: all)")
    worker.add_argument("--concurrency", type=int, default=1, help="jobs run at once by this worker (1)")
    worker.add_argument("--name", help="the worker's name in `nianbao status` (default host:pid)")
    worker.set_defaults(handler=cmd_worker)

    sweep = commands.add_parser("sweep", help="deadline sweep: record MISSING for monitored agencies whose "
                                              "report is overdue")
    sweep.set_defaults(handler=cmd_sweep)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from domain.redact import install_excepthook

    from .errors import ConfigError  # not .config: `parse` and `check` never load pydantic

    install_excepthook()  # a traceback that escapes still never shows a token or a password
    args = build_parser().parse_args(argv)
    if args.config:
        os.environ["NIANBAO_CONFIG"] = args.config  # crawl children read the same file
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        raise SystemExit(f"nianbao: configuration: {exc}") from None
    except BrokenPipeError:
        # the reader went away (`nianbao reports | head`): not an error; keep Python from complaining at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
