"""Traces: spans of requests, calls and messages, carried on by W3C ``traceparent``."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import atoll
from atoll.adapters.opentelemetry import tracer_of
from atoll.clients.transports import BrokerTransport, HttpTransport
from atoll.errors import MissingDependencyError
from atoll.kernel.logs import ContextFilter, JsonFormatter, reset_log_context, set_log_context
from atoll.kernel.spans import current_span
from atoll.messaging.broker import Broker
from atoll.messaging.envelope import message_name
from atoll.observability.access import AccessLog
from atoll.observability.correlation import CorrelationIds, RequestContext
from atoll.observability.tracing import TracesOptions, Tracing
from atoll.testing import run
from tests.observability.serving import Ordered, items, shop_and_mail

NATS_URL = "nats://127.0.0.1:4222"
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


def traced(exporter: InMemorySpanExporter, service: str = "shop") -> Tracing:
    """Traces on, each span handed to ``exporter`` as it ends."""
    return Tracing(tracer_of(service, TracesOptions(enabled=True, exporter="none"), exporter))


class Exporter(InMemorySpanExporter):
    """Keeps the spans as they end, and tells of each end."""

    def __init__(self) -> None:
        super().__init__()
        self.exported = asyncio.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        self.exported.set()
        return result

    async def ended(self, prefix: str, count: int = 1) -> None:
        """Return once ``count`` spans whose names start with ``prefix`` have ended."""
        while sum(s.name.startswith(prefix) for s in self.get_finished_spans()) < count:
            self.exported.clear()
            await self.exported.wait()


@pytest.fixture
def exporter() -> Exporter:
    return Exporter()


async def test_traces_are_off_by_default_and_nothing_is_traced():
    async with run(items()) as shop:
        assert shop.http.tracer is None
        assert (await shop.client.get("/items/3")).status_code == 200
        assert current_span() is None


async def test_a_request_is_a_server_span_named_by_its_route(exporter):
    async with run(items(), overrides={Tracing: traced(exporter)}) as shop:
        assert (await shop.client.get("/items/3")).status_code == 200
    (span,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert span.name == "GET /items/{item_id}"
    assert span.attributes is not None
    assert dict(span.attributes) == {
        "http.request.method": "GET",
        "url.path": "/items/3",
        "url.scheme": "http",
        "client.address": "127.0.0.1",
        "http.route": "/items/{item_id}",
        "http.response.status_code": 200,
    }
    assert span.parent is None
    assert span.resource.attributes["service.name"] == "shop"


async def test_a_request_continues_the_trace_its_traceparent_names(exporter):
    async with run(items(), overrides={Tracing: traced(exporter)}) as shop:
        await shop.client.get("/items/3", headers={"traceparent": TRACEPARENT})
    (span,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert format(span.context.trace_id, "032x") == CALLER_TRACE
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == CALLER_SPAN


async def test_a_server_failure_marks_the_request_span_failed(exporter):
    async with run(items(), overrides={Tracing: traced(exporter)}) as shop:
        assert (await shop.client.get("/crash")).status_code == 500
    (span,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 500
    assert span.attributes["error.type"] == "RuntimeError"


async def test_a_request_nothing_answers_is_named_by_its_method_and_not_failed(exporter):
    async with run(items(), overrides={Tracing: traced(exporter)}) as shop:
        assert (await shop.client.get("/nowhere")).status_code == 404
    (span,) = exporter.get_finished_spans()
    assert span.name == "GET"
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 404
    assert "http.route" not in span.attributes


async def test_a_json_rpc_call_is_a_span_under_its_request(exporter):
    async with run(items(), overrides={Tracing: traced(exporter)}) as shop:
        assert await shop.rpc.methods.double(value=2) == 4
        await shop.client.post(
            "/rpc", json={"jsonrpc": "2.0", "method": "double", "params": {"value": 1}, "id": 7}
        )
    spans = {s.name: s for s in exporter.get_finished_spans()}
    request, call = spans["POST /rpc"], spans["double"]
    assert call.kind is SpanKind.SERVER
    assert call.parent is not None
    assert call.parent.span_id == request.context.span_id
    assert call.attributes is not None
    assert dict(call.attributes) == {
        "rpc.system": "jsonrpc",
        "rpc.method": "double",
        "rpc.jsonrpc.version": "2.0",
        "rpc.jsonrpc.request_id": "7",
    }


async def test_an_unknown_json_rpc_method_is_named_other(exporter):
    async with run(items(), overrides={Tracing: traced(exporter)}) as shop:
        await shop.client.post("/rpc", json={"jsonrpc": "2.0", "method": "nope", "id": 1})
    names = {s.name for s in exporter.get_finished_spans()}
    assert names == {"POST /rpc", "_OTHER"}


async def test_tracing_on_is_made_by_the_adapter_when_the_service_starts():
    async with run(items(), argv=["--traces", "--traces-exporter", "none"]) as shop:
        http = shop.http
        assert http.tracer is not None


@dataclass
class Export:
    """One request an OTLP collector took."""

    path: str
    headers: dict[str, str]
    body: bytes


class Collector:
    """An OTLP/HTTP trace receiver on a port of its own, in a thread, as a collector is."""

    def __init__(self) -> None:
        self.exports: list[Export] = []
        exports = self.exports

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {name.lower(): value for name, value in self.headers.items()}
                exports.append(Export(self.path, headers, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                """Quiet: the test reads what was taken, not a line per request."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def spans(self) -> list[tuple[str, str]]:
        """Each exported span's service and name, decoded from the protobuf bodies."""
        found = []
        for export in self.exports:
            request = ExportTraceServiceRequest.FromString(export.body)
            for resource_spans in request.resource_spans:
                attributes = {
                    a.key: a.value.string_value for a in resource_spans.resource.attributes
                }
                for scope_spans in resource_spans.scope_spans:
                    found += [(attributes["service.name"], s.name) for s in scope_spans.spans]
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def collector() -> Iterator[Collector]:
    collector = Collector()
    yield collector
    collector.close()


