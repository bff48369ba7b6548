"""Reaching people without a shell: sign-up on the dashboard by e-mail (double opt-in through a real SMTP
server, aiosmtpd) and by work-chat robot (local emulators answering like 企业微信, 钉钉 and 飞书), alerts with
their numbers and links in every channel, RFC 8058 one-click unsubscribe, refused private webhooks and
rate limits — all against a live dashboard (uvicorn) and, for the form, chromium."""

from __future__ import annotations

import io
import json
import random
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from conftest import Clock, Inbox, free_port
from sqlalchemy import select
from storage_fixtures import database_url  # noqa: F401  (the fixture)

from dashboard.app import create_app
from dashboard.subscribe import ReachSettings
from notifier.channels import EmailChannel, SmtpSettings
from notifier.links import PublicLinks
from notifier.outbox import dispatch
from notifier.workchat import robot_channels
from sandbox.reportgen import generate, render_html
from sandbox.reportgen.plant import PLANTS
from sandbox.workchat import RobotServer
from storage import Archive, make_engine, session_factory, upgrade
from storage.ingest import Origin, ingest
from storage.models import Delivery, Subscription

SECRET = "test-web-secret"
T0 = datetime(2025, 2, 10, 9, tzinfo=UTC)
CHROMIUM = Path("/usr/bin/chromium")


def report(agency: str, year: int, seed: int, planted: str | None = "T3-BALANCE") -> bytes:
    spec = generate(random.Random(seed), agency=agency, year=year)
    if planted:
        result = PLANTS[planted](spec, random.Random(seed))
        assert result is not None
        spec = result.spec
    return render_html(spec, published=f"{year + 1}-01-15")


class World:
    """A live dashboard over a fresh database, an SMTP server and the robot emulators."""

    def __init__(self, tmp: Path, url: str | None = None) -> None:
        engine = make_engine(url or f"sqlite:///{tmp / 'n.db'}")
        self.engine = engine
        upgrade(engine)
        self.sessions = session_factory(engine)
        self.archive = Archive(tmp / "archive")
        self.clock = Clock(T0)
        self.inbox = Inbox()
        self.smtp_port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.smtp_port)
        self.controller.start()
        self.smtp = SmtpSettings(host="127.0.0.1", port=self.smtp_port, sender="alerts@nianbao.example", timeout=5)
        self.robots = RobotServer()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.links = PublicLinks(self.base, SECRET)
        app = create_app(self.sessions, self.archive, clock=self.clock, admin_password=None, secret_key=SECRET)
        app.state.reach = ReachSettings(smtp=self.smtp, public_url=self.base, per_address=3, per_client=50,
                                        webhook_allowed_hosts=frozenset({"127.0.0.1"}))
        self.reach: ReachSettings = app.state.reach
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        self.seed = 0

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.controller.stop()
        self.robots.close()

    def channels(self) -> dict[str, Any]:
        return {"email": EmailChannel(self.smtp, self.links),
                **robot_channels(self.links, allowed_hosts=frozenset({"127.0.0.1"}))}

    def publish(self, agency: str, region: str, planted: str | None = "T3-BALANCE") -> int:
        self.seed += 1
        self.clock.now += timedelta(minutes=10)
        result = ingest(self.sessions, self.archive, report(agency, 2024, self.seed, planted),
                        Origin(agency=agency, region=region, url=f"https://gov.example/{region}/{self.seed}.htm",
                               seen_at=self.clock.now))
        assert result.report_id is not None
        return result.report_id

    def dispatch(self) -> int:
        self.clock.now += timedelta(minutes=1)
        return dispatch(self.sessions, self.channels(), self.clock).sent


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:  # noqa: F811  (SQLite and PostgreSQL)
    w = World(tmp_path, database_url)
    try:
        yield w
    finally:
        w.close()
        w.engine.dispose()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def sign_up(client: httpx.Client, base: str, **fields: Any) -> httpx.Response:
    page = client.get(f"{base}/subscribe")
    assert page.status_code == 200 and "订阅提醒" in page.text
    data = {"csrf": csrf_of(page.text), "scope": "all", "kinds": ["errors"], "channel": "email", **fields}
    return client.post(f"{base}/subscribe", data=data)


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def link(text: str, path: str) -> str:
    match = re.search(r"(http://127\.0\.0\.1:\d+" + re.escape(path) + r"[^\s<>\"]*)", text)
    assert match, f"no {path} link in: {text[:800]}"
    return match.group(1)


