"""Mounts: another ASGI application (Starlette, FastAPI, any) served under a path prefix.

``Mount("/legacy", app)`` takes every request whose path is ``/legacy`` or lies below it
(``/legacy/users``), never one that merely starts with the same letters (``/legacyx``).

The mounted application gets the request as the ASGI specification describes a mounted one:
``root_path`` is extended by the prefix and ``path`` is left whole, because ``path`` is the
full request target and the application's own path is ``path`` without ``root_path`` (the
specification's WSGI notes: ``PATH_INFO`` is ``path`` stripped of ``root_path``). Starlette
and FastAPI route on exactly that. Stripping the prefix from ``path`` instead would route
``/legacy/legacy/x`` to the mounted app's ``/x``, since they strip ``root_path`` again.

Mounted applications receive ``http`` and ``websocket`` connections only: they get no
``lifespan`` events, so one that needs start-up work must have it done by a component of the
atoll application.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atoll.errors import ConfigError

if TYPE_CHECKING:
    from atoll.endpoints.http.types import ASGIApp, Receive, Scope, Send

__all__ = ["Mount"]


class Mount:
    """An ASGI application served under ``prefix``.

    Args:
        prefix: where the application is served, such as ``"/legacy"``: one or more whole
            segments, starting with ``/`` and not ending with one.
        app: the ASGI application.

    Raises:
        ConfigError: ``prefix`` is not a path of whole segments.
    """

    __slots__ = ("_below", "app", "prefix")

    def __init__(self, prefix: str, app: ASGIApp) -> None:
        if not prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
            raise ConfigError(
                f"mount prefix {prefix!r} is not a path of whole segments; write it like "
                "'/legacy': a leading '/', no trailing '/' (a mount at '/' would hide every route)"
            )
        self.prefix = prefix
        self.app = app
        self._below = prefix + "/"

    def matches(self, path: str) -> bool:
        """Whether ``path`` (below the application's root) is the prefix or lies below it."""
        return path == self.prefix or path.startswith(self._below)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand the connection to the mounted application, with ``root_path`` extended."""
        child = dict(scope)
        child["root_path"] = scope.get("root_path", "") + self.prefix
        await self.app(child, receive, send)

    def __repr__(self) -> str:
        return f"Mount({self.prefix!r}, {self.app!r})"
