"""Spans made by the OpenTelemetry SDK, behind atoll's :class:`~atoll.kernel.spans.Span`.

Each service has a tracer provider of its own (its ``service.name`` on every span), made when
the application starts and never set as OpenTelemetry's global one: two services of one
process (a :class:`~atoll.System`, a test) keep theirs apart. The span in progress is current
both in OpenTelemetry's context (so that an instrumented library's spans go under it) and in
atoll's (:func:`~atoll.kernel.spans.current_span`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from atoll.errors import MissingDependencyError
from atoll.kernel.spans import reset_span, set_span

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
        SpanExporter,
    )
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    from opentelemetry.trace.status import Status, StatusCode
except ImportError as error:  # pragma: no cover - the extra is installed where tests run
    raise MissingDependencyError("opentelemetry-sdk", "otel") from error

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from atoll.kernel.spans import Attribute, Kind, Span
    from atoll.observability.tracing import TracesOptions

__all__ = ["OtelSpan", "OtelTracer", "tracer_of"]


_KINDS = {
    "internal": trace.SpanKind.INTERNAL,
    "server": trace.SpanKind.SERVER,
    "client": trace.SpanKind.CLIENT,
    "producer": trace.SpanKind.PRODUCER,
    "consumer": trace.SpanKind.CONSUMER,
}
_PROPAGATOR = TraceContextTextMapPropagator()
_CARRIED = (b"traceparent", b"tracestate")


class OtelSpan:
    """An OpenTelemetry span, current (in both contexts) from its start to its end if asked.

    Args:
        tracer: the tracer that started it, which starts its children.
        span: the span, started.
        current: whether to make it the current span until it ends.
    """

    __slots__ = ("_otel_token", "_span", "_token", "_tracer")

    def __init__(self, tracer: trace.Tracer, span: trace.Span, *, current: bool) -> None:
        self._tracer = tracer
        self._span = span
        if current:
            self._otel_token: object = otel_context.attach(trace.set_span_in_context(span))
            self._token: Any = set_span(self)
        else:
            self._otel_token = self._token = None

    @property
    def trace_id(self) -> str:
        """Its trace's id: 32 hexadecimal digits."""
        return format(self._span.get_span_context().trace_id, "032x")

    @property
    def span_id(self) -> str:
        """Its own id: 16 hexadecimal digits."""
        return format(self._span.get_span_context().span_id, "016x")

    def set(self, name: str, value: Attribute) -> None:
        """Set the attribute ``name``."""
        self._span.set_attribute(name, value)

    def rename(self, name: str) -> None:
        """Name it ``name``."""
        self._span.update_name(name)

    def fail(self, error: BaseException | str) -> None:
        """Mark it failed, recording ``error`` (its type in ``error.type``) or the reason."""
        if isinstance(error, BaseException):
            self._span.record_exception(error)
            self._span.set_attribute("error.type", type(error).__qualname__)
            self._span.set_status(Status(StatusCode.ERROR, str(error)))
        else:
            self._span.set_attribute("error.type", error)
            self._span.set_status(Status(StatusCode.ERROR, error))

    def end(self) -> None:
        """End it; the span current before it is current again."""
        if self._token is not None:
            reset_span(self._token)
            otel_context.detach(self._otel_token)  # type: ignore[arg-type] # attach's token
            self._token = None
        self._span.end()

    def carry(self, headers: dict[str, str]) -> None:
        """Write ``traceparent`` (and ``tracestate``) into ``headers``."""
        _PROPAGATOR.inject(headers, context=trace.set_span_in_context(self._span))

    def child(
        self,
        name: str,
        kind: Kind = "internal",
        attributes: Mapping[str, Attribute] | None = None,
        *,
        current: bool = True,
    ) -> Span:
        """Start a span under this one."""
        made = self._tracer.start_span(
            name,
            context=trace.set_span_in_context(self._span),
            kind=_KINDS[kind],
            attributes=attributes,
        )
        return OtelSpan(self._tracer, made, current=current)