def test_email_sign_up_confirm_alert_one_click_unsubscribe(world: World) -> None:
    with httpx.Client() as browser:
        answer = sign_up(browser, world.base, scope="region", region="淮安市", email="Reader@Example.org")
        assert answer.status_code == 200 and "请查收确认邮件" in answer.text
    # nothing is active, nothing is sent before the click — not even for an error found meanwhile
    with world.sessions() as session:
        (row,) = session.scalars(select(Subscription)).all()
        assert not row.active and row.scope == {"regions": ["3208"], "agencies": []}
    world.publish("淮安市洪泽区财政局", "320813")
    assert world.dispatch() == 0
    (confirmation,) = world.inbox.messages
    assert confirmation["To"] == "reader@example.org" and "确认" in confirmation["Subject"]
    confirm = link(text_of(confirmation), "/subscribe/confirm")
    assert confirm in html_of(confirmation).replace("&amp;", "&")

    with httpx.Client() as browser:  # the person opens the link: a page with a button (mail scanners only GET)
        page = browser.get(confirm)
        assert page.status_code == 200 and "确认订阅" in page.text
        with world.sessions() as session:
            assert not session.scalars(select(Subscription)).one().active
        done = browser.post(confirm, data={"csrf": csrf_of(page.text)})
        assert done.status_code == 200 and "订阅已确认" in done.text

    inside = world.publish("淮安市清江浦区教育局", "320812")
    world.publish("杭州市西湖区教育局", "330106")  # outside the scope
    assert world.dispatch() >= 1
    alerts = world.inbox.messages[1:]
    assert alerts and all("淮安市清江浦区教育局" in m["Subject"] for m in alerts)
    mail = alerts[0]
    body, page_html = text_of(mail), html_of(mail)
    for words in ("【错误】淮安市清江浦区教育局 2024年度报告", "位置：表三", "「", "规则：", "链接：https://gov.example/320812/"):
        assert words in body, (words, body)
    assert re.search(r"：-?\d+", body), body  # the numbers behind the finding
    dashboard = link(body, f"/reports/{inside}")
    assert httpx.get(dashboard).status_code == 200
    unsubscribe = mail["List-Unsubscribe"].strip("<>")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe in body and "一键退订" in page_html

    # RFC 8058: the mail client POSTs, with no cookie, no login, no CSRF token
    stopped = httpx.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    assert stopped.status_code == 200
    with world.sessions() as session:
        row = session.scalars(select(Subscription)).one()
        assert not row.active and row.stopped_at is not None
    count = len(world.inbox.messages)
    world.publish("淮安市淮阴区财政局", "320804")
    world.dispatch()
    assert len(world.inbox.messages) == count, "mail after unsubscribing"
    # a forged or altered token stops nothing and reveals nothing
    assert httpx.post(unsubscribe[:-3] + "xyz", data={"List-Unsubscribe": "One-Click"}).status_code == 404


def test_robot_sign_up_is_active_only_when_the_platform_accepted_the_test(world: World) -> None:
    hook = world.robots.add("dingtalk", "tok-1", secret="SECright")
    with httpx.Client() as browser:
        wrong = sign_up(browser, world.base, scope="region", region="淮安", channel="dingtalk", webhook=hook,
                        secret="SECwrong", kinds=["errors", "new"])
        assert wrong.status_code == 400 and "订阅未生效" in wrong.text and "加签" in wrong.text
        unknown = sign_up(browser, world.base, channel="wecom",
                          webhook=world.robots.url("wecom", "no-such-key"))
        assert unknown.status_code == 400 and "企业微信表示 Webhook 地址无效" in unknown.text
        with world.sessions() as session:
            assert session.scalars(select(Subscription)).all() == []  # nothing kept, not even the key
        right = sign_up(browser, world.base, scope="region", region="淮安", channel="dingtalk", webhook=hook,
                        secret="SECright", kinds=["errors"])
        assert right.status_code == 200 and "订阅已生效" in right.text
        assert "tok-1" not in right.text and "SECright" not in right.text
        again = sign_up(browser, world.base, scope="region", region="淮安市", channel="dingtalk", webhook=hook,
                        secret="SECright", kinds=["errors", "warnings"])  # the same group and scope again
        assert again.status_code == 200
    with world.sessions() as session:
        (active,) = session.scalars(select(Subscription).where(Subscription.active.is_(True))).all()
        assert active.kinds == ["errors", "warnings"]  # replaced, so nothing arrives twice
    test_message = world.robots.received("dingtalk", "tok-1")[0]
    assert "订阅测试" in str(test_message)
    world.publish("淮安市洪泽区财政局", "320813")
    assert world.dispatch() >= 1
    card = world.robots.received("dingtalk", "tok-1")[2]
    assert card["msgtype"] == "actionCard"
    text = card["actionCard"]["text"]
    assert "淮安市洪泽区财政局" in text and "表三" in text and "规则" in text
    buttons = {b["title"]: b["actionURL"] for b in card["actionCard"]["btns"]}
    assert buttons["原文"].startswith("https://gov.example/320813/")
    assert buttons["监测详情"].startswith(f"{world.base}/reports/")


