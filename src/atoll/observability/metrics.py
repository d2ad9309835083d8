"""Metrics: what a service counts of its requests, calls and messages, for Prometheus.

``--metrics`` turns them on (``[metrics]``, off by default). Each HTTP request, JSON-RPC call
and message handled then adds to a few series, named after the OpenTelemetry semantic
conventions in Prometheus' form::

    http_server_request_duration_seconds{method, route, status_class}   histogram
    http_server_active_requests                                          gauge
    rpc_server_duration_seconds{rpc_method, outcome}                     histogram
    rpc_server_errors_total{rpc_method, error_code}                      counter
    atoll_messages_total{service, message_type, outcome}                 counter
    atoll_message_handling_duration_seconds{service, message_type}      histogram
    atoll_messages_in_flight{service}                                    gauge

The labels are bounded: a route is its path template (``/runs/{run_id}``), never the path;
an unknown method, path or JSON-RPC method is ``_OTHER``, ``""`` and ``_OTHER``.

The counting is atoll's own and costs a request a dict look-up, a ``bisect`` and two adds:
the event loop is one thread, so no lock is taken. prometheus_client's own
``Histogram.labels(...).observe()`` costs several times that (a lock, a Python loop over the
buckets); its library is used only when Prometheus scrapes, by the collector of
:mod:`atoll.adapters.prometheus`, which reads :meth:`Metrics.samples`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from atoll.errors import AtollError, RemoteError, RemoteUnavailableError
from atoll.kernel.options import option

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Iterator

    from atoll.persistence.ports import Database, OutboxBacklog

__all__ = ["BUCKETS", "OTHER", "Histogram", "Metrics", "MetricsOptions", "Sample"]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""The upper bounds (seconds) of every duration histogram: OpenTelemetry's HTTP defaults."""

OTHER = "_OTHER"
"""The label of an HTTP method or a JSON-RPC method the service does not know."""

_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)
_CLASSES = ("", "1xx", "2xx", "3xx", "4xx", "5xx")
_READ_WITHIN = 1.0
"""Seconds a scrape waits for a database or a broker to say what it holds."""

logger = logging.getLogger("atoll.metrics")


class Transport(Protocol):
    """What a client's transport does (``atoll.clients.transports.Transport``), as counted."""

    @property
    def url(self) -> str:
        """Where the calls go."""
        ...

    async def exchange(self, body: bytes, *, notification: bool) -> bytes | None:
        """Send ``body``; the answer, None for none."""
        ...

    async def aclose(self) -> None:
        """Release the connections."""
        ...


@dataclass(frozen=True)
class MetricsOptions:
    """Whether the service counts its work for Prometheus, and where it is scraped."""

    enabled: bool = option(
        default=False,
        alias="--metrics",
        help="count requests, JSON-RPC calls and messages for Prometheus, served at /metrics "
        "(needs atoll[metrics]); off, nothing is counted",
    )
    port: int = option(
        0,
        help="the TCP port /metrics is served on, apart from the service's; 0 serves it on "
        "the service's own port",
    )

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:  # noqa: PLR2004 - the TCP ports
            msg = f"port is {self.port}; choose 0 (the service's own port) or 1 to 65535"
            raise ValueError(msg)