async def test_spans_are_exported_over_otlp_to_the_endpoint_with_its_headers(collector):
    argv = ["--traces", "--traces-endpoint", collector.url, "--traces-headers", "x-team=runs"]
    async with run(items(), argv=argv) as shop:
        assert (await shop.client.get("/items/3")).status_code == 200
    # The batch left is exported as the service stops.
    assert sorted(collector.spans()) == [
        ("shop", "GET /items/{item_id}"),
        ("shop", "shop.get_item"),
    ]
    (export,) = collector.exports
    assert export.path == "/v1/traces"
    assert export.headers["x-team"] == "runs"
    assert export.headers["content-type"] == "application/x-protobuf"


async def test_a_sample_ratio_of_zero_exports_no_trace_begun_here(collector):
    argv = ["--traces", "--traces-endpoint", collector.url, "--traces-sample-ratio", "0"]
    async with run(items(), argv=argv) as shop:
        assert (await shop.client.get("/items/3")).status_code == 200
    assert collector.exports == []


@pytest.fixture
def without_the_otlp_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    """An environment with ``opentelemetry-sdk`` and not the OTLP exporter's package."""
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)


@pytest.mark.usefixtures("without_the_otlp_exporter")
async def test_the_otlp_exporter_without_its_package_names_the_package_and_the_extra():
    with pytest.raises(MissingDependencyError) as raised:
        tracer_of("shop", TracesOptions(enabled=True))
    assert str(raised.value) == (
        "opentelemetry-exporter-otlp-proto-http is not installed; install it with: pip install "
        '"atoll[otel]" (--traces-exporter otlp needs it; or choose --traces-exporter console)'
    )


@pytest.mark.usefixtures("without_the_otlp_exporter")
async def test_a_start_asking_for_the_missing_otlp_exporter_stops_and_names_it():
    with pytest.raises(MissingDependencyError, match="opentelemetry-exporter-otlp-proto-http"):
        async with run(items(), argv=["--traces", "--traces-headers", "authorization=x"]):
            pass