def test_private_webhooks_and_floods_are_refused_and_nobody_learns_who_subscribes(world: World) -> None:
    world.reach.webhook_allowed_hosts = frozenset()  # as in production: 127.0.0.1 is private
    with httpx.Client() as browser:
        for url in (world.robots.add("wecom", "k1"), "http://10.1.2.3/cgi-bin/webhook/send?key=x",
                    "http://169.254.169.254/cgi-bin/webhook/send?key=x", "http://localhost/robot/send?access_token=a"):
            channel = "dingtalk" if "robot/send" in url else "wecom"
            answer = sign_up(browser, world.base, channel=channel, webhook=url)
            assert answer.status_code == 400 and "内部网络" in answer.text, url
    assert world.robots.requests == 0
    # at send time the address is resolved once, checked, and connected to as checked (no DNS rebinding)
    from crawler.ssrf import ForbiddenAddress
    from notifier.workchat import PinnedBackend

    with pytest.raises(ForbiddenAddress):
        PinnedBackend(frozenset()).connect_tcp("localhost", world.robots.port)
    PinnedBackend(frozenset({"localhost"})).connect_tcp("localhost", world.robots.port).close()
    world.reach.per_address = 2
    with httpx.Client() as browser:
        first = sign_up(browser, world.base, email="someone@example.org")
        fresh = sign_up(browser, world.base, email="nobody-yet@example.org")
        again = sign_up(browser, world.base, email="someone@example.org")  # already pending: same answer

        def page(r: httpx.Response) -> str:
            return re.sub(r'value="[^"]+"', "", r.text)

        assert page(first) == page(fresh) == page(again)
        flood = sign_up(browser, world.base, email="someone@example.org")
        assert flood.status_code == 400 and "频繁" in flood.text
        world.reach.per_client = 8  # this client has asked 8 times within the hour (4 webhooks, 4 addresses)
        assert "频繁" in sign_up(browser, world.base, email="third@example.org").text
    assert len(world.inbox.messages) == 3
    world.clock.now += timedelta(days=4)  # unconfirmed sign-ups are forgotten once their link has expired
    sign_up(httpx.Client(), world.base, email="late@example.org")
    with world.sessions() as session:
        assert [s.address for s in session.scalars(select(Subscription))] == ["late@example.org"]
    with world.sessions() as session:  # the attempts are kept as keyed hashes, never the addresses
        from storage.models import SignupAttempt

        kept = " ".join(f"{a.client} {a.address}" for a in session.scalars(select(SignupAttempt)))
        assert "someone" not in kept and "127.0.0.1" not in kept


def test_manage_page_changes_and_stops(world: World) -> None:
    with httpx.Client() as browser:
        sign_up(browser, world.base, email="m@example.org", scope="region", region="江苏")
        confirm = link(text_of(world.inbox.messages[0]), "/subscribe/confirm")
        page = browser.get(confirm)
        browser.post(confirm, data={"csrf": csrf_of(page.text)})
        with world.sessions() as session:
            row = session.scalars(select(Subscription)).one()
            manage = world.links.manage(row.id, row.token_nonce)
        shown = browser.get(manage)
        assert "m@example.org" in shown.text and "江苏省" in shown.text
        changed = browser.post(manage, data={"csrf": csrf_of(shown.text), "kinds": ["new", "deadlines"],
                                             "region": "淮安市", "action": "save"})
        assert "已保存" in changed.text
        with world.sessions() as session:
            row = session.scalars(select(Subscription)).one()
            assert row.kinds == ["new", "deadlines"] and row.scope["regions"] == ["3208"] and row.active
        browser.post(manage, data={"csrf": csrf_of(changed.text), "action": "stop"})
        with world.sessions() as session:
            assert not session.scalars(select(Subscription)).one().active


