"""Subscriptions, the outbox and its dispatcher: events reach exactly their subscribers, once; sending
failures are retried; a crash loses nothing. E-mail goes through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from conftest import Clock, Inbox
from conftest import free_port as _free_port
from sqlalchemy import select

from notifier.channels import ConsoleChannel, EmailChannel, SendFailed, SmtpSettings
from notifier.matching import Scope, alert_kind, matches, region_code
from notifier.messages import split
from notifier.outbox import LEASE, dispatch
from notifier.subscriptions import subscribe, unsubscribe
from sandbox.reportgen import generate, render_html
from sandbox.reportgen.plant import PLANTS
from storage import Archive, Origin, ingest, make_engine, session_factory, upgrade
from storage.models import Delivery, Event

T0 = datetime(2024, 2, 1, 9, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(engine)
    return session_factory(engine), Archive(tmp_path / "archive")


def test_matching() -> None:
    assert region_code("江苏省") == "32" and region_code("320800") == "3208" and region_code("320813") == "320813"
    scope = Scope.from_json({"regions": ["江苏"], "agencies": []})
    assert scope.covers("淮安市洪泽区人民政府", "320813") and not scope.covers("北京市某局", "110102")
    assert Scope.from_json({"agencies": ["洪泽区"]}).covers("淮安市洪泽区人民政府", None)
    assert alert_kind("FINDING", {"severity": "error"}) == "errors"
    assert alert_kind("FINDING", {"severity": "notice"}) == "warnings"
    assert not matches({}, ["new"], "FINDING", {"severity": "error"}, "x", "11")
    assert matches({}, ["admin"], "SPIDER_BROKEN", {}, None, None)


def test_long_messages_are_split_under_the_limit() -> None:
    text = "\n".join("第" + str(i) + "行：" + "数" * 300 for i in range(40))
    parts = split(text, 4096)
    assert all(len(p) <= 4096 for p in parts) and "\n".join(parts) == text


def _ingest(sessions, archive, agency: str, region: str, seed: int, planted: str | None = None):  # type: ignore[no-untyped-def]
    spec = generate(random.Random(seed), agency=agency)
    if planted:
        result = PLANTS[planted](spec, random.Random(seed))
        assert result is not None
        spec = result.spec
    return ingest(sessions, archive, render_html(spec),
                  Origin(agency=agency, url=f"https://x.example/{agency}/{seed}.htm", seen_at=T0, region=region))


def test_events_reach_exactly_their_subscribers_once(store) -> None:  # type: ignore[no-untyped-def]
    sessions, archive = store
    with sessions() as session, session.begin():
        subscribe(session, channel="console", address="jiangsu", regions=["江苏省"], kinds=["new", "errors"],
                  now=T0 - timedelta(days=1))
        subscribe(session, channel="console", address="beijing", regions=["11"], kinds=["new"],
                  now=T0 - timedelta(days=1))
        subscribe(session, channel="console", address="everything", kinds=["errors"], now=T0 - timedelta(days=1))
    _ingest(sessions, archive, "淮安市洪泽区人民政府", "320813", 1, planted="T4-BLOCK")
    _ingest(sessions, archive, "北京市西城区教育局", "110102", 2)
    out = io.StringIO()
    clock = Clock()
    first = dispatch(sessions, {"console": ConsoleChannel(out)}, clock)
    again = dispatch(sessions, {"console": ConsoleChannel(out)}, clock)
    assert (first.sent, again.sent) == (4, 0)
    printed = out.getvalue()
    assert printed.count("→ jiangsu") == 2  # the new report and its error
    assert printed.count("→ beijing") == 1 and "北京市西城区教育局" in printed
    assert printed.count("→ everything") == 1 and "表四复议诉讼数字不平" in printed and "T4-BLOCK" not in printed


def test_a_new_subscription_is_not_flooded_with_history(store) -> None:  # type: ignore[no-untyped-def]
    sessions, archive = store
    _ingest(sessions, archive, "某市某局", "320100", 3)
    with sessions() as session, session.begin():
        subscribe(session, channel="console", address="late-comer", now=T0 + timedelta(hours=1))
    assert dispatch(sessions, {"console": ConsoleChannel(io.StringIO())}, Clock()).sent == 0


class FlakyChannel:
    """A channel in front of the console that is down for its first `failures` sends."""

    name = "console"

    def __init__(self, failures: int, out: io.StringIO) -> None:
        self.failures, self.console = failures, ConsoleChannel(out)

    def send(self, address: str, text: str) -> str:
        if self.failures > 0:
            self.failures -= 1
            raise SendFailed("service unavailable")
        return self.console.send(address, text)


def test_failures_are_retried_with_backoff_and_nothing_is_lost(store) -> None:  # type: ignore[no-untyped-def]
    sessions, archive = store
    with sessions() as session, session.begin():
        subscribe(session, channel="console", address="a", now=T0 - timedelta(days=1))
    _ingest(sessions, archive, "某局", "11", 4, planted="T3-BALANCE")
    out = io.StringIO()
    channel = FlakyChannel(5, out)
    clock = Clock()
    sent = 0
    for _ in range(30):
        sent += dispatch(sessions, {"console": channel}, clock).sent
        clock.now += timedelta(minutes=10)
    with sessions() as session:
        deliveries = session.scalars(select(Delivery)).all()
    assert sent == len(deliveries) == out.getvalue().count("→ a") >= 2
    assert all(d.status == "sent" and d.receipt for d in deliveries)


class CrashingChannel:
    """Sends, then the process 'dies' before the outbox can record it."""

    name = "console"

    def __init__(self, out: io.StringIO) -> None:
        self.console = ConsoleChannel(out)

    def send(self, address: str, text: str) -> str:
        self.console.send(address, text)
        raise SystemExit("killed between send and commit")


def test_a_crash_between_send_and_commit_resends_only_that_delivery(store) -> None:  # type: ignore[no-untyped-def]
    sessions, archive = store
    with sessions() as session, session.begin():
        subscribe(session, channel="console", address="a", kinds=["new"], now=T0 - timedelta(days=1))
    _ingest(sessions, archive, "某局", "11", 5)
    out = io.StringIO()
    clock = Clock()
    with pytest.raises(SystemExit):
        dispatch(sessions, {"console": CrashingChannel(out)}, clock)
    assert dispatch(sessions, {"console": ConsoleChannel(out)}, clock).sent == 0  # leased: not sent at once
    clock.now += LEASE + timedelta(seconds=1)
    assert dispatch(sessions, {"console": ConsoleChannel(out)}, clock).sent == 1
    assert out.getvalue().count("→ a") == 2  # the documented duplicate window, and nothing lost


def test_unsubscribe_stops_alerts(store) -> None:  # type: ignore[no-untyped-def]
    sessions, archive = store
    with sessions() as session, session.begin():
        subscribe(session, channel="console", address="a", now=T0 - timedelta(days=1))
        assert unsubscribe(session, "console", "a") == 1
    _ingest(sessions, archive, "某局", "11", 6)
    assert dispatch(sessions, {"console": ConsoleChannel(io.StringIO())}, Clock()).sent == 0


def test_email_alerts_over_real_smtp_survive_an_outage(store) -> None:  # type: ignore[no-untyped-def]
    sessions, archive = store
    port = _free_port()
    with sessions() as session, session.begin():
        subscribe(session, channel="email", address="reporter@example.org", kinds=["new"],
                  now=T0 - timedelta(days=1))
    _ingest(sessions, archive, "某局", "11", 7)
    from notifier.links import PublicLinks

    channel = EmailChannel(SmtpSettings(host="127.0.0.1", port=port, timeout=5),
                           PublicLinks("http://dash.example", "k"))
    clock = Clock()
    down = dispatch(sessions, {"email": channel}, clock)  # nothing listens yet: deferred, not lost
    assert (down.sent, down.deferred) == (0, 1)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        clock.now += timedelta(minutes=5)
        assert dispatch(sessions, {"email": channel}, clock).sent == 1
    finally:
        controller.stop()
    (message,) = inbox.messages
    assert message["To"] == "reporter@example.org" and "新报告" in message["Subject"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "某局" in text and "一键退订：http://dash.example/unsubscribe?t=" in text
    assert message["List-Unsubscribe"].startswith("<http://dash.example/unsubscribe?t=")


def test_weekly_digest_has_exactly_the_weeks_reports_and_arrives_by_smtp(store) -> None:  # type: ignore[no-untyped-def]
    from checks.deadlines import load_calendar
    from notifier.digest import collect, render, send

    sessions, archive = store
    with sessions() as session, session.begin():
        subscribe(session, channel="email", address="office@example.org", regions=["3208"],
                  now=T0 - timedelta(days=30))
    in_week = datetime(2024, 3, 13, 10, tzinfo=UTC)  # 2024-W11
    for seed, (agency, region, seen, planted) in enumerate([
            ("淮安市洪泽区教育局", "320813", in_week, "T4-BLOCK"),
            ("淮安市洪泽区财政局", "320813", in_week + timedelta(days=1), None),
            ("淮安市洪泽区卫生健康委员会", "320813", in_week - timedelta(days=10), None),  # an earlier week
            ("北京市西城区教育局", "110102", in_week, None)]):  # out of scope
        spec = generate(random.Random(seed), agency=agency, year=2023, template="2021")
        if planted:
            result = PLANTS[planted](spec, random.Random(seed))
            assert result is not None
            spec = result.spec
        ingest(sessions, archive, render_html(spec), Origin(agency=agency, url=f"https://x.example/{seed}.htm",
                                                            seen_at=seen, region=region))
    from notifier.subscriptions import scope_of

    with sessions() as session:
        scope = scope_of(session, "email", "office@example.org")
        assert scope is not None
        data = collect(session, scope, "2024-W11", load_calendar())
    assert sorted(r["agency"] for r in data.reports) == ["淮安市洪泽区教育局", "淮安市洪泽区财政局"]
    assert data.counts["error"] == 1 and "T4-BLOCK" not in str(data.findings) and "表四" in str(data.findings)
    text, html = render(data)
    assert "淮安市洪泽区财政局" in text and "北京" not in text and "卫生健康" not in text.split("【逾期情况】")[0]
    assert "cid:" in html and data.chart
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        send(data, "office@example.org", SmtpSettings(host="127.0.0.1", port=port, timeout=5))
    finally:
        controller.stop()
    (mail,) = inbox.messages
    types = [part.get_content_type() for part in mail.walk()]
    assert "text/plain" in types and "text/html" in types and "image/png" in types
    assert "周报" in mail["Subject"]
    assert mail["List-Unsubscribe"] is None  # no subscription link given: no unsubscribe header promising one


def test_webhook_channel_posts_through_apprise_to_a_local_json_hook(store) -> None:  # type: ignore[no-untyped-def]
    import json as json_
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from notifier.channels import WebhookChannel

    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            received.append(json_.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sessions, archive = store
    url = f"json://127.0.0.1:{server.server_address[1]}/robot"
    with sessions() as session, session.begin():
        subscribe(session, channel="webhook", address=url, kinds=["new"], now=T0 - timedelta(days=1))
    _ingest(sessions, archive, "淮安市洪泽区人民政府", "320813", 9)
    try:
        assert dispatch(sessions, {"webhook": WebhookChannel()}, Clock()).sent == 1
    finally:
        server.shutdown()
    (payload,) = received
    assert "新报告" in payload["title"] and "淮安市洪泽区人民政府" in payload["message"]
    with pytest.raises(SendFailed):
        WebhookChannel().send("nonsense-scheme://x", "t")


def test_a_new_sites_backlog_is_stored_but_not_alerted(store) -> None:  # type: ignore[no-untyped-def]
    """Adding a site must not flood subscribers with its old reports: on the site's first read, reports about
    years before the one being reported on now are kept (and checked) without alerts; this season's are
    alerted as usual, and so is anything found on later reads."""
    sessions, archive = store
    with sessions() as session, session.begin():
        subscribe(session, channel="console", address="all", now=T0 - timedelta(days=1))

    def found(year: int, seed: int, *, first_read: bool) -> list[str]:
        spec = PLANTS["T3-BALANCE"](generate(random.Random(seed), agency="某区财政局", year=year),
                                    random.Random(seed))
        assert spec is not None
        result = ingest(sessions, archive, render_html(spec.spec),
                        Origin(agency="某区财政局", url=f"https://x.example/{year}-{seed}.htm", seen_at=T0,
                               region="320813", first_read=first_read))
        return result.events

    assert {"NEW", "FINDING"} <= set(found(2021, 1, first_read=True))  # T0 is in 2024: 2021 is history
    assert {"NEW", "FINDING"} <= set(found(2023, 2, first_read=True))  # the reports due this spring
    assert {"NEW", "FINDING"} <= set(found(2020, 3, first_read=False))  # an old report found later
    with sessions() as session:
        alerted = {(e.payload.get("year"), e.kind) for e in session.scalars(select(Event))
                   if session.scalar(select(Delivery.id).where(Delivery.event_id == e.id))}
        quiet = [e for e in session.scalars(select(Event)) if e.payload.get("backlog")]
    assert {(2023, "NEW"), (2023, "FINDING"), (2020, "NEW"), (2020, "FINDING")} <= alerted
    assert not {k for k in alerted if k[0] == 2021}
    assert quiet and all(e.payload["year"] == 2021 for e in quiet)
