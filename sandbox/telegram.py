"""A local Telegram Bot API emulator (127.0.0.1): getMe, getUpdates, sendMessage, editMessageText,
answerCallbackQuery, setMyCommands (and deleteWebhook/getMyCommands that clients call), with Telegram's JSON
shapes and error codes — including 429 with `retry_after` and 5xx outages on demand. Tests inject user
messages and button presses and read what the bot sent; the offline demo can run a bot against it."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BOT_ID = 700000001


@dataclass
class Outage:
    status: int  # 429 or 5xx
    remaining: int  # how many calls still get it
    retry_after: int = 1


@dataclass
class BotState:
    token: str
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)  # every message the bot sent or edited
    commands: list[dict[str, Any]] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)
    next_update: int = 1
    next_message: int = 1
    lock: threading.Condition = field(default_factory=threading.Condition)


class TelegramEmulator(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, token: str, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = BotState(token=token)

    @property
    def base_url(self) -> str:
        """For python-telegram-bot's `base_url` (the token is appended)."""
        return f"http://127.0.0.1:{self.server_address[1]}/bot"

    def start(self) -> TelegramEmulator:
        threading.Thread(target=self.serve_forever, name="telegram-emulator", daemon=True).start()
        return self

    # ---------------------------------------------------------------- what tests do
    def user_says(self, chat_id: int, text: str, name: str = "tester") -> None:
        user = {"id": chat_id, "is_bot": False, "first_name": name}
        message: dict[str, Any] = {
            "chat": {"id": chat_id, "type": "private", "first_name": name},
            "from": user,
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        self._add_update({"message": message})

    def user_presses(self, chat_id: int, data: str, message_id: int) -> None:
        user = {"id": chat_id, "is_bot": False, "first_name": "tester"}
        with self.state.lock:
            original = next((m for m in reversed(self.state.sent) if m["message_id"] == message_id), None)
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "nianbao"},
            "text": original["text"] if original else "",
        }
        self._add_update(
            {
                "callback_query": {
                    "id": str(time.monotonic_ns()),
                    "from": user,
                    "message": message,
                    "chat_instance": str(chat_id),
                    "data": data,
                }
            }
        )

    def fail_next(self, status: int, calls: int, retry_after: int = 1) -> None:
        with self.state.lock:
            self.state.outages.append(Outage(status, calls, retry_after))

    def messages_to(self, chat_id: int) -> list[str]:
        with self.state.lock:
            return [m["text"] for m in self.state.sent if m["chat"]["id"] == chat_id and not m.get("edited")]

    def wait_for(self, predicate: Any, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.state.lock:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.state.lock.wait(remaining)
        return True

    def _add_update(self, content: dict[str, Any]) -> None:
        with self.state.lock:
            content = {"update_id": self.state.next_update, **content}
            if "message" in content:
                content["message"] = {
                    "message_id": self.state.next_message,
                    "date": int(time.time()),
                    **content["message"],
                }
                self.state.next_message += 1
            self.state.next_update += 1
            self.state.updates.append(content)
            self.state.lock.notify_all()


def _bad_buttons(markup: Any) -> bool:
    """Telegram refuses a keyboard whose callback data is empty or over 64 bytes (bytes, not characters)."""
    if isinstance(markup, str):
        with contextlib.suppress(ValueError):
            markup = json.loads(markup)
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    return any("callback_data" in button and not 1 <= len(str(button["callback_data"]).encode("utf-8")) <= 64
               for row in rows for button in row)


class _Handler(BaseHTTPRequestHandler):
    server: TelegramEmulator

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        state = self.server.state
        prefix = f"/bot{state.token}/"
        if not parts.path.startswith(prefix):
            self._reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        method = parts.path[len(prefix) :]
        params = self._params(parts.query)
        with state.lock:
            outage = state.outages[0] if state.outages and method != "getUpdates" else None
            if outage:
                outage.remaining -= 1
                if outage.remaining <= 0:
                    state.outages.pop(0)
        if outage:
            if outage.status == 429:
                self._reply(
                    429,
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": f"Too Many Requests: retry after {outage.retry_after}",
                        "parameters": {"retry_after": outage.retry_after},
                    },
                )
            else:
                self._reply(
                    outage.status, {"ok": False, "error_code": outage.status, "description": "Internal Server Error"}
                )
            return
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"})
            return
        result = handler(params)
        if isinstance(result, tuple):
            self._reply(result[0], result[1])
        else:
            self._reply(200, {"ok": True, "result": result})

    def _params(self, query: str) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        params: dict[str, Any] = dict(parse_qsl(query))
        if raw and (self.headers.get("Content-Type") or "").startswith("application/json"):
            params.update(json.loads(raw))
        elif raw:
            params.update(parse_qsl(raw, keep_blank_values=True))
        for key, value in list(params.items()):
            if isinstance(value, str) and value[:1] in "[{":
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        return params

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # ---------------------------------------------------------------- the Bot API
    def api_getMe(self, params: dict[str, Any]) -> Any:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "年报监测",
            "username": "nianbao_watch_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    def api_setMyCommands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list):
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: commands are not a list"}
        with self.server.state.lock:
            self.server.state.commands = commands
            self.server.state.lock.notify_all()
        return True

    def api_getMyCommands(self, params: dict[str, Any]) -> Any:
        return self.server.state.commands

    def api_getUpdates(self, params: dict[str, Any]) -> Any:
        state = self.server.state
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 2.0)
        deadline = time.monotonic() + timeout
        with state.lock:
            state.updates = [u for u in state.updates if u["update_id"] >= offset]
            while not state.updates and time.monotonic() < deadline:
                state.lock.wait(max(deadline - time.monotonic(), 0.01))
            return list(state.updates)

    def api_sendMessage(self, params: dict[str, Any]) -> Any:
        text = str(params.get("text") or "")
        if not text:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
        if len(text) > 4096:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
        if _bad_buttons(params.get("reply_markup")):
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: BUTTON_DATA_INVALID"}
        state = self.server.state
        with state.lock:
            message = {
                "message_id": state.next_message,
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "年报监测"},
                "text": text,
            }
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            state.next_message += 1
            state.sent.append(dict(message, received_at=time.time()))
            state.lock.notify_all()
            return message

    def api_editMessageText(self, params: dict[str, Any]) -> Any:
        state = self.server.state
        with state.lock:
            message = {
                "message_id": int(params["message_id"]),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "年报监测"},
                "text": str(params.get("text") or ""),
                "edited": True,
            }
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            state.sent.append(message)
            state.lock.notify_all()
            return {k: v for k, v in message.items() if k != "edited"}

    def api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        with self.server.state.lock:
            self.server.state.answered.append(str(params.get("callback_query_id")))
        return True