def test_manage_page_switches_to_agencies_found_by_search(world: World) -> None:
    world.publish("淮安市洪泽区财政局", "320813", planted=None)
    world.publish("杭州市西湖区教育局", "330106", planted=None)
    world.dispatch()
    with world.sessions() as session, session.begin():
        row = Subscription(channel="email", address="a@example.org", kinds=["errors"], active=True,
                           scope={"regions": ["3208"], "agencies": []}, created_at=world.clock.now, origin="web",
                           confirmed_at=world.clock.now, token_nonce="m1")
        session.add(row)
        session.flush()
        manage = world.links.manage(row.id, row.token_nonce)
    with httpx.Client() as browser:
        found = browser.get(manage + "&q=洪泽")
        assert found.status_code == 200 and 'name="agency" value="淮安市洪泽区财政局"' in found.text
        assert "杭州市西湖区教育局" not in found.text
        assert "没有找到" in browser.get(manage + "&q=不存在").text
        empty = browser.post(manage, data={"csrf": csrf_of(found.text), "scope": "agency", "kinds": ["errors"],
                                           "action": "save"})
        assert empty.status_code == 400 and "勾选" in empty.text
        saved = browser.post(manage, data={"csrf": csrf_of(found.text), "scope": "agency", "q": "洪泽",
                                           "agency": ["淮安市洪泽区财政局", "伪造的机关"], "kinds": ["errors", "new"],
                                           "action": "save"})
        assert saved.status_code == 200 and "已保存" in saved.text
        assert 'value="淮安市洪泽区财政局" checked' in saved.text
        with world.sessions() as session:
            row = session.scalars(select(Subscription)).one()
            assert row.scope == {"regions": [], "agencies": ["淮安市洪泽区财政局"]} and row.kinds == ["errors", "new"]
        # it now follows that agency only: another agency of the region it followed before sends nothing
        world.publish("淮安市清江浦区教育局", "320812")
        world.dispatch()
        assert world.inbox.messages == []
        world.publish("淮安市洪泽区财政局", "320813")
        world.dispatch()
        assert world.inbox.messages and all("淮安市洪泽区财政局" in m["Subject"] for m in world.inbox.messages)
        everything = browser.post(manage, data={"csrf": csrf_of(saved.text), "scope": "all", "kinds": ["errors"],
                                                "action": "save"})
        assert "已保存" in everything.text
        with world.sessions() as session:
            assert session.scalars(select(Subscription)).one().scope == {"regions": [], "agencies": []}


def test_sign_up_in_chromium(world: World) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{world.base}/")
            page.click("text=订阅")
            page.check("input[name=scope][value=region]")
            page.fill("input[name=region]", "淮安市")
            page.check("input[name=kinds][value=errors]")
            page.uncheck("input[name=kinds][value=new]")
            page.check("input[name=channel][value=email]")
            page.fill("input[name=email]", "browser@example.org")
            page.click("form.subscribe button[type=submit]")
            page.wait_for_selector("text=请查收确认邮件")
            confirm = link(text_of(world.inbox.messages[0]), "/subscribe/confirm")
            page.goto(confirm)
            page.click("text=确认订阅 >> nth=-1")
            page.wait_for_selector("text=订阅已确认")
            assert not errors
        finally:
            browser.close()
    with world.sessions() as session:
        row = session.scalars(select(Subscription)).one()
        assert row.active and row.kinds == ["errors", "deadlines"] and row.scope["regions"] == ["3208"]
        assert session.scalars(select(Delivery)).all() == []


