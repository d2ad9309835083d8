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

import asyncio
import dataclasses
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from atoll.kernel.options import Secret, option

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping

    from atoll.kernel.spans import Attribute, Kind, Span
    from atoll.messaging.envelope import Envelope
    from atoll.messaging.publishing import Publisher

__all__ = [
    "EXPORTERS",
    "TracedPublisher",
    "Tracer",
    "TracesOptions",
    "Tracing",
    "consumer_spans",
    "messaging_system",
    "producer_span",
]

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
        """Export the spans not exported yet, and stop the tracer.

        In a thread: the last export waits for the collector, which the event loop must not.
        """
        if self.tracer is not None:
            await asyncio.to_thread(self.tracer.shutdown)


def messaging_system(url: str) -> str:
    """The ``messaging.system`` of a broker at ``url``: its scheme (``nats``, ``memory``)."""
    return url.partition(":")[0] or "memory"


def consumer_spans(tracer: Tracer, system: str) -> Callable[[Envelope, str], Span]:
    """What starts the span (CONSUMER) of a message a service's consumer takes."""

    def start(envelope: Envelope, service: str) -> Span:
        return tracer.incoming(
            f"process {envelope.type}",
            "consumer",
            envelope.headers,
            {
                "messaging.system": system,
                "messaging.operation.type": "process",
                "messaging.destination.name": envelope.type,
                "messaging.message.id": envelope.id,
                "messaging.consumer.group.name": service,
            },
        )

    return start


def producer_span(tracer: Tracer, system: str, envelope: Envelope) -> Span:
    """The span (PRODUCER) of publishing ``envelope``, under the span that committed it."""
    return tracer.producer(
        f"publish {envelope.type}",
        envelope.headers,
        {
            "messaging.system": system,
            "messaging.operation.type": "send",
            "messaging.destination.name": envelope.type,
            "messaging.message.id": envelope.id,
        },
    )


class TracedPublisher:
    """A publisher whose every publish is a span (PRODUCER), carried on in the envelope.

    The span is a child of the span that raised the event (the ``traceparent`` its unit of
    work wrote in its headers), and links to it: the outbox relay publishes it later, in a
    task of its own. The envelope goes on carrying the publish's own ``traceparent``, so
    that the consumers' spans are its children.

    Args:
        publisher: where the envelopes go.
        tracer: what starts the spans.
        system: the broker's ``messaging.system``.
    """

    def __init__(self, publisher: Publisher, tracer: Tracer, system: str) -> None:
        self.publisher = publisher
        self.tracer = tracer
        self.system = system

    def publish(self, envelope: Envelope) -> Awaitable[None]:
        """Publish ``envelope`` in a span, ended once the publisher is done with it.

        What the publisher returns is returned as it is when it is a future (the memory
        broker's, which the relay awaits side by side), else awaited in a coroutine.
        """
        span = producer_span(self.tracer, self.system, envelope)
        headers = {
            name: value
            for name, value in envelope.headers.items()
            if name not in {"traceparent", "tracestate"}
        }
        span.carry(headers)
        try:
            pending = self.publisher.publish(dataclasses.replace(envelope, headers=headers))
        except Exception as error:
            span.fail(error)
            span.end()
            raise
        if isinstance(pending, asyncio.Future):
            pending.add_done_callback(functools.partial(_ended, span))
            return pending
        return _awaited(pending, span)


def _ended(span: Span, done: asyncio.Future[None]) -> None:
    """End ``span`` as its publish's future is done: failed, if it failed."""
    error = None if done.cancelled() else done.exception()
    if error is not None:
        span.fail(error)
    span.end()


async def _awaited(pending: Awaitable[None], span: Span) -> None:
    try:
        await pending
    except Exception as error:
        span.fail(error)
        raise
    finally:
        span.end()
