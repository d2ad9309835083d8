"""Metrics: requests, JSON-RPC calls and messages counted, and scraped in Prometheus' format."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import re
import signal
import socket
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import atoll
from atoll.endpoints.http.asgi import HttpApp
from atoll.endpoints.http.metrics import MetricsServer
from atoll.errors import ConfigError, MissingDependencyError
from atoll.kernel.entrypoint import load_config, running
from atoll.messaging.envelope import message_name
from atoll.observability.metrics import BUCKETS, Histogram, Metrics
from atoll.service.composition import compose
from atoll.testing import run
from tests.observability.serving import Ordered, client_of, items, shop_and_mail

HERE = Path(__file__).resolve().parent


def client_for(*argv: str) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
    return client_of(items(), *argv)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, by name and labels; parsing it checks its format."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(found, name: str, **labels: str) -> float:
    return found[name, frozenset(labels.items())]


async def test_metrics_are_off_by_default_and_metrics_is_not_served():
    async with client_for() as client:
        assert (await client.get("/items/1")).status_code == 200
        assert (await client.get("/metrics")).status_code == 404


async def test_requests_are_counted_by_method_route_template_and_status_class():
    async with client_for("--metrics") as client:
        for item in (1, 2, 3):
            assert (await client.get(f"/items/{item}")).status_code == 200
        assert (await client.get("/nowhere/7")).status_code == 404
        assert (await client.get("/crash")).status_code == 500
        answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    found = samples(answer.text)
    duration = "http_server_request_duration_seconds"
    item = {"method": "GET", "route": "/items/{item_id}", "status_class": "2xx"}
    assert sample(found, f"{duration}_count", **item) == 3
    assert sample(found, f"{duration}_bucket", **item, le="+Inf") == 3
    assert sample(found, f"{duration}_sum", **item) > 0
    unmatched = {"method": "GET", "route": "", "status_class": "4xx"}
    assert sample(found, f"{duration}_count", **unmatched) == 1
    crashed = {"method": "GET", "route": "/crash", "status_class": "5xx"}
    assert sample(found, f"{duration}_count", **crashed) == 1
    routes = {dict(labels).get("route") for name, labels in found if name.startswith(duration)}
    assert routes == {"/items/{item_id}", "", "/crash"}  # never a raw path
    assert sample(found, "http_server_active_requests") == 1  # the scrape itself


def test_an_unknown_http_method_is_counted_as_other():
    metrics = Metrics(enabled=True)
    metrics.request("BREW", "", 405, 0.001)
    (http, *_) = metrics.samples()
    assert list(http.series) == [("_OTHER", "", "4xx")]


def test_an_observation_on_a_bound_is_in_that_bucket():
    histogram = Histogram()
    histogram.observe(BUCKETS[1])
    histogram.observe(BUCKETS[1] * 1.01)
    assert (histogram.counts[1], histogram.counts[2], histogram.total) == (
        1, 1, BUCKETS[1] * 2.01
    )  # fmt: skip
    metrics = Metrics(enabled=True)
    metrics.request("GET", "/a", 200, BUCKETS[0])
    metrics.request("GET", "/a", 204, BUCKETS[-1] + 1)
    (http, *_) = metrics.samples()
    histogram = http.series["GET", "/a", "2xx"]
    assert histogram.counts[0] == 1
    assert histogram.counts[-1] == 1
    assert sum(histogram.counts) == 2


async def test_json_rpc_calls_are_counted_by_method_and_outcome_with_error_codes():
    async with client_for("--metrics") as client:
        call = {"jsonrpc": "2.0", "method": "double", "params": [2], "id": 1}
        await client.post("/rpc", json=call)
        await client.post("/rpc", json={**call, "params": ["x"]})
        await client.post("/rpc", json=[{"jsonrpc": "2.0", "method": f"no{n}", "id": n}
                                        for n in range(3)])  # fmt: skip
        found = samples((await client.get("/metrics")).text)
    duration = "rpc_server_duration_seconds_count"
    assert sample(found, duration, rpc_method="double", outcome="ok") == 1
    assert sample(found, duration, rpc_method="double", outcome="error") == 1
    assert sample(found, duration, rpc_method="_OTHER", outcome="error") == 3  # bounded
    errors = "rpc_server_errors_total"
    assert sample(found, errors, rpc_method="double", error_code="-32602") == 1
    assert sample(found, errors, rpc_method="_OTHER", error_code="-32601") == 3
    posts = {"method": "POST", "route": "/rpc", "status_class": "2xx"}
    assert sample(found, "http_server_request_duration_seconds_count", **posts) == 3


async def test_messages_are_counted_by_service_type_and_outcome(monkeypatch):
    dead_lettered = asyncio.Event()
    count = Metrics.message

    def counted_then_told(self, *told):  # type, service, delivery, outcome, seconds
        count(self, *told)
        if told[3] == "dead-lettered":
            dead_lettered.set()

    monkeypatch.setattr(Metrics, "message", counted_then_told)
    outcomes: dict[str, int] = {}
    shop, mail, done = shop_and_mail(outcomes)
    url = f"memory://metrics-{uuid.uuid4().hex}"
    flags = ["--broker-url", url, "--broker-retry-backoff", "0.01", "--broker-deliveries", "2"]
    kind = message_name(Ordered)
    counted = "atoll_messages_total"
    async with (
        run(shop, argv=[*flags, "--db-url", "memory://"]) as shop_app,
        run(mail, argv=[*flags, "--metrics"]) as mail_app,
    ):
        await shop_app.rpc.methods.order(item="pen")
        async with asyncio.timeout(10):
            await done.wait()
        done.clear()
        await shop_app.rpc.methods.order(item="poison")
        async with asyncio.timeout(10):
            await dead_lettered.wait()
        found = samples((await mail_app.client.get("/metrics")).text)
    assert sample(found, counted, service="mail", message_type=kind, outcome="handled") == 1
    assert sample(found, counted, service="mail", message_type=kind, outcome="retried") == 1
    dead = {"service": "mail", "message_type": kind, "outcome": "dead-lettered"}
    assert sample(found, counted, **dead) == 1
    handling = "atoll_message_handling_duration_seconds_count"
    assert sample(found, handling, service="mail", message_type=kind) == 3
    # From each message's sealing to its first delivery: two messages, two lags.
    lags = "atoll_message_delivery_lag_seconds_count"
    assert sample(found, lags, service="mail", message_type=kind) == 2
    assert (
        sample(found, "atoll_message_delivery_lag_seconds_sum", service="mail", message_type=kind)
        >= 0
    )
    assert sample(found, "atoll_messages_in_flight", service="mail") == 0
    assert sample(found, "atoll_dead_letters", service="mail") == 1  # counted on the broker
    reached = [value for (name, _), value in found.items() if name == "atoll_broker_connected"]
    assert reached == [1]  # a broker in memory is always reached


def test_without_prometheus_client_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    for name in [n for n in sys.modules if n.startswith("atoll.adapters.prometheus")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(MissingDependencyError, match=re.escape('pip install "atoll[metrics]"')):
        importlib.import_module("atoll.adapters.prometheus")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_metrics_are_served_on_a_port_of_their_own(spawn):
    port = free_port()
    process = spawn(
        sys.executable, "-m", "atoll", "run", "access_service:service", "--server-port", "0",
        "--metrics", "--metrics-port", str(port), cwd=str(HERE),
    )  # fmt: skip
    serving = process.wait_for("serving on", timeout=30)
    url = re.search(r"serving on (http://[^\s:]+:\d+)", serving)
    assert url is not None, serving
    assert f"metrics on http://127.0.0.1:{port}/metrics" in "\n".join(process.lines)
    with httpx.Client(base_url=url.group(1), timeout=10) as client:
        assert client.get("/items/7").status_code == 200
        assert client.get("/metrics").status_code == 404  # not on the service's port
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        answer = client.get("/metrics")
        assert client.get("/elsewhere").status_code == 404
    assert answer.status_code == 200
    found = samples(answer.text)
    item = {"method": "GET", "route": "/items/{item_id}", "status_class": "2xx"}
    assert sample(found, "http_server_request_duration_seconds_count", **item) == 1
    assert sample(found, "http_server_active_requests") == 0
    assert sample(found, "process_open_fds") > 0  # the process's own, one registry
    process.signal(signal.SIGTERM)
    assert process.finish() == 0, process.output


async def test_a_route_at_metrics_is_refused_while_metrics_are_served_there():
    service = items()

    @service.get("/metrics")
    async def own_metrics() -> dict[str, int]:
        return {}

    app = compose(service.name, [service], serve=False)
    with pytest.raises(ConfigError, match="hidden by atoll's own /metrics"):
        async with running(app, load_config(app, ["--metrics"], {})) as container:
            await container.aget(HttpApp)
    apart = ["--metrics", "--metrics-port", str(free_port())]
    async with running(app, load_config(app, apart, {})) as container:
        http = await container.aget(HttpApp)
        transport = httpx.ASGITransport(app=http)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/metrics")).json() == {}  # the service's own route


def test_a_metrics_port_past_the_tcp_ports_is_refused():
    service = items()
    app = compose(service.name, [service], serve=False)
    with pytest.raises(ConfigError, match="choose 0"):
        load_config(app, ["--metrics-port", "70000"], {})


async def test_a_mounted_app_is_counted_under_its_prefix_and_metrics_is_read_with_get():
    async def legacy(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"old"})

    service = items()
    service.mount("/legacy", legacy)
    app = compose(service.name, [service], serve=False)
    async with running(app, load_config(app, ["--metrics"], {})) as container:
        http = await container.aget(HttpApp)
        transport = httpx.ASGITransport(app=http)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/legacy/a/b")).text == "old"
            assert (await client.post("/metrics")).status_code == 405
            found = samples((await client.get("/metrics")).text)
    count = "http_server_request_duration_seconds_count"
    assert sample(found, count, method="GET", route="/legacy", status_class="2xx") == 1
    assert sample(found, count, method="POST", route="/metrics", status_class="4xx") == 1


async def test_the_metrics_server_answers_metrics_alone():
    server = MetricsServer(lambda: (b"up 1\n", "text/plain"), "127.0.0.1", 0)
    transport = httpx.ASGITransport(app=server)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/metrics")).text == "up 1\n"
        assert (await client.get("/")).status_code == 404
        assert (await client.put("/metrics")).status_code == 405
    sent = []

    async def send(message):
        sent.append(message)

    await server({"type": "websocket"}, None, send)
    await server({"type": "lifespan"}, None, send)
    assert sent == [{"type": "websocket.close", "code": 1000}]
    await server.stop()  # not started: nothing to stop


async def test_metrics_without_a_server_need_a_port_of_their_own():
    service = items()
    app = compose(service.name, [service], serve=False)
    with pytest.raises(ConfigError, match="--metrics-port"):
        async with running(app, load_config(app, ["--metrics", "--no-server"], {})):
            pass


async def test_an_outbox_backlog_is_read_at_each_scrape():
    outcomes: dict[str, int] = {}
    shop, _, _ = shop_and_mail(outcomes)
    flags = ["--db-url", "memory://", "--no-db-relay", "--metrics"]  # nothing is published
    async with run(shop, argv=flags) as shop_app:
        empty = samples((await shop_app.client.get("/metrics")).text)
        assert sample(empty, "atoll_outbox_pending", service="shop") == 0
        assert sample(empty, "atoll_outbox_oldest_pending_age_seconds", service="shop") == 0
        await shop_app.rpc.methods.order(item="pen")
        await shop_app.rpc.methods.order(item="ink")
        found = samples((await shop_app.client.get("/metrics")).text)
    assert sample(found, "atoll_outbox_pending", service="shop") == 2
    assert sample(found, "atoll_outbox_oldest_pending_age_seconds", service="shop") >= 0


@pytest.mark.services("nats")
async def test_a_broker_apart_says_whether_it_is_reached_and_counts_dead_letters():
    outcomes: dict[str, int] = {}
    _, mail, _ = shop_and_mail(outcomes)
    argv = ["--broker-url", "nats://127.0.0.1:4222", "--metrics"]
    async with run(mail, argv=argv) as mail_app:
        found = samples((await mail_app.client.get("/metrics")).text)
    assert sample(found, "atoll_broker_connected", broker="nats://127.0.0.1:4222") == 1
    assert ("atoll_dead_letters", frozenset({("service", "mail")})) in found


async def test_a_database_pool_is_read_at_each_scrape(tmp_path):
    outcomes: dict[str, int] = {}
    shop, _, _ = shop_and_mail(outcomes)
    url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    async with run(shop, argv=["--db-url", url, "--metrics"]) as app:
        found = samples((await app.client.get("/metrics")).text)
    assert sample(found, "db_client_connection_max", pool_name="shop") >= 1
    assert sample(found, "db_client_connection_pending_requests", pool_name="shop") == 0
    used = sample(found, "db_client_connection_count", pool_name="shop", state="used")
    idle = sample(found, "db_client_connection_count", pool_name="shop", state="idle")
    assert (used, idle >= 0) == (0, True)  # no transaction open between two requests


async def test_calls_to_other_services_are_counted_by_service_and_outcome():
    caller, answerer = atoll.Service("caller"), atoll.Service("answerer")

    @caller.rpc
    async def ask(method: str, service: str, clients: atoll.Clients) -> str:
        try:
            return str(await clients.get(service).methods[method]())
        except atoll.errors.RemoteUnavailableError:
            return "unavailable"
        except atoll.errors.RemoteError:
            return "refused"

    @answerer.rpc
    async def ping() -> str:
        return "pong"

    flags = ["--broker-url", f"memory://clients-{uuid.uuid4().hex}", "--clients-timeout", "5"]
    async with run(caller, argv=[*flags, "--metrics"]) as asking, run(answerer, argv=flags):
        assert await asking.rpc.methods.ask(method="ping", service="answerer") == "pong"
        assert await asking.rpc.methods.ask(method="nope", service="answerer") == "refused"
        assert await asking.rpc.methods.ask(method="ping", service="absent") == "unavailable"
        found = samples((await asking.client.get("/metrics")).text)
    calls = "rpc_client_duration_seconds_count"
    assert sample(found, calls, rpc_service="answerer", outcome="ok") == 1
    assert sample(found, calls, rpc_service="answerer", outcome="error") == 1
    assert sample(found, calls, rpc_service="absent", outcome="unavailable") == 1
