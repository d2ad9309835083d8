"""ASGI middleware around the HTTP app of a service or a system, as both declare it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from atoll.endpoints.api import Wrapper
from atoll.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from atoll.endpoints.http.types import ASGIApp

__all__ = ["AsgiWrapping"]


class AsgiWrapping:
    """``asgi_middleware(factory, **options)``, for :class:`Service` and :class:`System`."""

    wrappers: list[Wrapper]

    def asgi_middleware(self, factory: Callable[..., ASGIApp], /, **options: Any) -> None:
        """Wrap the process's HTTP app in ``factory(app, **options)``: any ASGI middleware.

        The first declared is the outermost; a system's come before its services', which
        come in the order the system names them. The app they wrap answers everything the
        service serves: its routes, JSON-RPC, the API documents, health and mounted apps.
        CORS is an option section (``[cors]``), applied outside all of them.

        Raises:
            ConfigError: ``factory`` is not callable.
        """
        if not callable(factory):
            raise ConfigError(
                f"asgi_middleware takes a factory called with the app and the options "
                f"(a middleware class), not {factory!r:.60}"
            )
        self.wrappers.append(Wrapper(factory, dict(options)))
