"""Traces: OpenTelemetry spans of the requests, calls and messages of a service.

``--traces`` turns them on (``[traces]``, off by default). The tracer is made when the
application starts, by :mod:`atoll.adapters.opentelemetry` (``atoll[otel]``), and its spans
exported to ``--traces-endpoint`` (OTLP over HTTP). Then each of these is a span, named and
described after the OpenTelemetry semantic conventions:

- an HTTP request (SERVER): ``GET /runs/{run_id}``, ``http.request.method``, ``http.route``,
  ``url.path``, ``http.response.status_code``;
- a JSON-RPC call (SERVER): ``weekly_meters``, ``rpc.system`` ``jsonrpc``, ``rpc.method``;
- a handler's run (INTERNAL): ``runs.record_run``;
- a call to another service (CLIENT), over HTTP or broker RPC;
- an event published by the outbox relay (PRODUCER), and a message handled (CONSUMER):
  ``messaging.system``, ``messaging.destination.name``, ``messaging.message.id``.

The W3C ``traceparent`` and ``tracestate`` headers carry a trace from one service to the
next: taken from an HTTP request or a broker RPC request, sent with every outgoing call, and
written into the headers of the events a unit of work commits, which the outbox keeps.

Off, nothing is made: the endpoints hold None for the tracer and check it, and the layers
beneath find no current span (:mod:`atoll.kernel.spans`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from atoll.kernel.options import Secret, option

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from atoll.kernel.spans import Attribute, Kind, Span

__all__ = ["EXPORTERS", "Tracer", "TracesOptions", "Tracing"]

EXPORTERS = ("otlp", "console", "none")
"""Where ``--traces-exporter`` sends spans."""


@dataclass(frozen=True)
class TracesOptions:
    """Whether the service traces its work with OpenTelemetry, and where the spans go."""

    enabled: bool = option(
        default=False,
        alias="--traces",
        help="trace requests, calls and messages with OpenTelemetry (needs atoll[otel]); "
        "off, no span is made",
    )
    exporter: str = option(
        "otlp",
        help="where spans go: otlp (OTLP over HTTP to --traces-endpoint; needs "
        "opentelemetry-exporter-otlp-proto-http), console (standard output), none",
    )
    endpoint: str = option(
        "http://127.0.0.1:4318/v1/traces",
        help="the URL the OTLP exporter posts spans to",
    )
    headers: Secret | None = option(
        None,
        help="headers sent with each export, as name=value pairs separated by commas "
        "(authorization=Bearer ...); never shown",
    )
    sample_ratio: float = option(
        1.0,
        help="the share of traces begun here that are kept, 0 to 1; a trace begun by a "
        "caller is kept as the caller decided",
    )

    def __post_init__(self) -> None:
        if self.exporter not in EXPORTERS:
            msg = f"exporter is {self.exporter!r}; choose one of {', '.join(EXPORTERS)}"
            raise ValueError(msg)
        if not 0.0 <= self.sample_ratio <= 1.0:
            msg = f"sample_ratio is {self.sample_ratio}; choose a share from 0 to 1"
            raise ValueError(msg)

    def header_pairs(self) -> dict[str, str]:
        """``headers``, read into a mapping.

        Raises:
            ValueError: a pair without ``=``.
        """
        pairs: dict[str, str] = {}
        if self.headers is None:
            return pairs
        for pair in self.headers.reveal().split(","):
            if not pair.strip():
                continue
            name, equals, value = pair.partition("=")
            if not equals or not name.strip():
                msg = "headers holds a pair without a name and '='; write name=value,name=value"
                raise ValueError(msg)
            pairs[name.strip().lower()] = value.strip()
        return pairs


class Tracer(Protocol):
    """What starts the spans at the edges of a service: made by the OpenTelemetry adapter."""

    def server(
        self, name: str, headers: Iterable[tuple[bytes, bytes]], attributes: Mapping[str, Attribute]
    ) -> Span:
        """Start a request's span (SERVER), under the ``traceparent`` of ``headers`` (ASGI's)."""
        ...

    def incoming(
        self,
        name: str,
        kind: Kind,
        headers: Mapping[str, object],
        attributes: Mapping[str, Attribute],
    ) -> Span:
        """Start a span (CONSUMER, SERVER) under the ``traceparent`` of a message's headers."""
        ...

    def producer(
        self, name: str, headers: Mapping[str, object], attributes: Mapping[str, Attribute]
    ) -> Span:
        """Start a publish's span (PRODUCER), not current, under and linked to ``headers``'."""
        ...

    def start(self, name: str, kind: Kind, attributes: Mapping[str, Attribute]) -> Span:
        """Start a span under the current one, or a trace of its own; made current."""
        ...

    def shutdown(self) -> None:
        """Export what is left, then stop."""


class Tracing:
    """The service's tracer, when traces are on.

    Args:
        tracer: what starts the spans; None, traces are off.

    Attributes:
        tracer: what starts the spans; None when traces are off.
    """

    def __init__(self, tracer: Tracer | None = None) -> None:
        self.tracer = tracer

    async def start(self) -> None:
        """Nothing: the tracer is made with the application."""

    async def stop(self) -> None:
        """Export the spans not exported yet, and stop the tracer."""
        if self.tracer is not None:
            self.tracer.shutdown()