async def test_the_tracer_is_shut_down_when_the_service_stops(exporter):
    tracing = traced(exporter)
    tracer = tracing.tracer
    assert tracer is not None
    shutdowns: list[str] = []
    tracer.shutdown = lambda: shutdowns.append("shut down")  # type: ignore[method-assign]
    async with run(items(), overrides={Tracing: tracing}) as shop:
        await shop.client.get("/items/3")
        assert shutdowns == []
    assert shutdowns == ["shut down"]


def test_the_options_refuse_a_ratio_out_of_range_and_an_unknown_exporter():
    with pytest.raises(ValueError, match="sample_ratio is 2"):
        TracesOptions(sample_ratio=2)
    with pytest.raises(ValueError, match="exporter is 'zipkin'"):
        TracesOptions(exporter="zipkin")


def test_the_export_headers_are_read_as_pairs():
    options = TracesOptions(headers=atoll.Secret("Authorization=Bearer x, x-team = runs"))
    assert options.header_pairs() == {"authorization": "Bearer x", "x-team": "runs"}


def test_a_log_line_in_a_span_names_its_trace_and_span(exporter):
    tracer = traced(exporter).tracer
    assert tracer is not None
    inside = logging.LogRecord("shop", logging.INFO, __file__, 1, "in a span", None, None)
    outside = logging.LogRecord("shop", logging.INFO, __file__, 1, "outside", None, None)
    span = tracer.start("work", "internal", {})
    try:
        ContextFilter().filter(inside)
    finally:
        span.end()
    ContextFilter().filter(outside)
    formatter = JsonFormatter("shop")
    line = json.loads(formatter.format(inside))
    assert (line["trace_id"], line["span_id"]) == (span.trace_id, span.span_id)
    assert "trace_id" not in json.loads(formatter.format(outside))


async def test_a_call_to_another_service_is_a_client_span_whose_context_it_sends(exporter):
    tracer = traced(exporter, "caller").tracer
    assert tracer is not None
    async with run(items(), overrides={Tracing: traced(exporter)}) as shop:
        served = httpx.AsyncClient(transport=httpx.ASGITransport(app=shop.http.entry))
        transport = HttpTransport("http://shop.test/rpc", client=served)
        body = b'{"jsonrpc":"2.0","method":"double","params":{"value":1},"id":1}'
        span = tracer.start("caller work", "internal", {})
        try:
            assert await transport.exchange(body, notification=False) is not None
        finally:
            span.end()
        await served.aclose()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    work, call, request = spans["caller work"], spans["POST"], spans["POST /rpc"]
    assert call.kind is SpanKind.CLIENT
    assert call.parent is not None
    assert call.parent.span_id == work.context.span_id
    assert request.parent is not None
    assert request.parent.span_id == call.context.span_id
    assert request.context.trace_id == work.context.trace_id
    assert call.attributes is not None
    assert call.attributes["http.response.status_code"] == 200
    assert call.attributes["server.address"] == "shop.test"


