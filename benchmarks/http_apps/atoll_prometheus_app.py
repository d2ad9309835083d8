"""``atoll_app``'s service, its requests counted by prometheus_client's own ``Histogram``.

For ``bench_metrics.py`` only: with ``--metrics``, each HTTP request is observed by
``Histogram.labels(method, route, status_class).observe(seconds)`` instead of atoll's own
counting, on the very same path; what that costs is why atoll counts for itself.
"""

from __future__ import annotations

from atoll_app import service
from prometheus_client import Histogram

from atoll.observability.metrics import BUCKETS, Metrics

__all__ = ["service"]

_DURATION = Histogram(
    "bench_http_server_request_duration_seconds",
    "Duration of HTTP server requests, counted by prometheus_client.",
    ["method", "route", "status_class"],
    buckets=BUCKETS,
)


def _observed(_: Metrics, method: str, route: str, status: int, seconds: float) -> None:
    _DURATION.labels(method, route, f"{status // 100}xx").observe(seconds)


Metrics.request = _observed  # type: ignore[method-assign] # the library's way, measured
