"""The ASGI protocol, named once: every module of the HTTP layer imports these aliases.

They follow the ASGI 3 specification (https://asgi.readthedocs.io/en/latest/specs/main.html):
an application is an async callable of a connection ``scope``, a ``receive`` channel and a
``send`` channel, each message a mapping with a ``type`` key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias

__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send"]

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]
