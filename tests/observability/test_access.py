"""Access logs: a line per HTTP request, JSON-RPC call and message handled, each switchable."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
import signal
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import atoll
from atoll.kernel.app import LogOptions
from atoll.kernel.entrypoint import _StderrHandler, load_config, running
from atoll.kernel.logs import (
    ContextFilter,
    JsonFormatter,
    TextFormatter,
    log_context,
    reset_log_context,
    set_log_context,
)
from atoll.kernel.options import MASK
from atoll.kernel.redaction import Redactor
from atoll.messaging.envelope import message_name
from atoll.observability.access import FLUSHED_WITHIN, AccessLog
from atoll.observability.correlation import CorrelationIds, RequestContext, made_id
from atoll.testing import run
from tests.observability.serving import Ordered, client_of, shop_and_mail

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Shout:
    word: str


class TooQuietError(Exception):
    """A declared error: the caller's fault."""


def build() -> atoll.Service:
    service = atoll.Service("shop")
    service.error(TooQuietError, status=422, title="too quiet")

    @service.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @service.get("/quiet")
    async def quiet() -> None:
        raise TooQuietError("speak up")

    @service.get("/crash")
    async def crash() -> None:
        raise RuntimeError("broken")

    @service.rpc
    async def double(value: int) -> int:
        return 2 * value

    @service.rpc
    async def fail() -> None:
        raise RuntimeError("broken")

    return service


def client_for(*argv: str) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
    return client_of(build(), *argv, client=("10.0.0.7", 4242))


@pytest.fixture
def access(caplog):
    """The access records, as (logger, level, message, fields) tuples."""
    caplog.set_level(logging.INFO)

    def records(kind: str):
        return [
            (r.levelname, r.getMessage(), r.fields, r.exc_info)
            for r in caplog.records
            if r.name == f"atoll.access.{kind}"
        ]

    return records


def test_the_kinds_of_access_lines_are_chosen_by_name():
    assert LogOptions().access == []
    both = AccessLog.of(LogOptions(access=["http", "messages"]))
    assert (both.http, both.rpc, both.messages) == (True, False, True)
    every = AccessLog.of(LogOptions(access=["all"]))
    assert (every.http, every.rpc, every.messages, every.graphql) == (True, True, True, True)
    with pytest.raises(
        ValueError, match=r"access holds sql; choose among http, rpc, messages, graphql"
    ):
        LogOptions(access=["sql"])


async def test_no_access_line_is_written_unless_asked_for(access, caplog):
    async with client_for() as client:
        await client.get("/items/1")
        await client.post("/rpc", json={"jsonrpc": "2.0", "method": "double", "params": [2]})
    assert not [r for r in caplog.records if r.name.startswith("atoll.access")]


async def test_a_request_has_a_line_with_its_route_status_size_duration_and_client(access):
    async with client_for("--log-access", "http") as client:
        answer = await client.get("/items/42", headers={"X-Request-ID": "req-1"})
        missing = await client.get("/nowhere")
    [(level, message, fields, _), (missing_level, _, missing_fields, _)] = access("http")
    assert level == "INFO"
    duration = fields.pop("duration_ms")
    assert duration >= 0
    assert message == f"GET /items/42 200 {len(answer.content)} B {duration} ms"
    assert fields == {
        "method": "GET",
        "route": "/items/{item_id}",
        "path": "/items/42",
        "status": 200,
        "bytes": len(answer.content),
        "client": "10.0.0.7",
    }
    assert (missing_level, missing_fields["status"], missing_fields["route"]) == ("INFO", 404, None)
    assert missing_fields["bytes"] == len(missing.content)


async def test_a_4xx_is_at_info_and_a_5xx_at_error_with_its_traceback(access, caplog):
    async with client_for("--log-access", "http") as client:
        await client.get("/quiet")
        failed = await client.get("/crash", headers={"X-Request-ID": "req-500"})
    [(quiet_level, _, quiet, _), (level, message, fields, exc_info)] = access("http")
    assert (quiet_level, quiet["status"]) == ("INFO", 422)
    assert (level, fields["status"]) == ("ERROR", 500)
    assert message.startswith("GET /crash 500 ")
    assert isinstance(exc_info[1], RuntimeError)
    # The access line carries the traceback: the failure is not logged twice.
    assert not [r for r in caplog.records if r.name == "atoll.http"]
    assert failed.json()["correlation_id"] == "req-500"