def test_weekly_digest_separates_this_weeks_reports_and_its_link_unsubscribes(world: World) -> None:
    from checks.deadlines import load_calendar
    from notifier.digest import deliver_digests

    with world.sessions() as session, session.begin():
        for kinds in (["errors"], ["new"]):
            session.add(Subscription(channel="email", address="office@example.org", kinds=kinds, active=True,
                                     scope={"regions": ["3208"], "agencies": []}, created_at=T0, origin="web",
                                     confirmed_at=T0, token_nonce="n0"))
    week_start = datetime(2025, 2, 10, tzinfo=UTC)  # 2025-W07 (Beijing: Monday 08:00)
    for seed, (agency, published) in enumerate([("淮安市洪泽区财政局", datetime(2025, 2, 11).date()),
                                                ("淮安市洪泽区教育局", datetime(2024, 1, 20).date())], start=50):
        ingest(world.sessions, world.archive, report(agency, 2024, seed, None),
               Origin(agency=agency, region="320813", url=f"https://gov.example/d/{seed}.htm",
                      seen_at=week_start + timedelta(days=2), published=published))
    run = deliver_digests(world.sessions, "2025-W07", datetime(2025, 2, 17, 1, tzinfo=UTC), load_calendar(),
                          world.smtp, lambda: datetime(2025, 2, 17, 1, tzinfo=UTC), links=world.links)
    assert run.sent == 1
    (mail,) = world.inbox.messages
    text = text_of(mail)
    fresh, _, older = text.partition("【本周新发现的往期报告】")
    assert "淮安市洪泽区财政局" in fresh.split("【本周发布的报告】")[1] and "淮安市洪泽区教育局" in older
    assert "2024-01-20发布" in older and f"{world.base}/reports/" in text
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = mail["List-Unsubscribe"].strip("<>")
    assert unsubscribe in text and unsubscribe in html_of(mail).replace("&amp;", "&")
    assert httpx.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    with world.sessions() as session:
        assert [s.active for s in session.scalars(select(Subscription))] == [False, False]


