"""Responses: the two ASGI messages of a complete answer, sent with as little work as possible.

Every response here is whole: a ``http.response.start`` with the status and headers, then one
``http.response.body``. The header pairs common to most responses are built once, as module
constants; per response only the ``content-length`` value is formatted. A problem document
carries the correlation id of the request it answers, as ``X-Request-ID``, when the log
context has one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atoll.kernel.logs import current_log_context
from atoll.observability.correlation import REQUEST_ID

if TYPE_CHECKING:
    from collections.abc import Iterable

    from atoll.endpoints.http.problems import HTTPError
    from atoll.endpoints.http.types import Send

__all__ = ["JSON", "PROBLEM", "send_bytes", "send_empty", "send_json", "send_problem"]

JSON = (b"content-type", b"application/json")
"""The ``content-type`` header of a JSON response."""
PROBLEM = (b"content-type", b"application/problem+json")
"""The ``content-type`` header of a problem details response (RFC 9457)."""
_EMPTY = (b"content-length", b"0")
_ECHO = REQUEST_ID.encode()
_NO_CONTENT = frozenset({204, 304})
# RFC 9110 (8.6): a 204 or 304 must not carry Content-Length (a 304's would describe the
# resource, not this empty body), and 1xx responses never reach an ASGI application.


async def send_json(
    send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Send ``body``, already encoded JSON, with ``status`` and any extra ``headers``."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [JSON, (b"content-length", b"%d" % len(body)), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_problem(send: Send, error: HTTPError, instance: str | None = None) -> int:
    """Send ``error`` as a problem details document, with its status and headers.

    Args:
        send: the ASGI send channel.
        error: what went wrong.
        instance: names this occurrence in the document, such as the request's path.

    Returns:
        The size of the document, in bytes.
    """
    body = error.body(instance)
    pairs = [PROBLEM, (b"content-length", b"%d" % len(body)), *error.headers]
    correlation = current_log_context().get("correlation_id")
    if correlation is not None:
        pairs.append((_ECHO, correlation.encode()))
    await send({"type": "http.response.start", "status": error.status, "headers": pairs})
    await send({"type": "http.response.body", "body": body})
    return len(body)


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send ``body`` of media type ``content_type`` (``b"text/html; charset=utf-8"``)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", b"%d" % len(body)),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_empty(send: Send, status: int, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """Send a response without a body, such as 204 No Content or 202 Accepted."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers] if status in _NO_CONTENT else [_EMPTY, *headers],
        }
    )
    await send({"type": "http.response.body", "body": b""})