async def test_an_event_committed_by_a_call_is_consumed_in_the_calls_trace(exporter):
    outcomes: dict[str, int] = {}
    shop, mail, done = shop_and_mail(outcomes)
    flags = ["--broker-url", f"memory://traces-{uuid.uuid4().hex}"]
    async with (
        run(
            shop, argv=[*flags, "--db-url", "memory://"], overrides={Tracing: traced(exporter)}
        ) as shop_app,
        run(mail, argv=flags, overrides={Tracing: traced(exporter, "mail")}),
    ):
        answer = await shop_app.client.post(
            "/rpc", json={"jsonrpc": "2.0", "method": "order", "params": {"item": "pen"}, "id": 1}
        )
        assert answer.status_code == 200
        async with asyncio.timeout(10):
            await done.wait()
            await exporter.ended("process")
    kind = message_name(Ordered)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {
        "POST /rpc",
        "order",
        "shop.order",
        "commit",
        f"publish {kind}",
        f"process {kind}",
        "mail.mail_it",
    }
    assert len({s.context.trace_id for s in spans.values()}) == 1  # one trace
    parents = {
        name: next(p.name for p in spans.values() if p.context.span_id == s.parent.span_id)
        for name, s in spans.items()
        if s.parent is not None
    }
    assert parents == {
        "order": "POST /rpc",
        "shop.order": "order",
        "commit": "shop.order",
        f"publish {kind}": "shop.order",  # the handler whose unit of work committed it
        f"process {kind}": f"publish {kind}",
        "mail.mail_it": f"process {kind}",
    }
    publish, process = spans[f"publish {kind}"], spans[f"process {kind}"]
    (link,) = publish.links
    assert link.context.span_id == spans["shop.order"].context.span_id
    assert publish.kind is SpanKind.PRODUCER
    assert process.kind is SpanKind.CONSUMER
    assert publish.resource.attributes["service.name"] == "shop"
    assert process.resource.attributes["service.name"] == "mail"
    assert process.attributes is not None
    assert dict(process.attributes) == {
        "messaging.system": "memory",
        "messaging.operation.type": "process",
        "messaging.destination.name": kind,
        "messaging.message.id": process.attributes["messaging.message.id"],
        "messaging.consumer.group.name": "mail",
        "atoll.message.outcome": "handled",
    }
    assert publish.attributes is not None
    assert publish.attributes["messaging.message.id"] == process.attributes["messaging.message.id"]


async def test_a_broker_rpc_call_is_a_client_span_and_its_answer_a_server_span(exporter):
    tracer = traced(exporter, "caller").tracer
    assert tracer is not None
    flags = ["--broker-url", f"memory://traces-{uuid.uuid4().hex}"]
    async with run(items(), argv=flags, overrides={Tracing: traced(exporter)}) as shop:
        transport = BrokerTransport(await shop.container.aget(Broker), "shop")
        body = b'{"jsonrpc":"2.0","method":"double","params":{"value":1},"id":1}'
        span = tracer.start("caller work", "internal", {})
        try:
            assert await transport.exchange(body, notification=False) == (
                b'{"jsonrpc":"2.0","result":2,"id":1}'
            )
        finally:
            span.end()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    work, call, answer = spans["caller work"], spans["shop request"], spans["double"]
    assert {s.context.trace_id for s in spans.values()} == {work.context.trace_id}
    assert call.kind is SpanKind.CLIENT
    assert call.parent is not None
    assert call.parent.span_id == work.context.span_id
    served = [s for s in exporter.get_finished_spans() if s.name == "shop request"]
    server = next(s for s in served if s.kind is SpanKind.SERVER)
    assert server.parent is not None
    assert server.parent.span_id == call.context.span_id
    assert answer.parent is not None
    assert answer.parent.span_id == server.context.span_id
    assert spans["shop.double"].parent.span_id == answer.context.span_id


async def test_a_message_whose_handler_fails_is_a_failed_consumer_span(exporter):
    outcomes: dict[str, int] = {}
    shop, mail, done = shop_and_mail(outcomes)
    flags = [
        "--broker-url",
        f"memory://traces-{uuid.uuid4().hex}",
        "--broker-retry-backoff",
        "0.01",
        "--broker-deliveries",
        "2",
    ]
    async with (
        run(
            shop, argv=[*flags, "--db-url", "memory://"], overrides={Tracing: traced(exporter)}
        ) as shop_app,
        run(mail, argv=flags, overrides={Tracing: traced(exporter, "mail")}),
    ):
        await shop_app.rpc.methods.order(item="poison")
        async with asyncio.timeout(10):
            await done.wait()
            await exporter.ended("process", count=2)
    processed = [s for s in exporter.get_finished_spans() if s.name.startswith("process")]
    assert [s.attributes["atoll.message.outcome"] for s in processed if s.attributes] == [
        "retried",
        "dead-lettered",
    ]
    assert all(s.status.status_code is StatusCode.ERROR for s in processed)
    handled = [s for s in exporter.get_finished_spans() if s.name == "mail.mail_it"]
    assert [s.attributes["error.type"] for s in handled if s.attributes] == [
        "ValueError",
        "ValueError",
    ]