async def test_a_json_rpc_call_has_a_line_with_its_method_outcome_and_error_code(access):
    async with client_for("--log-access", "rpc") as client:
        await client.post(
            "/rpc", json={"jsonrpc": "2.0", "method": "double", "params": [2], "id": 1}
        )
        await client.post("/rpc", json={"jsonrpc": "2.0", "method": "nope", "id": 2})
        batch = [
            {"jsonrpc": "2.0", "method": "double", "params": ["x"], "id": 3},
            {"jsonrpc": "2.0", "method": "fail", "id": 4},
        ]
        await client.post("/rpc", json=batch)
    lines = [(level, fields["rpc_method"], fields["outcome"], fields.get("error_code"))
             for level, _, fields, _ in access("rpc")]  # fmt: skip
    assert lines == [
        ("INFO", "double", "ok", None),
        ("INFO", "nope", "error", -32601),
        ("INFO", "double", "error", -32602),
        ("ERROR", "fail", "error", -32603),
    ]


def graphed() -> atoll.Service:
    """A service over GraphQL: a query doubling, and a mutation that fails inside."""
    service = atoll.Service("shop")

    @service.rpc
    @service.get("/double/{value}")
    async def double(value: int) -> int:
        return 2 * value

    @service.rpc
    async def fail() -> int:
        raise RuntimeError("broken")

    service.graphql()
    return service


async def test_a_graphql_operation_has_a_line_with_its_type_name_fields_and_outcome(access):
    async with client_of(graphed(), "--log-access", "graphql") as client:
        asked = {"query": "query Twice { double(value: 2) again: double(value: 3) }"}
        await client.post("/graphql", json={**asked, "operationName": "Twice"})
        await client.post("/graphql", json={"query": "mutation { fail }"})
        await client.post("/graphql", json={"query": "{ nope }"})
    lines = access("graphql")
    assert [(level, message.rsplit(" ", 2)[0]) for level, message, _, _ in lines] == [
        ("INFO", "query Twice ok"),
        ("ERROR", "mutation partial"),
        ("INFO", "document error"),
    ]
    fields = [line[2] for line in lines]
    assert all(each.pop("duration_ms") >= 0 for each in fields)
    assert fields == [
        {
            "graphql_operation": "query",
            "graphql_name": "Twice",
            "graphql_fields": ["double", "double"],
            "outcome": "ok",
        },
        {
            "graphql_operation": "mutation",
            "graphql_name": None,
            "graphql_fields": ["fail"],
            "outcome": "partial",
            "error_codes": ["INTERNAL_SERVER_ERROR"],
        },
        {
            "graphql_operation": None,
            "graphql_name": None,
            "graphql_fields": [],
            "outcome": "error",
            "error_codes": ["GRAPHQL_VALIDATION_FAILED"],
        },
    ]


async def test_a_message_handled_has_a_line_with_its_type_delivery_and_outcome(access):
    outcomes: dict[str, int] = {}
    shop, mail, done = shop_and_mail(outcomes)
    url = f"memory://access-{uuid.uuid4().hex}"
    flags = ["--broker-url", url, "--broker-retry-backoff", "0.01", "--broker-deliveries", "2"]
    async with (
        run(shop, argv=[*flags, "--db-url", "memory://"]) as shop_app,
        run(mail, argv=[*flags, "--log-access", "messages"]),
    ):
        lines = logging.getLogger("atoll.access.messages")
        second = Written(2)
        lines.addHandler(second)
        try:
            await shop_app.rpc.methods.order(item="poison")
            async with asyncio.timeout(10):
                await done.wait()
                await second.written.wait()
        finally:
            lines.removeHandler(second)
    kind = message_name(Ordered)
    lines = [(level, f["message_type"], f["consumer"], f["delivery"], f["outcome"])
             for level, _, f, _ in access("messages")]  # fmt: skip
    assert all(f["lag_ms"] >= 0 for _, _, f, _ in access("messages"))  # from its sealing
    assert lines == [
        ("INFO", kind, "mail", 1, "retried"),
        ("ERROR", kind, "mail", 2, "dead-lettered"),
    ]


