"""atoll's metrics read by prometheus_client when Prometheus scrapes, never on a request's path.

:class:`AtollCollector` turns :meth:`Metrics.samples <atoll.observability.metrics.Metrics.samples>`
into prometheus_client's metric families: the counts were kept by atoll at the cost of a
``bisect`` and two adds per request, where ``Histogram.labels(...).observe()`` would take a
lock and loop over the buckets in Python.

One registry per process: what ``/metrics`` answers is atoll's families, then those of
prometheus_client's default registry (``REGISTRY``): the process' own (CPU, memory, open
files, garbage collection) and any metric the application declares with prometheus_client.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from atoll.errors import MissingDependencyError
from atoll.observability.metrics import BUCKETS, Histogram

try:
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.registry import Collector
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("prometheus_client", "metrics") from error

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from atoll.observability.metrics import Metrics

__all__ = ["AtollCollector", "exposition_of"]

_BOUNDS = (*(repr(float(bound)) for bound in BUCKETS), "+Inf")


class AtollCollector(Collector):
    """The metric families of ``metrics``, read at each scrape."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        """Each family, its histograms' buckets made cumulative."""
        for sample in self.metrics.samples():
            labels = list(sample.labels)
            family: CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily
            if sample.kind == "histogram":
                family = HistogramMetricFamily(sample.name, sample.help, labels=labels)
                for values, series in sample.series.items():
                    assert isinstance(series, Histogram)  # noqa: S101 - a histogram's series
                    counts = list(series.counts)  # one moment's, whatever follows
                    buckets = list(zip(_BOUNDS, itertools.accumulate(counts), strict=True))
                    family.add_metric(list(values), buckets, series.total)
            elif sample.kind == "counter":
                family = CounterMetricFamily(sample.name, sample.help, labels=labels)
                for values, value in sample.series.items():
                    family.add_metric(list(values), float(value))  # type: ignore[arg-type]
            else:
                family = GaugeMetricFamily(sample.name, sample.help, labels=labels)
                for values, value in sample.series.items():
                    family.add_metric(list(values), float(value))  # type: ignore[arg-type]
            yield family


class _Process(Collector):
    """prometheus_client's default registry, as one collector of another."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def exposition_of(metrics: Metrics) -> Callable[[], tuple[bytes, str]]:
    """What renders ``metrics`` and the process's own, and the text's content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AtollCollector(metrics))
    registry.register(_Process())

    def render() -> tuple[bytes, str]:
        return generate_latest(registry), CONTENT_TYPE_LATEST

    return render
