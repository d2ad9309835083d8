"""RFC 9457 problem details: how the HTTP layer tells a client what went wrong.

Inside the HTTP layer, :class:`HTTPError` is raised to stop handling a request and answer with
an error status: the router raises it for an unknown path, the request reader for a body too
large. It is a control-flow signal, not a failure of atoll, so it is not an
:class:`~atoll.errors.AtollError`. Whoever catches it answers with :func:`problem_body`, a
JSON document of media type :data:`PROBLEM_JSON`::

    {"type": "about:blank", "title": "Not Found", "status": 404,
     "detail": "no route matches /runz; ...", "correlation_id": "..."}
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["PROBLEM_JSON", "HTTPError", "problem_body", "reason"]

PROBLEM_JSON = "application/problem+json"
"""The media type of a problem details document (RFC 9457, section 3)."""

_encode = msgspec.json.Encoder().encode


def reason(status: int) -> str:
    """The reason phrase of ``status`` (``"Not Found"``), or its class for an unknown one."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        # A status the standard library does not name, such as nginx's 499, still needs a title.
        return {4: "Client Error", 5: "Server Error"}.get(status // 100, "Unknown Status")


class HTTPError(Exception):
    """Stop handling a request and answer with an error status and a problem document.

    Args:
        status: the HTTP status, such as 404.
        detail: what went wrong with this request, for a person to read; say how to fix it.
        title: a short summary of the kind of problem; the status's reason phrase by default.
        headers: response headers to add, as lower-case byte pairs (``(b"allow", b"GET")``).
        extra: extension members of the problem document, such as ``correlation_id``.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        headers: Iterable[tuple[bytes, bytes]] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title if title is not None else reason(status)
        self.detail = detail
        self.headers: tuple[tuple[bytes, bytes], ...] = tuple(headers)
        self.extra: dict[str, Any] = dict(extra or {})

    def body(self, instance: str | None = None) -> bytes:
        """This error as a problem document; ``instance`` names the request (its path)."""
        return problem_body(self.status, self.title, self.detail, instance, **self.extra)

    def __repr__(self) -> str:
        return f"HTTPError({self.status}, {self.detail!r})"


def problem_body(
    status: int, title: str, detail: str, instance: str | None = None, **extra: Any
) -> bytes:
    """A problem details document, encoded as JSON.

    Args:
        status: the HTTP status, repeated in the document for clients that lose it.
        title: a short summary of the kind of problem.
        detail: what went wrong this time.
        instance: a URI reference naming this occurrence, such as the request's path.
        **extra: extension members; a ``type`` member (a URI naming the kind of problem)
            replaces the default ``"about:blank"``.

    Returns:
        The UTF-8 JSON document, members in the order of RFC 9457.
    """
    document: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        document["instance"] = instance
    document.update(extra)
    return _encode(document)
