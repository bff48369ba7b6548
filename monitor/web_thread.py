"""The dashboard served by uvicorn: in the foreground (`nianbao serve`) or in a thread of `nianbao run`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from .config import Settings


def dashboard_app(settings: Settings, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> Any:
    from dashboard.app import create_app, secret_key
    from dashboard.subscribe import ReachSettings
    from storage import Archive

    app = create_app(sessions, Archive(settings.archive_root, settings.archive_compress), clock=clock,
                     admin_password=settings.admin_password.get_secret_value() if settings.admin_password else None,
                     secret_key=secret_key(settings.data_dir,
                                           settings.web_secret.get_secret_value() if settings.web_secret else None))
    # the sign-up pages: SMTP, the public URL, limits — from the one settings object (file and environment)
    app.state.reach = ReachSettings.from_settings(settings)
    return app


def uvicorn_server(settings: Settings, sessions: sessionmaker[Session], clock: Callable[[], datetime],
                   host: str, port: int) -> Any:
    import uvicorn

    config = uvicorn.Config(dashboard_app(settings, sessions, clock), host=host, port=port, log_level="warning",
                            access_log=False, proxy_headers=False, server_header=False)
    return uvicorn.Server(config)


class WebThread(threading.Thread):
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        super().__init__(name="dashboard", daemon=True)
        self.server = uvicorn_server(settings, sessions, clock, settings.web_host, settings.web_port)

    def run(self) -> None:
        self.server.run()

    def stop(self) -> None:
        self.server.should_exit = True
        self.join(10)