class Histogram:
    """The observations of one series: a count per bucket, and their sum.

    Attributes:
        counts: the observations at most each bound of :data:`BUCKETS`, and past the last,
            each counted in its own bucket only (not cumulative).
        total: the sum of the observations.
    """

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count ``value``."""
        self.counts[bisect_left(BUCKETS, value)] += 1
        self.total += value


@dataclass(frozen=True)
class Sample:
    """One metric family as Prometheus reads it: its name, type, help and series.

    ``series`` maps each label set (values in ``labels``' order) to a number (a counter, a
    gauge) or a :class:`Histogram`.
    """

    name: str
    kind: str
    help: str
    labels: tuple[str, ...]
    series: dict[tuple[str, ...], float | Histogram]


class Metrics:
    """The process's counts of its requests, calls and messages.

    Args:
        enabled: whether anything is counted; off, the endpoints never call it.
        port: the port ``/metrics`` is served on apart; 0 for the service's own.

    Attributes:
        enabled: whether anything is counted.
        port: the port ``/metrics`` is served on apart; 0 for the service's own.
        active: the HTTP requests being answered.
        exposition: what renders the text Prometheus scrapes, and its content type; set by
            the composition from :mod:`atoll.adapters.prometheus` when enabled.
    """

    def __init__(self, *, enabled: bool = False, port: int = 0) -> None:
        self.enabled = enabled
        self.port = port
        self.active = 0
        self.exposition: Callable[[], tuple[bytes, str]] | None = None
        # Keyed by what the endpoints pass (the status, not its class): no work per request
        # beyond the look-up; several keys share one series.
        self._http: dict[tuple[str, str, int], Histogram] = {}
        self._http_series: dict[tuple[str, ...], Histogram] = {}
        self._rpc: dict[tuple[str, bool], Histogram] = {}
        self._rpc_errors: dict[tuple[str, ...], float] = {}
        self._messages: dict[tuple[str, ...], float] = {}
        self._handling: dict[tuple[str, ...], Histogram] = {}
        self._lags: dict[tuple[str, ...], Histogram] = {}
        self._in_flight: dict[str, Callable[[], int]] = {}
        self._databases: Callable[[], Iterable[Database]] = tuple
        self._backlogs: dict[str, OutboxBacklog] = {}
        self._clients: dict[tuple[str, str], Histogram] = {}
        self._dead: dict[str, Callable[[], Awaitable[int]]] = {}
        self._dead_counts: dict[str, int] = {}
        self._brokers: dict[str, Callable[[], bool]] = {}

    @classmethod
    def of(cls, options: MetricsOptions) -> Metrics:
        """The metrics ``--metrics`` asks for."""
        return cls(enabled=options.enabled, port=options.port)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count an HTTP request ``route`` (its template) answered ``status`` in ``seconds``."""
        series = self._http.get((method, route, status))
        if series is None:
            series = self._http_series_of(method, route, status)
        series.counts[bisect_left(BUCKETS, seconds)] += 1
        series.total += seconds

    def _http_series_of(self, method: str, route: str, status: int) -> Histogram:
        shown = method if method in _METHODS else OTHER
        status_class = _CLASSES[status // 100] if 100 <= status < 600 else ""  # noqa: PLR2004
        labels = (shown, route, status_class)
        series = self._http_series.get(labels)
        if series is None:
            series = self._http_series[labels] = Histogram()
        if shown is method:  # an unknown method is not kept: a client may send any
            self._http[method, route, status] = series
        return series

    def call(self, method: str, code: int | None, seconds: float) -> None:
        """Count a JSON-RPC call of ``method`` (``_OTHER`` if unknown): ``code`` None if ok."""
        ok = code is None
        series = self._rpc.get((method, ok))
        if series is None:
            series = self._rpc[method, ok] = Histogram()
        series.counts[bisect_left(BUCKETS, seconds)] += 1
        series.total += seconds
        if not ok:
            key = (method, str(code))
            self._rpc_errors[key] = self._rpc_errors.get(key, 0) + 1

    def message(  # noqa: PLR0917 - the consumer's hook, each part
        self,
        kind: str,
        service: str,
        attempt: int,
        outcome: str,
        seconds: float,
        lag: float | None = None,
    ) -> None:
        """Count a message of type ``kind`` handled by ``service``, and how it ended.

        ``lag``, seconds from its sealing to its delivery, is counted for a first delivery
        only: a redelivery's would count the retries' delays.
        """
        if lag is not None and attempt == 1:
            delayed = self._lags.get((service, kind))
            if delayed is None:
                delayed = self._lags[service, kind] = Histogram()
            delayed.observe(lag)
        key = (service, kind, outcome)
        self._messages[key] = self._messages.get(key, 0) + 1
        series = self._handling.get((service, kind))
        if series is None:
            series = self._handling[service, kind] = Histogram()
        series.counts[bisect_left(BUCKETS, seconds)] += 1
        series.total += seconds

    def client(self, remote: str, outcome: str, seconds: float) -> None:
        """Count a call to the service ``remote``: ``ok``, ``error`` or ``unavailable``."""
        series = self._clients.get((remote, outcome))
        if series is None:
            series = self._clients[remote, outcome] = Histogram()
        series.counts[bisect_left(BUCKETS, seconds)] += 1
        series.total += seconds

    def counted(self, remote: str, transport: Transport) -> Transport:
        """``transport`` to the service ``remote``, each exchange counted by :meth:`client`."""
        return _CountedTransport(transport, remote, self)

    def watch_in_flight(self, service: str, count: Callable[[], int]) -> None:
        """Read ``count`` at each scrape: the messages ``service`` holds, not settled yet."""
        self._in_flight[service] = count

    def watch_outboxes(self, databases: Callable[[], Iterable[Database]]) -> None:
        """Read the backlog of each of ``databases()``' outboxes before each scrape."""
        self._databases = databases

    def watch_dead_letters(self, service: str, count: Callable[[], Awaitable[int]]) -> None:
        """Read ``count`` before each scrape: the dead letters of ``service`` on its broker."""
        self._dead[service] = count

    def watch_broker(self, broker: str, connected: Callable[[], bool]) -> None:
        """Read ``connected`` at each scrape: whether the process reaches ``broker`` now."""
        self._brokers[broker] = connected

    async def refresh(self) -> None:
        """Read what is counted elsewhere (outbox backlogs, dead letters), before a scrape.

        A database or a broker that does not answer within a second is left out of this
        scrape (its series are absent), and the scrape goes on: its readiness check says why.
        """
        backlogs: dict[str, OutboxBacklog] = {}
        for database in self._databases():
            try:
                backlogs[database.service] = await asyncio.wait_for(
                    database.outbox_backlog(), _READ_WITHIN
                )
            except (TimeoutError, AtollError) as error:  # out of reach: its readiness says
                logger.debug("the outbox of %s was not read: %s", database.service, error)
            except Exception:  # a scrape goes on, whatever one database says
                logger.warning("the outbox of %s was not read", database.service, exc_info=True)
        self._backlogs = backlogs
        dead: dict[str, int] = {}
        for service, count in self._dead.items():
            try:
                dead[service] = await asyncio.wait_for(count(), _READ_WITHIN)
            except (TimeoutError, AtollError) as error:
                logger.debug("the dead letters of %s were not counted: %s", service, error)
            except Exception:  # a scrape goes on, whatever one broker says
                logger.warning("the dead letters of %s were not counted", service, exc_info=True)
        self._dead_counts = dead

    def samples(self) -> Iterator[Sample]:
        """Every family, as of now; read when Prometheus scrapes, on the event loop's thread."""
        http: dict[tuple[str, ...], float | Histogram] = dict(self._http_series)
        yield Sample(
            "http_server_request_duration_seconds",
            "histogram",
            "Duration of HTTP server requests, by method, route template and status class.",
            ("method", "route", "status_class"),
            http,
        )
        yield Sample(
            "http_server_active_requests",
            "gauge",
            "HTTP server requests being answered.",
            (),
            {(): self.active},
        )
        rpc: dict[tuple[str, ...], float | Histogram] = {
            (method, "ok" if ok else "error"): series for (method, ok), series in self._rpc.items()
        }
        yield Sample(
            "rpc_server_duration_seconds",
            "histogram",
            "Duration of JSON-RPC calls, by method and outcome.",
            ("rpc_method", "outcome"),
            rpc,
        )
        yield Sample(
            "rpc_server_errors",
            "counter",
            "JSON-RPC calls answered with an error, by method and error code.",
            ("rpc_method", "error_code"),
            dict(self._rpc_errors),
        )
        yield Sample(
            "atoll_messages",
            "counter",
            "Messages a consumer took, by service, message type and how they ended: "
            "handled, retried, dead-lettered, held (given back unsettled).",
            ("service", "message_type", "outcome"),
            dict(self._messages),
        )
        handling: dict[tuple[str, ...], float | Histogram] = dict(self._handling)
        yield Sample(
            "atoll_message_handling_duration_seconds",
            "histogram",
            "Duration of handling a message, to its settlement, by service and message type.",
            ("service", "message_type"),
            handling,
        )
        yield Sample(
            "atoll_message_delivery_lag_seconds",
            "histogram",
            "Seconds from a message's sealing (its commit) to its first delivery, by service "
            "and message type.",
            ("service", "message_type"),
            dict(self._lags.items()),
        )
        yield Sample(
            "atoll_messages_in_flight",
            "gauge",
            "Messages a consumer received and has not settled yet, by service.",
            ("service",),
            {(service,): count() for service, count in self._in_flight.items()},
        )
        now = time.time()
        yield Sample(
            "atoll_outbox_pending",
            "gauge",
            "Events committed to a service's outbox and not published yet.",
            ("service",),
            {(service,): float(b.pending) for service, b in self._backlogs.items()},
        )
        yield Sample(
            "atoll_outbox_oldest_pending_age_seconds",
            "gauge",
            "Seconds the oldest event not published yet has waited in a service's outbox; "
            "0 when none waits.",
            ("service",),
            {
                (service,): 0.0 if b.oldest is None else max(0.0, now - b.oldest)
                for service, b in self._backlogs.items()
            },
        )
        clients: dict[tuple[str, ...], float | Histogram] = dict(self._clients.items())
        yield Sample(
            "rpc_client_duration_seconds",
            "histogram",
            "Duration of calls to other services (JSON-RPC over HTTP, the broker or in the "
            "process), by service called and outcome: ok, error (answered with one), or "
            "unavailable (no answer).",
            ("rpc_service", "outcome"),
            clients,
        )
        pools = {
            database.service: usage
            for database in self._databases()
            if (usage := database.pool_usage()) is not None
        }
        yield Sample(
            "db_client_connection_count",
            "gauge",
            "Connections of a service's database pool, by state: used or idle.",
            ("pool_name", "state"),
            {
                (service, state): float(count)
                for service, usage in pools.items()
                for state, count in (("used", usage.used), ("idle", usage.idle))
            },
        )
        yield Sample(
            "db_client_connection_max",
            "gauge",
            "The most connections a service's database pool opens.",
            ("pool_name",),
            {(service,): float(usage.max) for service, usage in pools.items()},
        )
        yield Sample(
            "db_client_connection_pending_requests",
            "gauge",
            "Transactions waiting for a connection of a service's database pool.",
            ("pool_name",),
            {(service,): float(usage.pending) for service, usage in pools.items()},
        )
        yield Sample(
            "atoll_dead_letters",
            "gauge",
            "Messages in a service's dead-letter queue, on its broker.",
            ("service",),
            {(service,): float(count) for service, count in self._dead_counts.items()},
        )
        yield Sample(
            "atoll_broker_connected",
            "gauge",
            "Whether the process reaches its broker now: 1, or 0 while it is away.",
            ("broker",),
            {(broker,): 1.0 if up() else 0.0 for broker, up in self._brokers.items()},
        )


_ERRORS = (b'{"jsonrpc":"2.0","error"', b'{"error"')
"""How an error answer begins, as atoll's engines (and most others) write one."""


class _CountedTransport:
    """A transport whose every exchange is counted, by how it ended."""

    def __init__(self, transport: Transport, remote: str, metrics: Metrics) -> None:
        self.transport = transport
        self.remote = remote
        self.metrics = metrics

    @property
    def url(self) -> str:
        """The transport's own."""
        return self.transport.url

    async def exchange(self, body: bytes, *, notification: bool, **extra: Any) -> bytes | None:
        """The transport's exchange, counted."""
        started = time.perf_counter()
        outcome = "unavailable"
        try:
            answer = await self.transport.exchange(body, notification=notification, **extra)
        except RemoteUnavailableError:
            raise
        except RemoteError:
            outcome = "error"
            raise
        else:
            outcome = "error" if answer is not None and answer.startswith(_ERRORS) else "ok"
            return answer
        finally:
            self.metrics.client(self.remote, outcome, time.perf_counter() - started)

    async def aclose(self) -> None:
        """Close the transport."""
        await self.transport.aclose()

    def __repr__(self) -> str:
        return f"{self.transport!r} (counted)"