class Written(logging.Handler):
    """Sets :attr:`written` once it has seen ``count`` records."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count
        self.written = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.count -= 1
        if self.count <= 0:
            self.written.set()


@pytest.mark.slow
def test_a_served_process_writes_its_access_lines_as_json(spawn):
    """Through atoll's own handler, the lines skip logging's records: the same JSON they'd make."""
    process = spawn(
        sys.executable, "-m", "atoll", "run", "access_service:service", "--server-port", "0",
        "--log-format", "json", "--log-access", "all", cwd=str(HERE),
    )  # fmt: skip
    serving = process.wait_for("serving on", timeout=30)
    url = re.search(r"serving on (http://[^\s:]+:\d+)", serving)
    assert url is not None, serving
    base = url.group(1)
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/items/7", headers={"X-Request-ID": "req-7"}).status_code == 200
        assert client.get("/crash", headers={"X-Request-ID": "req-9"}).status_code == 500
        call = {"jsonrpc": "2.0", "method": "double", "params": [21], "id": 1}
        assert client.post("/rpc", json=call, headers={"X-Request-ID": "req-8"}).json() == {
            "jsonrpc": "2.0", "result": 42, "id": 1
        }  # fmt: skip
    process.wait_for('"atoll.access.rpc"')
    process.signal(signal.SIGTERM)
    assert process.finish() == 0, process.output
    entries = [json.loads(line) for line in process.lines if line.startswith("{")]
    access = {e["correlation_id"]: e for e in entries if e["logger"].startswith("atoll.access")}
    item = access["req-7"]
    assert item["time"].endswith("Z")
    assert {k: item[k] for k in ("level", "service", "method", "route", "path", "status")} == {
        "level": "info",
        "service": "shop",
        "method": "GET",
        "route": "/items/{item_id}",
        "path": "/items/7",
        "status": 200,
    }
    assert (item["handler"], item["client"]) == ("shop.get_item", "127.0.0.1")
    crash = access["req-9"]
    assert (crash["level"], crash["status"]) == ("error", 500)
    assert "RuntimeError: broken" in crash["exception"]
    rpc = [e for e in entries if e["logger"] == "atoll.access.rpc"]
    assert [(e["rpc_method"], e["outcome"], e["correlation_id"]) for e in rpc] == [
        ("double", "ok", "req-8")
    ]


class Lines(logging.StreamHandler):
    """A handler as atoll configures it: its formatter makes lines without records."""

    writes_lines = True


@pytest.mark.parametrize("formatter", [JsonFormatter("shop", "h:1"), TextFormatter()])
def test_a_line_written_past_logging_reads_as_a_record_of_it_would(formatter, caplog):
    caplog.set_level(logging.INFO, logger="atoll.access.http")
    stream = io.StringIO()
    handler = Lines(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter)
    root = logging.getLogger()
    kept, root.handlers = root.handlers, [handler]
    try:
        with log_context(correlation_id="c-1"):
            AccessLog(["http"]).request(
                "GET", "/items/{id}", "/items/1", 200, 9, 0.0012, "10.0.0.7"
            )
            assert stream.getvalue(), "written past logging"
            direct = stream.getvalue()
            stream.truncate(0)
            stream.seek(0)
            root.handlers = [handler, logging.NullHandler()]  # another handler: through logging
            AccessLog(["http"]).request(
                "GET", "/items/{id}", "/items/1", 200, 9, 0.0012, "10.0.0.7"
            )
            logged = stream.getvalue()
    finally:
        root.handlers = kept
    if isinstance(formatter, JsonFormatter):
        direct_entry, logged_entry = json.loads(direct), json.loads(logged)
        assert direct_entry.pop("time")[:19] == logged_entry.pop("time")[:19]
        assert direct_entry == logged_entry
        assert direct_entry["correlation_id"] == "c-1"
    else:
        assert direct[:19] == logged[:19]
        assert (
            direct[24:] == logged[24:] == "INFO    atoll.access.http: GET /items/1 200 9 B 1.2 ms\n"
        )


