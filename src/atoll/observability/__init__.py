"""What a running fleet tells its operators: logs, access logs, metrics and traces.

To hold: the correlation and trace context carried in contextvars across HTTP, JSON-RPC, broker
and outbox hops; structured log formats; access logs per request, call and message; the
metrics and traces the adapters (Prometheus, OpenTelemetry) export. It may import the kernel,
messaging, persistence and security; the endpoints and clients import it.
"""
