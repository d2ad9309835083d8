"""The ASGI types the frontends' applications are written to, and how they answer."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

__all__ = ["Receive", "Scope", "Send", "answer", "refused", "static"]

Scope: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send: TypeAlias = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def answer(
    send: Send,
    status: int,
    kind: bytes,
    body: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
    *,
    head: bool = False,
) -> None:
    """Send a whole answer: ``body`` of type ``kind`` (none for a HEAD) with ``headers``."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", kind),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


async def refused(scope: Scope, send: Send) -> bool:
    """Whether the request was refused: answered 405 for any method but GET and HEAD."""
    if scope["method"] in {"GET", "HEAD"}:
        return False
    allowed = [(b"allow", b"GET, HEAD")]
    await answer(send, 405, b"text/plain; charset=utf-8", b"only GET and HEAD\n", allowed)
    return True


@functools.cache
def static(name: str) -> bytes:
    """The file ``name`` of ``atoll/frontends/static/``, read once: the apps serve it often."""
    return (Path(__file__).resolve().parent / "static" / name).read_bytes()