def test_atom_feeds_validate_filter_keep_their_ids_and_answer_304(world: World) -> None:
    import feedparser

    from storage.models import Agency, FindingRow
    from storage.queries import decide

    inside = world.publish("淮安市洪泽区财政局", "320813")
    world.publish("杭州市西湖区教育局", "330106")
    world.publish("淮安市清江浦区教育局", "320812", planted=None)
    url = f"{world.base}/feeds/alerts.atom?region=淮安市&kinds=errors"
    first = httpx.get(url)
    assert first.status_code == 200 and first.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(first.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == "年报监测 · 江苏省淮安市 · 报告存在错误"
    assert feed.entries and all("淮安市洪泽区财政局" in e.title for e in feed.entries)  # no 杭州, no 清江浦 (clean)
    entry = feed.entries[0]
    assert entry.id.startswith("tag:127.0.0.1,") and ":event/" in entry.id
    assert entry.link == f"{world.base}/reports/{inside}"
    assert any(link.href.startswith("https://gov.example/320813/") for link in entry.links)
    assert "位置：表三" in entry.summary and "规则：" in entry.summary
    assert entry.tags[0].term == "errors"

    # conditional GET: nothing new, nothing sent
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert httpx.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    assert feedparser.parse(url, etag=etag).status == 304

    # a new alert changes the validator; old entries keep their ids
    world.publish("淮安市淮阴区财政局", "320804")
    again = httpx.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.headers["etag"] != etag
    later = feedparser.parse(again.content)
    assert {e.id for e in feed.entries} < {e.id for e in later.entries}

    # a dismissed finding leaves the feed
    with world.sessions() as session, session.begin():
        dismissed = session.scalars(select(FindingRow).where(FindingRow.report_id == inside,
                                                             FindingRow.severity == "error")).first()
        assert dismissed is not None
        decide(session, dismissed.fingerprint, "dismissed", note="核实无误", by="test", at=world.clock.now)
    after = feedparser.parse(httpx.get(url).content)
    assert len(after.entries) < len(later.entries)

    # per agency, and everything (new reports too)
    with world.sessions() as session:
        agency_id = session.scalars(select(Agency.id).where(Agency.name == "杭州市西湖区教育局")).one()
    per_agency = feedparser.parse(httpx.get(f"{world.base}/feeds/agencies/{agency_id}.atom").content)
    assert not per_agency.bozo and per_agency.entries
    assert all("杭州市西湖区教育局" in e.title for e in per_agency.entries)
    assert {t.term for e in per_agency.entries for t in e.tags} >= {"new", "errors"}
    assert httpx.get(f"{world.base}/feeds/alerts.atom?region=淮按市").status_code == 400
    assert "淮安市" in httpx.get(f"{world.base}/feeds/alerts.atom?region=淮按市").text  # the suggestion
    assert "订阅源" in httpx.get(f"{world.base}/feeds").text
    both = feedparser.parse(httpx.get(f"{world.base}/feeds/alerts.atom?region=3208&kinds=errors&kinds=new").content)
    assert {t.term for e in both.entries for t in e.tags} == {"new", "errors"}


SAMPLES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "NEW": ({"agency": "淮安市洪泽区财政局", "year": 2024, "title": "2024年政府信息公开工作年度报告"}, ["发布了新的"]),
    "FINDING": ({"agency": "淮安市洪泽区财政局", "year": 2024, "rule": "T4-BLOCK", "severity": "error",
                 "table": "review", "row": "litigation_direct", "column": "total", "printed": 3, "expected": 4,
                 "page": 5,
                 "message": "表四 行政诉讼（未经复议直接起诉）：合计4，但总计填报为3"},
                ["表四「行政诉讼（未经复议直接起诉）」", "「总计」", "报告填报", "按规则应为", "第5页", "结果维持"]),
    "FINDING-warning": ({"agency": "淮安市洪泽区财政局", "year": 2024, "rule": "NARRATIVE-TABLE", "severity": "warning",
                         "table": "requests", "row": "new", "column": "total", "printed": 43, "expected": 36,
                         "text": "共收到政府信息公开申请43件", "message": "正文称43件，表格为36"},
                        ["「本年新收申请」", "43", "36", "共收到政府信息公开申请43件"]),
    "LATE": ({"agency": "淮安市洪泽区财政局", "year": 2024, "rule": "LATE", "severity": "error",
              "printed": "2025-02-20", "expected": "2025-01-31",
              "message": "2024年度报告应于2025-01-31前公开，逾期20天"},
             ["2025-02-20", "2025-01-31", "第五十条"]),
    "MISSING": ({"agency": "淮安市洪泽区财政局", "year": 2024, "rule": "MISSING", "severity": "error",
                 "expected": "2025-01-31", "message": "截至2025-03-01仍未发现，已逾期29天"}, ["2025-01-31", "29天"]),
    "REVISED": ({"agency": "淮安市洪泽区财政局", "year": 2024, "changes": [
        {"table": "requests", "row": "granted", "column": "total", "before": 10, "after": 12}]},
                ["「予以公开」", "10 → 12"]),
    "REMOVED": ({"agency": "淮安市洪泽区财政局", "title": "2024年报"}, ["撤下"]),
    "BACKDATED": ({"agency": "淮安市洪泽区财政局", "year": 2024, "rule": "BACKDATED", "severity": "warning",
                   "printed": "2025-01-10", "expected": "> 2025-01-20", "message": "发布时间疑似倒填",
                   "text": "https://gov.example/list.htm @ 2025-01-20T10:00"}, ["2025-01-10", "2025-01-20"]),
    "SPIDER_BROKEN": ({"site": "hz-czj", "agency": "淮安市洪泽区财政局", "error": "list page showed no report"},
                      ["hz-czj", "list page showed no report"]),
}


