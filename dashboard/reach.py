"""The pages that reach people where they are: sign-up, feeds, the letter (registered by `create_app`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from .app import Dashboard


def reach_routes(board: Dashboard, secret_key: str) -> list[BaseRoute]:
    from .feeds import feed_routes
    from .letter import letter_routes
    from .subscribe import subscribe_routes

    routes: list[BaseRoute] = [*subscribe_routes(board, secret_key), *feed_routes(board), *letter_routes(board)]
    return routes