class OtelTracer:
    """Starts the spans at a service's edges, with a tracer provider of its own.

    Args:
        provider: the service's tracer provider.
    """

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("atoll")

    def server(
        self, name: str, headers: Iterable[tuple[bytes, bytes]], attributes: Mapping[str, Attribute]
    ) -> Span:
        """Start a request's span (SERVER), under its ``traceparent``, if it has one."""
        carrier: dict[str, str] | None = None
        for key, value in headers:
            if key in _CARRIED:
                if carrier is None:
                    carrier = {}
                carrier[key.decode()] = value.decode("latin-1")
        parent = None if carrier is None else _PROPAGATOR.extract(carrier)
        span = self._tracer.start_span(
            name, context=parent, kind=trace.SpanKind.SERVER, attributes=attributes
        )
        return OtelSpan(self._tracer, span, current=True)

    def incoming(
        self,
        name: str,
        kind: Kind,
        headers: Mapping[str, object],
        attributes: Mapping[str, Attribute],
    ) -> Span:
        """Start a span (CONSUMER, SERVER) under the ``traceparent`` of ``headers``."""
        span = self._tracer.start_span(
            name, context=_parent(headers), kind=_KINDS[kind], attributes=attributes
        )
        return OtelSpan(self._tracer, span, current=True)

    def producer(
        self, name: str, headers: Mapping[str, object], attributes: Mapping[str, Attribute]
    ) -> Span:
        """Start a publish's span (PRODUCER), under and linked to the span of ``headers``.

        The event was committed by the span its ``traceparent`` names, and is published
        later, by the outbox relay: the publish goes in that span's trace, and links to it.
        """
        parent = _parent(headers)
        links = None
        if parent is not None:
            context = trace.get_current_span(parent).get_span_context()
            if context.is_valid:
                links = [trace.Link(context, {"atoll.link": "committed"})]
        span = self._tracer.start_span(
            name,
            context=parent,
            kind=trace.SpanKind.PRODUCER,
            attributes=attributes,
            links=links,
        )
        return OtelSpan(self._tracer, span, current=False)

    def start(self, name: str, kind: Kind, attributes: Mapping[str, Attribute]) -> Span:
        """Start a span under OpenTelemetry's current one, or a trace of its own; current."""
        span = self._tracer.start_span(name, kind=_KINDS[kind], attributes=attributes)
        return OtelSpan(self._tracer, span, current=True)

    def shutdown(self) -> None:
        """Export what is left, then stop."""
        self.provider.shutdown()


def _parent(headers: Mapping[str, object]) -> Any:
    """The context ``headers`` carry (``traceparent``, ``tracestate``), or None."""
    traceparent = headers.get("traceparent")
    if traceparent is None:
        return None
    carrier = {"traceparent": str(traceparent)}
    state = headers.get("tracestate")
    if state is not None:
        carrier["tracestate"] = str(state)
    return _PROPAGATOR.extract(carrier)


def tracer_of(
    service: str, options: TracesOptions, exporter: SpanExporter | None = None
) -> OtelTracer:
    """The tracer ``options`` ask for, its spans on behalf of ``service``.

    Args:
        service: the ``service.name`` of every span.
        options: the ``[traces]`` options: the exporter, where it sends, the sample ratio.
        exporter: where spans go instead of the exporter ``options`` name, each as it ends
            (a test's ``InMemorySpanExporter``).

    Raises:
        MissingDependencyError: the ``otlp`` exporter, without its package.
    """
    sampler = ParentBased(TraceIdRatioBased(options.sample_ratio))
    provider = TracerProvider(resource=Resource.create({"service.name": service}), sampler=sampler)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif options.exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif options.exporter == "otlp":
        provider.add_span_processor(BatchSpanProcessor(_otlp(options)))
    return OtelTracer(provider)


def _otlp(options: TracesOptions) -> SpanExporter:
    """The OTLP exporter (over HTTP) to ``--traces-endpoint``, with ``--traces-headers``."""
    try:
        # Loaded only when asked for: it brings requests and protobuf.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
    except ImportError as error:
        missing = MissingDependencyError(
            "opentelemetry-exporter-otlp-proto-http",
            "otel",
            hint=" (--traces-exporter otlp needs it; or choose --traces-exporter console)",
        )
        raise missing from error
    exporter: SpanExporter = OTLPSpanExporter(
        endpoint=options.endpoint, headers=options.header_pairs()
    )
    return exporter
