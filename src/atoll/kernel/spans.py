"""The span in progress: what every layer reads of a trace, without its library.

With traces on (``--traces``), an edge (an HTTP request, a JSON-RPC call, a message taken)
starts a span and makes it current here; the layers beneath read it to start their own (a
handler's, a call's to another service) and to carry the trace on (``traceparent`` in a
committed event's headers, in an outgoing call's), and log lines name it (``trace_id``,
``span_id``). The spans themselves are made by :mod:`atoll.adapters.opentelemetry`.

With traces off, nothing is ever current: each of those places pays one
:class:`~contextvars.ContextVar` read, and finds None.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Attribute", "Kind", "Span", "current_span", "reset_span", "set_span"]

Kind: TypeAlias = Literal["internal", "server", "client", "producer", "consumer"]
"""A span's kind, as OpenTelemetry names them."""

Attribute: TypeAlias = "str | bool | int | float"
"""The value of a span's attribute."""


class Span(Protocol):
    """A span started and not ended yet."""

    @property
    def trace_id(self) -> str:
        """Its trace's id: 32 hexadecimal digits."""
        ...

    @property
    def span_id(self) -> str:
        """Its own id: 16 hexadecimal digits."""
        ...

    def set(self, name: str, value: Attribute) -> None:
        """Set the attribute ``name``."""

    def rename(self, name: str) -> None:
        """Name it ``name``: a request's span once its route is known."""

    def fail(self, error: BaseException | str) -> None:
        """Mark it failed: by ``error`` (recorded with its type), or for the reason given."""

    def end(self) -> None:
        """End it; the span current before it, if it was made current, is current again."""

    def carry(self, headers: dict[str, str]) -> None:
        """Write its context into ``headers``: ``traceparent``, and ``tracestate`` if any."""

    def child(
        self,
        name: str,
        kind: Kind = "internal",
        attributes: Mapping[str, Attribute] | None = None,
        *,
        current: bool = True,
    ) -> Span:
        """Start a span under this one, made current unless ``current`` is false."""
        ...


_SPAN: contextvars.ContextVar[Span | None] = contextvars.ContextVar("atoll_span", default=None)

current_span = _SPAN.get
"""The span in progress, or None (always, with traces off)."""

set_span = _SPAN.set
"""Make ``span`` the current one; returns the token :func:`reset_span` takes."""

reset_span = _SPAN.reset
"""Put back the span current before a :func:`set_span`."""
