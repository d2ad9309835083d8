"""Correlation ids: taken from a trusted header or made, in every log line of a call, carried on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass

import httpx
import pytest

import atoll
from atoll.clients.remote import RemoteService
from atoll.clients.transports import HttpTransport
from atoll.endpoints.http.asgi import HttpApp
from atoll.kernel.entrypoint import load_config, running
from atoll.kernel.logs import current_log_context, log_context
from atoll.messaging.context import CallContext, Request, enter, leave
from atoll.observability.correlation import CorrelationIds, RequestContext, made_id, taken_id
from atoll.security.identity import Identity
from atoll.service.composition import compose
from atoll.testing import run
from tests.observability.serving import client_of

TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE}-b7ad6b7169203331-01".encode()


# -- reading and making ids ------------------------------------------------------------------


def test_an_id_is_taken_from_the_first_trusted_header_present():
    ids = CorrelationIds(("x-request-id", "traceparent"))
    given = [(b"traceparent", TRACEPARENT), (b"x-request-id", b"req-42")]
    assert ids.of(given) == "req-42"  # the preferred header, wherever it is
    assert ids.of([(b"host", b"a"), (b"traceparent", TRACEPARENT)]) == TRACE


def test_an_id_unfit_to_carry_is_replaced_by_a_made_one():
    ids = CorrelationIds(("x-request-id", "traceparent"))
    for unfit in (b"", b"has space", b"x" * 129, "caf\u00e9".encode("latin-1"), b"a\x7fb"):
        made = ids.of([(b"x-request-id", unfit)])
        assert made != unfit.decode("latin-1")
        assert made.startswith(made_id()[:12])
    assert ids.of([(b"x-request-id", b"x" * 128)]) == "x" * 128
    # A traceparent that is malformed, or names no trace, gives none.
    for unfit in (b"00-zz-b7ad6b7169203331-01", f"00-{'0' * 32}-b7ad6b7169203331-01".encode()):
        assert len(ids.of([(b"traceparent", unfit)])) < 32


def test_headers_not_trusted_are_ignored():
    assert CorrelationIds(()).of([(b"x-request-id", b"req-42")]) != "req-42"
    custom = CorrelationIds(["X-Correlation-ID"])
    assert custom.headers == ("x-correlation-id",)
    assert custom.of([(b"x-correlation-id", b"c-7"), (b"x-request-id", b"r")]) == "c-7"
    assert custom.of([(b"x-request-id", b"req-42")]) != "req-42"


def test_made_ids_share_the_process_prefix_and_never_repeat():
    made = {made_id() for _ in range(1000)}
    assert len(made) == 1000
    assert len({one[:12] for one in made}) == 1
    assert all(one.isalnum() and one.isascii() for one in made)


def test_an_id_carried_over_a_broker_is_taken_if_fit():
    assert taken_id("req-42") == "req-42"
    assert taken_id(None) is None
    assert taken_id("two words") is None


# -- a request's context -------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str


class Counted(list):
    """Headers that count how often they are read."""

    reads = 0

    def __iter__(self):
        type(self).reads += 1
        return super().__iter__()


def test_a_request_context_reads_the_headers_once_and_only_when_asked():
    headers = Counted([(b"x-request-id", b"req-42")])
    context = RequestContext(CorrelationIds(), headers)
    assert Counted.reads == 0
    assert context["correlation_id"] == "req-42"
    assert dict(context) == {"correlation_id": "req-42"}
    assert Counted.reads == 1
    context.endpoint = Endpoint("runs.get_run", "/runs/{run_id}")
    assert dict(context) == {"correlation_id": "req-42", "handler": "runs.get_run"}
    assert len(context) == 2
    assert context.get("rpc_method") is None
    with pytest.raises(KeyError):
        context["rpc_method"]


def test_a_request_context_says_whether_its_caller_chose_its_id():
    ids = CorrelationIds()
    taken = RequestContext(ids, [(b"x-request-id", b"req-42")])
    made = RequestContext(ids, [(b"x-request-id", b"has space")])
    assert (taken.correlation_id, taken.chosen) == ("req-42", True)
    assert made.correlation_id != "has space"
    assert made.chosen is False
    assert RequestContext.carrying("req-42").chosen is True
    assert ids.taken([(b"host", b"a")]) is None


def test_a_request_context_names_the_subject_who_proved_who_they_are():
    context = RequestContext.carrying("c-1")
    call = CallContext(Request("http"))
    token = enter(call)
    try:
        assert "subject" not in context  # nobody proved anything
        call.identity = Identity(kind="user", subject="runner-7")
        assert dict(context) == {"correlation_id": "c-1", "subject": "runner-7"}
        call.identity = Identity()
        assert dict(context) == {"correlation_id": "c-1"}
    finally:
        leave(token)


# -- over HTTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Greet:
    name: str


def build() -> atoll.Service:
    service = atoll.Service("greeter")
    log = logging.getLogger("greeter.app")  # the application's own logger, unchanged

    @service.get("/hello/{name}")
    async def hello(name: str) -> str:
        log.info("greeting %s", name)
        return f"hello {name}"

    @service.get("/crash")
    async def crash() -> None:
        raise RuntimeError("broken")

    @service.rpc
    async def greet(name: str) -> str:
        log.info("greeting %s over RPC", name)
        return f"hi {name}"

    return service


def client_for(*argv: str) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
    return client_of(build(), *argv)


@pytest.fixture
def contexts(caplog):
    """The log context of each record of the greeter's and atoll's HTTP loggers."""
    seen: list[tuple[str, dict[str, str]]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name in {"greeter.app", "atoll.http"}:
                seen.append((record.getMessage(), dict(current_log_context())))

    keep = Keep()
    root = logging.getLogger()
    root.addHandler(keep)
    caplog.set_level(logging.INFO)
    yield seen
    root.removeHandler(keep)


async def test_a_handlers_log_lines_carry_the_id_the_request_gave(contexts):
    async with client_for() as client:
        answer = await client.get("/hello/ada", headers={"X-Request-ID": "req-42"})
    assert answer.status_code == 200
    assert contexts == [("greeting ada", {"correlation_id": "req-42", "handler": "greeter.hello"})]


async def test_a_request_without_an_id_gets_one_made_for_it(contexts):
    async with client_for() as client:
        await client.get("/hello/ada")
        await client.get("/hello/bob")
    (_, first), (_, second) = contexts
    assert first["correlation_id"] != second["correlation_id"]
    assert first["correlation_id"][:12] == made_id()[:12]


async def test_a_traceparent_gives_its_trace_id_unless_told_not_to_trust_it(contexts):
    async with client_for() as client:
        await client.get("/hello/ada", headers={"traceparent": TRACEPARENT.decode()})
    async with client_for("--server-request-id-headers", "x-request-id") as client:
        await client.get("/hello/bob", headers={"traceparent": TRACEPARENT.decode()})
    assert [context["correlation_id"] == TRACE for _, context in contexts] == [True, False]


async def test_a_failure_is_logged_and_answered_under_the_requests_id(contexts):
    async with client_for() as client:
        answer = await client.get("/crash", headers={"X-Request-ID": "req-500"})
        made = await client.get("/crash")
    assert answer.status_code == 500
    assert answer.json()["correlation_id"] == "req-500"
    assert answer.headers["x-request-id"] == "req-500"
    assert ("GET /crash failed (correlation id req-500)", {
        "correlation_id": "req-500", "handler": "greeter.crash"
    }) in contexts  # fmt: skip
    # A made id is the same in the body, the header and the log.
    made_id_ = made.json()["correlation_id"]
    assert made.headers["x-request-id"] == made_id_
    assert f"GET /crash failed (correlation id {made_id_})" in [m for m, _ in contexts]


async def test_an_error_response_carries_the_id_and_a_success_none_made(contexts):
    async with client_for() as client:
        missing = await client.get("/nowhere", headers={"X-Request-ID": "req-404"})
        made = await client.get("/nowhere")
        fine = await client.get("/hello/ada")
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == "req-404"
    assert made.headers["x-request-id"][:12] == made_id()[:12]
    assert "x-request-id" not in fine.headers


async def test_a_json_rpc_calls_log_lines_name_its_method(contexts):
    async with client_for() as client:
        call = {"jsonrpc": "2.0", "method": "greet", "params": {"name": "ada"}, "id": 1}
        answer = await client.post("/rpc", json=call, headers={"X-Request-ID": "rpc-1"})
        batch = [call, {**call, "id": 2}]
        await client.post("/rpc", json=batch, headers={"X-Request-ID": "rpc-2"})
    assert answer.json()["result"] == "hi ada"
    assert contexts[0] == (
        "greeting ada over RPC",
        {"correlation_id": "rpc-1", "rpc_method": "greet"},
    )
    # A batch's calls run side by side: each names its own method.
    assert (
        contexts[1:]
        == [("greeting ada over RPC", {"correlation_id": "rpc-2", "rpc_method": "greet"})] * 2
    )


def test_log_lines_in_json_hold_the_context_fields():
    from atoll.kernel.logs import ContextFilter, JsonFormatter  # noqa: PLC0415

    record = logging.LogRecord("greeter.app", logging.INFO, __file__, 1, "hi", None, None)
    context = RequestContext.carrying("c-9")
    context.endpoint = Endpoint("greeter.hello", "/hello/{name}")
    with log_context(**dict(context)):
        ContextFilter().filter(record)
    line = json.loads(JsonFormatter("greeter", "h:1").format(record))
    assert (line["correlation_id"], line["handler"]) == ("c-9", "greeter.hello")


# -- carried on ------------------------------------------------------------------------------


async def test_a_call_over_http_carries_the_callers_id(contexts):
    service = build()
    app = compose(service.name, [service], serve=False)
    async with running(app, load_config(app, [], {})) as container:
        http = await container.aget(HttpApp)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=http))
        async with RemoteService(HttpTransport("http://greeter.test/rpc", client=client)) as remote:
            with log_context(correlation_id="c-77"):
                assert await remote.methods.greet(name="ada") == "hi ada"
            await remote.methods.greet(name="bob")
        await client.aclose()
    (_, first), (_, second) = contexts
    assert first == {"correlation_id": "c-77", "rpc_method": "greet"}
    assert second["correlation_id"] != "c-77"  # none given: the service made one


@dataclass(frozen=True)
class Noted:
    text: str


def linked() -> tuple[atoll.Service, atoll.Service, list[tuple[str, str, str]], asyncio.Event]:
    """``front``, which calls ``back`` over the broker and publishes to it, and what back saw."""
    front, back = atoll.Service("front"), atoll.Service("back")
    front.database(atoll.Schema())
    seen: list[tuple[str, str, str]] = []
    arrived = asyncio.Event()

    @front.rpc
    async def relay(clients: atoll.Clients) -> str:
        return await clients.get("back").methods.echo_id()

    @front.rpc
    async def note(text: str, uow: atoll.UnitOfWork) -> None:
        async with uow:
            uow.publish(Noted(text))
            await uow.commit()

    @back.rpc
    async def echo_id() -> str:
        return current_log_context()["correlation_id"]

    @back.on(Noted)
    async def noted(event: Noted, delivery: atoll.Delivery) -> None:
        context = current_log_context()
        seen.append((event.text, delivery.headers["correlation_id"], context["correlation_id"]))
        arrived.set()

    return front, back, seen, arrived


async def test_broker_rpc_and_events_carry_the_id_to_another_service():
    front, back, seen, arrived = linked()
    url = f"memory://correlation-{made_id()}"
    flags = ["--broker-url", url]
    async with run(front, argv=[*flags, "--db-url", "memory://"]) as caller, run(back, argv=flags):
        with log_context(correlation_id="c-rpc"):
            assert await caller.rpc.methods.relay() == "c-rpc"
        assert await caller.rpc.methods.relay() != "c-rpc"  # none given: a new one
        with log_context(correlation_id="c-event"):
            await caller.rpc.methods.note(text="hello")
        async with asyncio.timeout(10):
            await arrived.wait()
    assert seen == [("hello", "c-event", "c-event")]
