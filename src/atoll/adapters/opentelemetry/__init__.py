"""The OpenTelemetry adapter: atoll's spans, made and exported by the OpenTelemetry SDK.

- :mod:`~atoll.adapters.opentelemetry.tracer`: :func:`tracer_of`, the
  :class:`~atoll.observability.tracing.Tracer` a service's ``[traces]`` options ask for.

The only package of atoll that imports opentelemetry (``pip install "atoll[otel]"``).
"""

from atoll.adapters.opentelemetry.tracer import OtelSpan, OtelTracer, tracer_of

__all__ = ["OtelSpan", "OtelTracer", "tracer_of"]