@pytest.mark.parametrize(
    ("kind", "path_or_method", "correlation"),
    [
        ("http", "/login/password=hunter2", "c-1"),
        ("http", "/items/1", "api_key=hunter2"),
        ("rpc", "token=hunter2", "c-1"),
        ("rpc", "double", "secret=hunter2"),
    ],
)
def test_what_a_caller_chose_is_masked_on_a_line_written_past_logging(
    kind, path_or_method, correlation, caplog
):
    caplog.set_level(logging.INFO, logger=f"atoll.access.{kind}")
    stream = io.StringIO()
    handler = Lines(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter("shop", "h:1"))
    root = logging.getLogger()
    kept, root.handlers = root.handlers, [handler]
    token = set_log_context(RequestContext.carrying(correlation))
    try:
        access = AccessLog([kind])
        if kind == "http":
            access.request("GET", None, path_or_method, 404, 9, 0.001, "10.0.0.7")
        else:
            access.call(path_or_method, None, 0.001)
    finally:
        reset_log_context(token)
        root.handlers = kept
    (line,) = stream.getvalue().splitlines()
    assert "hunter2" not in line
    assert MASK in line


@pytest.mark.parametrize("kind", ["http", "rpc"])
def test_an_id_the_caller_chose_and_a_made_one_holding_a_secret_are_masked(kind, caplog):
    """A made id is written unchecked unless a secret may be written in its digits."""
    caplog.set_level(logging.INFO, logger=f"atoll.access.{kind}")
    stream = io.StringIO()
    handler = Lines(stream)
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    kept, root.handlers = root.handlers, [handler]
    ids = CorrelationIds()
    prefix = made_id()[:12]  # this process's: every made id holds it
    lines = []
    try:
        for secrets, headers in [
            ((), [(b"x-request-id", b"password=hunter2")]),
            ((prefix,), []),
            ((), []),
        ]:
            handler.setFormatter(JsonFormatter("shop", "h:1", redactor=Redactor(secrets)))
            token = set_log_context(RequestContext(ids, headers))
            try:
                access = AccessLog([kind])
                if kind == "http":
                    access.request("GET", "/items/{id}", "/items/1", 200, 9, 0.001, "10.0.0.7")
                else:
                    access.call("double", None, 0.001)
            finally:
                reset_log_context(token)
            lines.append(stream.getvalue())
            stream.truncate(0)
            stream.seek(0)
    finally:
        root.handlers = kept
    chosen, holding, plain = (json.loads(line)["correlation_id"] for line in lines)
    assert chosen == f"password={MASK}"
    assert holding.startswith(MASK)
    assert prefix not in holding
    assert plain.startswith(prefix)


@contextlib.contextmanager
def atolls_handler_alone(monkeypatch, *secrets: str):
    """atoll's handler as the root logger's only one, at INFO, writing to a stderr in memory.

    Yields the handler and what it wrote; its formatter masks ``secrets``.
    """
    written = io.BytesIO()
    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(written, encoding="utf-8"))
    handler = _StderrHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter("shop", "h:1", redactor=Redactor(list(secrets))))
    root = logging.getLogger()
    kept, level, root.handlers = root.handlers, root.level, [handler]
    root.setLevel(logging.INFO)
    try:
        yield handler, written
    finally:
        root.handlers = kept
        root.setLevel(level)


async def test_atolls_handler_writes_its_queued_lines_soon_and_before_a_later_record(
    caplog, monkeypatch
):
    """Lines are queued and written together, yet within a moment, and in order with others."""
    caplog.set_level(logging.INFO, logger="atoll.access.http")
    with atolls_handler_alone(monkeypatch) as (_, written):
        token = set_log_context(RequestContext(CorrelationIds(), []))
        try:
            access = AccessLog(["http"])
            access.request("GET", "/items/{id}", "/items/1", 200, 9, 0.001, "10.0.0.7")
            assert written.getvalue() == b"", "queued, not written line by line"
            access.request("GET", None, "/login/password=hunter2", 404, 9, 0.001, "10.0.0.7")
            logging.getLogger("atoll.access.http").warning("a record after it")
            access.request("GET", "/items/{id}", "/items/2", 200, 9, 0.001, "10.0.0.7")
            await asyncio.sleep(FLUSHED_WITHIN * 3)
        finally:
            reset_log_context(token)
    entries = [json.loads(line) for line in written.getvalue().decode().splitlines()]
    assert [entry.get("path", entry["message"]) for entry in entries] == [
        "/items/1",
        f"/login/password={MASK}",  # queued too, and masked when the queue is written
        "a record after it",
        "/items/2",
    ]
    assert entries[0]["correlation_id"] == entries[3]["correlation_id"]


