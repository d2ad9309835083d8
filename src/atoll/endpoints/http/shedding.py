"""Load shedding: a fast 503 for the requests a process cannot take on, rather than a queue.

A process that takes every request it is sent answers each of them later as the load grows,
until its callers time out on all of them. With ``--server-max-in-flight N``, once it holds
``N`` requests, the next ones are refused at once, before anything is read of them, and the
ones it took keep their pace::

    HTTP/1.1 503 Service Unavailable
    Retry-After: 1
    {"type": "about:blank", "title": "overloaded", "status": 503, "detail": "..."}

A JSON-RPC call gets a JSON-RPC error, -32019 ``overloaded``, with ``retry_after`` in its
data and a null id (its body is not read); atoll's clients take either as "nothing answered"
and try a call that is safe to repeat again, after a backoff. atoll's own health checks and
metrics are never shed: an orchestrator must not take a busy process for a dead one.

Messages need no shedding: a consumer takes a bounded number in hand, and the rest wait in
the broker.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import msgspec

from atoll.endpoints.http.problems import problem_body

if TYPE_CHECKING:
    from collections.abc import Collection

    from atoll.endpoints.http.types import ASGIApp, Receive, Scope, Send

__all__ = ["OVERLOADED", "Shedding"]

OVERLOADED = -32019
"""The JSON-RPC code of a call refused because the process holds all it may (HTTP 503)."""

RETRY_AFTER = 1
"""The seconds a refused caller is told to wait: the time a request takes, give or take."""

_WARNED_EVERY = 10.0
"""Seconds between two warnings that requests are shed."""

logger = logging.getLogger("atoll.http")


class Shedding:
    """``app``, refusing at once the requests past ``limit`` in flight.

    Args:
        app: the ASGI app it guards.
        limit: the most HTTP requests in flight; one more gets a 503.
        exempt: the paths never refused (the health checks, the metrics).
        rpc_paths: the paths of JSON-RPC endpoints, whose callers get a JSON-RPC error.
    """

    __slots__ = ("_warned", "active", "app", "exempt", "limit", "rpc_paths", "shed")

    def __init__(
        self, app: ASGIApp, limit: int, *, exempt: Collection[str], rpc_paths: Collection[str]
    ) -> None:
        self.app = app
        self.limit = limit
        self.exempt = frozenset(exempt)
        self.rpc_paths = frozenset(rpc_paths)
        self.active = 0
        """The HTTP requests in flight."""
        self.shed = 0
        """The requests refused since the process started."""
        self._warned = -_WARNED_EVERY

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection: a request past the limit is refused at once."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit and scope["path"] not in self.exempt:
            await self._refuse(scope, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1

    async def _refuse(self, scope: Scope, send: Send) -> None:
        """Answer 503 at once: a problem, or a JSON-RPC error on a JSON-RPC endpoint."""
        self.shed += 1
        now = time.monotonic()
        if now - self._warned >= _WARNED_EVERY:
            self._warned = now
            logger.warning(
                "shedding load: %d requests in flight, as many as --server-max-in-flight "
                "allows; new ones get 503 (%d so far)",
                self.active,
                self.shed,
            )
        detail = (
            f"the service holds {self.limit} requests, as many as it takes at once; try again "
            f"in {RETRY_AFTER} s"
        )
        if scope["path"] in self.rpc_paths:
            error = {"code": OVERLOADED, "message": "overloaded", "data": _data(detail)}
            body = msgspec.json.encode({"jsonrpc": "2.0", "error": error, "id": None})
            kind = b"application/json"
        else:
            body = problem_body(503, "overloaded", detail, scope["path"])
            kind = b"application/problem+json"
        headers = [
            (b"content-type", kind),
            (b"content-length", b"%d" % len(body)),
            (b"retry-after", b"%d" % RETRY_AFTER),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _data(detail: str) -> dict[str, object]:
    return {"detail": detail, "retry_after": RETRY_AFTER}