@dataclass(frozen=True)
class Shipped:
    """The event the services over NATS exchange."""

    parcel: str


@pytest.mark.services("nats")
async def test_a_call_and_the_event_it_commits_are_one_trace_over_nats(exporter):
    run_id = uuid.uuid4().hex[:10]
    depot, courier = atoll.Service(f"depot-{run_id}"), atoll.Service(f"courier-{run_id}")
    depot.database(atoll.Schema())
    delivered = asyncio.Event()

    @depot.rpc
    async def ship(parcel: str, uow: atoll.UnitOfWork) -> None:
        async with uow:
            uow.publish(Shipped(parcel))
            await uow.commit()

    @courier.on(Shipped)
    async def carry(event: Shipped) -> None:
        if event.parcel == run_id:
            delivered.set()

    flags = ["--broker-url", NATS_URL]
    try:
        async with (
            run(courier, argv=flags, overrides={Tracing: traced(exporter, "courier")}),
            run(
                depot,
                argv=[*flags, "--db-url", "memory://"],
                overrides={Tracing: traced(exporter, "depot")},
            ) as depot_app,
        ):
            await depot_app.client.post(
                "/rpc",
                json={"jsonrpc": "2.0", "method": "ship", "params": {"parcel": run_id}, "id": 1},
            )
            async with asyncio.timeout(30):
                await delivered.wait()
                await exporter.ended(f"{courier.name}.carry")
    finally:
        await forget_consumers(run_id)
    request = next(s for s in exporter.get_finished_spans() if s.name == "POST /rpc")
    trace = [
        s for s in exporter.get_finished_spans() if s.context.trace_id == request.context.trace_id
    ]
    kind = message_name(Shipped)
    by_name = {s.name: s for s in trace}
    publish, process = by_name[f"publish {kind}"], by_name[f"process {kind}"]
    assert publish.attributes is not None
    assert publish.attributes["messaging.system"] == "nats"
    assert process.parent is not None
    assert process.parent.span_id == publish.context.span_id
    assert by_name[f"{courier.name}.carry"].parent.span_id == process.context.span_id
    (link,) = publish.links
    assert link.context.span_id == by_name[f"{depot.name}.ship"].context.span_id


async def forget_consumers(run_id: str) -> None:
    """Delete the NATS consumers of the services whose names hold ``run_id``."""
    import nats  # noqa: PLC0415 - with NATS only

    client = await nats.connect(NATS_URL)
    try:
        stream = client.jetstream()
        for name in ("ATOLL_EVENTS", "ATOLL_SENDS"):
            for info in await stream.consumers_info(name):
                if run_id in info.name:
                    await stream.delete_consumer(name, info.name)
    finally:
        await client.close()


class Lines(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler as atoll configures it: its formatter makes lines without records."""

    writes_lines = True


def test_an_access_line_in_a_span_names_its_trace_and_span(exporter, caplog):
    caplog.set_level(logging.INFO, logger="atoll.access.http")
    tracer = traced(exporter).tracer
    assert tracer is not None
    stream = io.StringIO()
    handler = Lines(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter("shop", "h:1"))
    root = logging.getLogger()
    kept, root.handlers = root.handlers, [handler]
    token = set_log_context(RequestContext(CorrelationIds(), []))
    span = tracer.start("GET", "server", {})
    lines = []
    try:
        for handlers in ([handler], [handler, logging.NullHandler()]):  # past logging, through it
            root.handlers = handlers
            AccessLog(["http"]).request("GET", "/items/{id}", "/items/1", 200, 9, 0.001, None)
            lines.append(json.loads(stream.getvalue()))
            stream.truncate(0)
            stream.seek(0)
    finally:
        span.end()
        reset_log_context(token)
        root.handlers = kept
    assert [(line["trace_id"], line["span_id"]) for line in lines] == [
        (span.trace_id, span.span_id),
        (span.trace_id, span.span_id),
    ]
