"""CORS: which web pages of other origins may call the service from a browser (``[cors]``).

A browser lets a script call another origin only if the answer says so (the Fetch standard's
CORS protocol). With ``--cors-origins`` empty (the default) the service says nothing, and
browsers keep other origins' scripts out; the service is reached as before by everything
that is not a browser. With origins listed, this ASGI wrapper, outermost around the service:

- answers a preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
  itself, without calling the service: 204 with the allowed origin, methods and headers, and
  how long a browser may keep the answer; or 403 (a problem naming what is not allowed and
  the option that would allow it) when the origin, the method or a header is not allowed;
- adds ``Access-Control-Allow-Origin`` (and ``-Credentials``, ``-Expose-Headers``) to the
  answer of any other request from an allowed origin, whatever its status, in place of any
  the service gave (a component's file says ``*`` to every origin); a request from another
  origin is answered as the service answers it, and without them the browser keeps the
  answer from its script.

The answer names the caller's origin rather than ``*`` whenever it depends on it, with
``Vary: Origin``, so that a cache between never serves one origin's answer to another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from atoll.endpoints.http.problems import HTTPError
from atoll.endpoints.http.responses import send_empty, send_problem
from atoll.kernel.options import option

if TYPE_CHECKING:
    from atoll.endpoints.http.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Cors", "CorsOptions"]

_ORIGIN = re.compile(r"^https?://[^/?#\s]+$")
_DEFAULT_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
_SAID = frozenset(
    {
        b"access-control-allow-origin",
        b"access-control-allow-credentials",
        b"access-control-expose-headers",
    }
)
"""The headers of an answer to an allowed origin that this wrapper says, and the service not."""


@dataclass(frozen=True)
class CorsOptions:
    """Which origins' pages may call the service from a browser; none by default."""

    origins: list[str] = option(
        default_factory=list,
        help="origins whose pages may call from a browser (https://app.example.org), or * "
        "for any; none: CORS off",
    )
    methods: list[str] = option(
        default_factory=lambda: list(_DEFAULT_METHODS), help="the methods they may use"
    )
    headers: list[str] = option(
        default_factory=lambda: ["authorization", "content-type"],
        help="the request headers they may send, or * for any",
    )
    expose: list[str] = option(
        default_factory=list, help="the response headers their scripts may read"
    )
    credentials: bool = option(
        default=False, help="let their requests carry cookies and Authorization (not with *)"
    )
    max_age: int = option(600, help="seconds a browser may keep a preflight's answer")

    def __post_init__(self) -> None:
        for origin in self.origins:
            if origin != "*" and not _ORIGIN.match(origin):
                raise ValueError(
                    f"origins holds {origin!r}, which is no origin: write a scheme and a host, "
                    "with a port if not the default, and no path, like https://app.example.org"
                )
        if self.credentials and "*" in self.origins:
            raise ValueError(
                "credentials cannot go with origins *: browsers refuse them to any origin; "
                "list the origins"
            )
        if self.max_age < 0:
            raise ValueError(f"max_age must be 0 or more seconds; got {self.max_age}")

    @property
    def enabled(self) -> bool:
        """Whether any origin is allowed: otherwise nothing is wrapped."""
        return bool(self.origins)


class Cors:
    """The ASGI app ``app`` answering browsers of other origins as ``options`` say.

    Args:
        app: the service's app.
        options: the ``[cors]`` section; at least one origin.
    """

    def __init__(self, app: ASGIApp, options: CorsOptions) -> None:
        self.app = app
        self.options = options
        self.any_origin = "*" in options.origins
        self.origins = frozenset(origin.lower() for origin in options.origins)
        self.methods = frozenset(method.upper() for method in options.methods)
        self.any_header = "*" in options.headers
        self.headers = frozenset(header.lower() for header in options.headers)
        self.star = self.any_origin and not options.credentials
        """Whether answers say ``*``: any origin, no credentials; the same for everyone."""
        added: list[tuple[bytes, bytes]] = []
        if options.credentials:
            added.append((b"access-control-allow-credentials", b"true"))
        if options.expose:
            added.append((b"access-control-expose-headers", ", ".join(options.expose).encode()))
        self._added = added
        self._preflight_headers = [
            (b"access-control-allow-methods", ", ".join(sorted(self.methods)).encode()),
            (b"access-control-max-age", str(options.max_age).encode()),
            *([(b"access-control-allow-credentials", b"true")] if options.credentials else []),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a preflight, or pass the request on and mark its answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        if origin is None:  # not a cross-origin browser request: nothing to say
            await self.app(scope, receive, send)
            return
        requested = _header(scope, b"access-control-request-method")
        if scope["method"] == "OPTIONS" and requested is not None:
            await self._preflight(scope, origin, requested, send)
            return
        if not self._allows(origin):
            await self.app(scope, receive, send)
            return
        marks = [*self._allowed_origin(origin), *self._added]

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                # What the service said of CORS itself (a public file's `*`) gives way to
                # these: a browser refuses an answer naming two allowed origins.
                kept = [
                    (name, value)
                    for name, value in message.get("headers", ())
                    if name.lower() not in _SAID
                ]
                message = {**message, "headers": [*kept, *marks]}
            await send(message)

        await self.app(scope, receive, marked)

    async def _preflight(self, scope: Scope, origin: str, method: str, send: Send) -> None:
        path = scope["path"]
        if not self._allows(origin):
            refusal = (
                f"the origin {origin} may not call this service from a browser; list it in "
                "--cors-origins"
            )
            await send_problem(send, HTTPError(403, refusal), path)
            return
        if method.upper() not in self.methods:
            refusal = (
                f"a browser may not send {method} requests from {origin}; list the method in "
                "--cors-methods"
            )
            await send_problem(send, HTTPError(403, refusal), path)
            return
        asked = _header(scope, b"access-control-request-headers") or ""
        names = [name.strip().lower() for name in asked.split(",") if name.strip()]
        if not self.any_header:
            for name in names:
                if name not in self.headers:
                    refusal = (
                        f"a browser may not send the header {name} from {origin}; list it in "
                        "--cors-headers"
                    )
                    await send_problem(send, HTTPError(403, refusal), path)
                    return
        headers = [*self._allowed_origin(origin), *self._preflight_headers]
        if names:  # echoed: `*` is no wildcard for a request with credentials
            headers.append((b"access-control-allow-headers", ", ".join(names).encode("latin-1")))
        headers.append(
            (b"vary", b"origin, access-control-request-method, access-control-request-headers")
        )
        await send_empty(send, 204, headers)

    def _allows(self, origin: str) -> bool:
        return self.any_origin or origin.lower() in self.origins

    def _allowed_origin(self, origin: str) -> list[tuple[bytes, bytes]]:
        if self.star:
            return [(b"access-control-allow-origin", b"*")]
        return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"origin")]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None
