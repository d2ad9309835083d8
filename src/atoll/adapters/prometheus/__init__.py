"""The Prometheus adapter: atoll's metrics, and the process's, in Prometheus' text format.

- :mod:`~atoll.adapters.prometheus.collector`: :class:`AtollCollector`, which reads
  :class:`~atoll.observability.metrics.Metrics` when Prometheus scrapes, and
  :func:`exposition_of`, the text ``/metrics`` answers.

The only package of atoll that imports prometheus_client (``pip install "atoll[metrics]"``).
"""

from atoll.adapters.prometheus.collector import AtollCollector, exposition_of

__all__ = ["AtollCollector", "exposition_of"]