async def test_a_queue_is_looked_at_for_secrets_at_once_and_only_its_suspect_lines_masked(
    caplog, monkeypatch
):
    """The paths of a queue are looked at together; a secret in one masks that one alone."""
    caplog.set_level(logging.INFO, logger="atoll.access.http")
    paths = ["/items/1", "/share/s3cr3t-value-x", "/items/2", "/items?token=abc"]
    with atolls_handler_alone(monkeypatch, "s3cr3t-value-x") as (handler, written):
        token = set_log_context(RequestContext(CorrelationIds(), []))
        try:
            access = AccessLog(["http"])
            for path in paths:
                access.request("GET", None, path, 200, 9, 0.001, "10.0.0.7")
            assert len(handler.queued) == 2 * len(paths), "each line queued after its text"
            handler.flush()
        finally:
            reset_log_context(token)
    entries = [json.loads(line) for line in written.getvalue().decode().splitlines()]
    assert [entry["path"] for entry in entries] == [
        "/items/1",
        f"/share/{MASK}",
        "/items/2",
        f"/items?token={MASK}",
    ]
    assert [entry["message"] for entry in entries] == [
        "GET /items/1 200",
        f"GET /share/{MASK} 200",
        "GET /items/2 200",
        f"GET /items?token={MASK} 200",
    ]
    assert "s3cr3t" not in written.getvalue().decode()
    assert [set(entry) for entry in entries] == [set(entries[0])] * len(paths)


async def test_lines_queued_before_the_formatter_is_replaced_are_masked_by_the_one_they_were_for(
    monkeypatch,
):
    """Configured again (another service's logging), the handler takes a redactor that does
    not know the first one's secret: the lines queued before are written with the first."""
    with atolls_handler_alone(monkeypatch, "s3cr3t-value-x") as (handler, written):
        token = set_log_context(RequestContext(CorrelationIds(), []))
        try:
            AccessLog(["http"]).request("GET", None, "/share/s3cr3t-value-x", 200, 9, 0.001, None)
            assert handler.queued
            other = JsonFormatter("shop", "h:1", redactor=Redactor(["other-value"]))
            handler.setFormatter(other)
            assert not handler.queued, "written as the formatter changed"
            handler.flush()
        finally:
            reset_log_context(token)
    text = written.getvalue().decode()
    assert "s3cr3t" not in text
    assert [json.loads(line)["path"] for line in text.splitlines()] == [f"/share/{MASK}"]


def test_the_lines_queued_while_an_application_runs_are_written_when_it_stops(monkeypatch):
    """Not left for a flush due on a loop that ended: a next loop would never write them."""
    app = atoll.App("shop")

    async def one_run(path: str) -> None:
        async with running(app, load_config(app, [], {})):
            token = set_log_context(RequestContext(CorrelationIds(), []))
            try:
                AccessLog(["http"]).request("GET", None, path, 200, 9, 0.001, None)
            finally:
                reset_log_context(token)
            assert handler.queued, "queued, its flush due in a moment"
        # the block has ended: its lines are written, though the moment has not passed

    with atolls_handler_alone(monkeypatch) as (handler, written):
        asyncio.run(one_run("/first"))
        assert not handler.queued
        asyncio.run(one_run("/second"))  # a loop of its own, as a second run in a process
        assert not handler.queued
    entries = [json.loads(line) for line in written.getvalue().decode().splitlines()]
    paths = [entry["path"] for entry in entries if entry["logger"] == "atoll.access.http"]
    assert paths == ["/first", "/second"]