def test_every_alert_kind_renders_its_numbers_and_links_in_every_channel(world: World) -> None:
    from notifier.channels import ConsoleChannel
    from notifier.messages import AlertText, compose

    hostile = "坏人局[点我](http://evil.example)**<b>"
    hooks = {name: world.robots.add(name, f"{name}-all", keywords=("年报",))  # 钉钉/飞书 keyword security
             for name in ("wecom", "dingtalk", "feishu")}
    channels = world.channels()
    for number, (sample, (payload, expected)) in enumerate(SAMPLES.items(), start=1):
        kind = sample.split("-")[0]
        alert = compose(kind, {**payload, "agency": payload["agency"] if number > 1 else hostile},
                        url="https://gov.example/320813/r.htm", report_id=number, agency_id=1, event_id=number)
        text = AlertText(alert, world.links, subscription_id=number, nonce="n")
        words = [*expected, "https://gov.example/320813/r.htm"]
        if kind != "SPIDER_BROKEN":
            words.append(f"{world.base}/reports/{number}")
        out = io.StringIO()
        ConsoleChannel(out).send("x", text)
        channels["email"].send(f"reader{number}@example.org", text)
        mail = world.inbox.messages[-1]
        assert mail["List-Unsubscribe"] and "一键退订" in text_of(mail)
        for name, hook in hooks.items():
            channels[name].send(hook, text)
            body = json.dumps(world.robots.received(name, f"{name}-all")[-1], ensure_ascii=False)
            for word in words:
                assert word in body, (sample, name, word)
            assert "/subscribe/manage?t=" in body
        for shown in (out.getvalue(), text_of(mail), html_of(mail)):
            for word in words:
                assert word in shown.replace("&gt;", ">"), (sample, word, shown[:400])
    # crawled text never becomes a link or formatting in a chat card
    first = json.dumps(world.robots.received("wecom", "wecom-all")[0], ensure_ascii=False)
    assert "](http://evil.example)" not in first and "［点我］（http://evil.example）" in first
    assert "坏人局[点我](http://evil.example)**&lt;b&gt;" in html_of(world.inbox.messages[0])


def test_letter_for_a_report_with_two_confirmed_findings(world: World) -> None:
    from docx import Document as Docx

    from storage.models import FindingRow
    from storage.queries import decide

    report_id = world.publish("淮安市洪泽区财政局", "320813", planted="T4-BLOCK")
    with world.sessions() as session, session.begin():
        rows = session.scalars(select(FindingRow).where(FindingRow.report_id == report_id)).all()
        assert len(rows) >= 2
        chosen, others = rows[:2], rows[2:]
        for row in chosen:
            decide(session, row.fingerprint, "confirmed", note="已核对原文", by="test", at=world.clock.now)
        expected = [(r.rule, r.evidence) for r in chosen]
        left_out = [r.message for r in others]
    page = httpx.get(f"{world.base}/reports/{report_id}")
    assert "起草意见建议函" in page.text
    draft = httpx.get(f"{world.base}/reports/{report_id}/letter")
    assert draft.status_code == 200 and "本系统不会代为发送" in draft.text
    text = httpx.get(f"{world.base}/reports/{report_id}/letter.txt").text
    assert "淮安市洪泽区人民政府办公室" in text  # a county department: the county government's office
    assert "第四十九条" in text and "第五十条" in text and "中华人民共和国政府信息公开工作年度报告格式" in text
    assert "https://gov.example/320813/" in text and "一、" in text and "二、" in text and "三、" not in text
    for rule, evidence in expected:
        from notifier.messages import cell_name

        cell = cell_name(evidence.get("table"), evidence.get("row"), evidence.get("column"))
        assert cell is None or cell in text, (rule, cell)
        if evidence.get("printed") is not None:
            assert f"报告填报为{evidence['printed']}" in text
    assert not any(message in text for message in left_out)
    docx = httpx.get(f"{world.base}/reports/{report_id}/letter.docx")
    assert docx.headers["content-disposition"].endswith('.docx"')
    paragraphs = [p.text for p in Docx(io.BytesIO(docx.content)).paragraphs]
    assert paragraphs[0].startswith("关于淮安市洪泽区财政局") and paragraphs[1].startswith("淮安市洪泽区人民政府办公室")
    assert sum(p.startswith(("一、", "二、")) for p in paragraphs) == 2


def test_letter_recipients_follow_the_disclosure_hierarchy() -> None:
    from dashboard.letter import recipient_for

    assert recipient_for("淮安市洪泽区人民政府", "government", "320813").name.startswith("淮安市人民政府办公室")
    assert recipient_for("淮安市财政局", "department", "320800").name.startswith("淮安市人民政府办公室")
    assert recipient_for("东城区教育委员会", "department", "110101").name.startswith("北京市东城区人民政府办公室")
    assert recipient_for("江苏省财政厅", "department", "320000").name.startswith("江苏省人民政府办公厅")
    assert recipient_for("江苏省人民政府", "government", "320000").name == "国务院办公厅政府信息与政务公开办公室"
    assert recipient_for("淮安市人民政府", "government", "320800").name.startswith("江苏省人民政府办公厅")
