"""Local emulators of the three work-chat robot APIs, answering as the real ones do (HTTP 200 with the
platform's own code): 企业微信 `/cgi-bin/webhook/send?key=…` (errcode 0 / 93000 invalid webhook url / 40008
invalid message type / 44004 empty content / 45009 too many messages), 钉钉 `/robot/send?access_token=…`
(errcode 0 / 300001 token is not exist / 310000 sign not match, invalid timestamp, keywords not in content /
130101 send too fast; the `timestamp` + `sign` HMAC-SHA256 check within an hour), 飞书
`/open-apis/bot/v2/hook/{token}` (code 0 with StatusCode 0 / 19001 token invalid / 19021 sign match fail /
19024 Key Words Not Found / 9499 bad request). Every accepted message is kept for tests to read.

    python -m sandbox.workchat --port 8780     # prints one robot URL per platform (+ a signed 钉钉 one)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

HOUR_MS = 3600 * 1000


@dataclass
class FakeRobot:
    platform: str  # wecom / dingtalk / feishu
    token: str
    secret: str | None = None
    keywords: tuple[str, ...] = ()
    received: list[dict[str, Any]] = field(default_factory=list)


class RobotServer:
    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, per_minute: int = 20) -> None:
        self.robots: dict[tuple[str, str], FakeRobot] = {}
        self.requests = 0
        self.per_minute = per_minute
        self._recent: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(length, 2_000_000))
                status, answer = server.handle(self.path, raw)
                data = json.dumps(answer, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="robot-emulator", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # ------------------------------------------------------------------ robots
    def add(self, platform: str, token: str, *, secret: str | None = None, keywords: tuple[str, ...] = ()) -> str:
        """A robot; returns its webhook URL as the platform would show it."""
        self.robots[(platform, token)] = FakeRobot(platform, token, secret, keywords)
        return self.url(platform, token)

    def url(self, platform: str, token: str) -> str:
        return {"wecom": f"{self.base_url}/cgi-bin/webhook/send?key={token}",
                "dingtalk": f"{self.base_url}/robot/send?access_token={token}",
                "feishu": f"{self.base_url}/open-apis/bot/v2/hook/{token}"}[platform]

    def received(self, platform: str, token: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.robots[(platform, token)].received)

    # ------------------------------------------------------------------ the APIs
    def handle(self, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests += 1
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if parts.path == "/cgi-bin/webhook/send":
            return 200, self._wecom(query.get("key", ""), body)
        if parts.path == "/robot/send":
            return 200, self._dingtalk(query, body)
        if parts.path.startswith("/open-apis/bot/v2/hook/"):
            return 200, self._feishu(parts.path.rsplit("/", 1)[1], body)
        return 404, {"error": "not found"}

    def _too_fast(self, robot: FakeRobot) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._recent.get((robot.platform, robot.token), []) if now - t < 60]
            recent.append(now)
            self._recent[(robot.platform, robot.token)] = recent
            return len(recent) > self.per_minute

    def _keep(self, robot: FakeRobot, body: dict[str, Any]) -> None:
        with self._lock:
            robot.received.append(body)

    def _wecom(self, key: str, body: Any) -> dict[str, Any]:
        robot = self.robots.get(("wecom", key))
        if robot is None:
            return {"errcode": 93000, "errmsg": "invalid webhook url, hint: [1700000000_1_abc], from ip: 127.0.0.1"}
        if not isinstance(body, dict) or body.get("msgtype") not in ("text", "markdown", "news", "image", "file",
                                                                      "template_card"):
            return {"errcode": 40008, "errmsg": "invalid message type"}
        content = (body.get(body["msgtype"]) or {}).get("content") if body["msgtype"] in ("text", "markdown") else "x"
        if not content:
            return {"errcode": 44004, "errmsg": "empty content"}
        if len(str(content).encode("utf-8")) > 4096:
            return {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
        if self._too_fast(robot):
            return {"errcode": 45009, "errmsg": "api freq out of limit"}
        self._keep(robot, body)
        return {"errcode": 0, "errmsg": "ok"}

    def _dingtalk(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        robot = self.robots.get(("dingtalk", query.get("access_token", "")))
        if robot is None:
            return {"errcode": 300001, "errmsg": "token is not exist"}
        if robot.secret:
            timestamp, sign = query.get("timestamp", ""), query.get("sign", "")
            if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > HOUR_MS:
                return {"errcode": 310000, "errmsg": "invalid timestamp"}
            expected = base64.b64encode(hmac.new(robot.secret.encode(), f"{timestamp}\n{robot.secret}".encode(),
                                                 hashlib.sha256).digest()).decode()
            if not hmac.compare_digest(expected, sign):
                return {"errcode": 310000,
                        "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"}
        if not isinstance(body, dict) or body.get("msgtype") not in ("text", "link", "markdown", "actionCard",
                                                                      "feedCard"):
            return {"errcode": 40035, "errmsg": "缺少参数 json"}
        content = json.dumps(body, ensure_ascii=False)
        if robot.keywords and not any(k in content for k in robot.keywords):
            return {"errcode": 310000, "errmsg": "keywords not in content, more: [https://ding-doc.dingtalk.com]"}
        if self._too_fast(robot):
            return {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
        self._keep(robot, body)
        return {"errcode": 0, "errmsg": "ok"}

    def _feishu(self, token: str, body: Any) -> dict[str, Any]:
        robot = self.robots.get(("feishu", token))
        if robot is None:
            return {"code": 19001, "msg": "param invalid: incoming webhook access token invalid", "data": {}}
        if not isinstance(body, dict) or body.get("msg_type") not in ("text", "post", "image", "share_chat",
                                                                       "interactive"):
            return {"code": 9499, "msg": "Bad Request", "data": {}}
        if robot.secret:
            timestamp, sign = str(body.get("timestamp") or ""), str(body.get("sign") or "")
            expected = base64.b64encode(hmac.new(f"{timestamp}\n{robot.secret}".encode(), b"",
                                                 hashlib.sha256).digest()).decode()
            if (not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 3600
                    or not hmac.compare_digest(expected, sign)):
                return {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time",
                        "data": {}}
        if robot.keywords and not any(k in json.dumps(body, ensure_ascii=False) for k in robot.keywords):
            return {"code": 19024, "msg": "Key Words Not Found", "data": {}}
        if self._too_fast(robot):
            return {"code": 11232, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]", "data": {}}
        self._keep(robot, body)
        return {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}


def main() -> None:
    arguments = argparse.ArgumentParser(description="work-chat robot API emulators on 127.0.0.1")
    arguments.add_argument("--port", type=int, default=8780)
    args = arguments.parse_args()
    server = RobotServer(args.port)
    print("企业微信:", server.add("wecom", "demo-wecom-key"))
    print("钉钉:", server.add("dingtalk", "demo-dingtalk-token"))
    print("钉钉（加签，密钥 SECdemo）:", server.add("dingtalk", "demo-signed", secret="SECdemo"))
    print("飞书:", server.add("feishu", "demo-feishu-hook"))
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.close()


if __name__ == "__main__":
    main()
