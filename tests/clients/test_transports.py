import asyncio
import contextvars
import re
import socket
from typing import Any

import httpx
import pytest

from atoll.clients.remote import RemoteService, SyncRemoteService
from atoll.clients.transports import (
    HttpTransport,
    LocalTransport,
    SyncHttpTransport,
    masked,
    rpc_url,
)
from atoll.endpoints.rpc.jsonrpc import JsonRpc
from atoll.endpoints.rpc.methods import Param, RpcMethod
from atoll.errors import ConfigError, RemoteError, RemoteUnavailableError
from tests.rpc_doubles import RpcApp, answer_with, serving

LIMIT = 10.0  # every wait is bounded, so a bug fails the test instead of hanging it
URL = "http://calc.test/rpc"
CALLER = contextvars.ContextVar("CALLER", default="unset")


def make_engine(touched: list[int] | None = None) -> JsonRpc:
    """A small service: an addition, a notification target, a profile and a context probe."""
    touched = [] if touched is None else touched

    async def add(args: dict[str, Any]) -> int:
        return args["a"] + args["b"]

    async def touch(args: dict[str, Any]) -> None:
        touched.append(args["x"])

    async def caller(_: dict[str, Any]) -> str:
        return CALLER.get()

    async def profile(args: dict[str, Any]) -> dict[str, Any]:
        return {"user_id": args["user_id"], "name": "ada"}

    methods = [
        RpcMethod("add", (Param("a", int), Param("b", int)), add, int),
        RpcMethod("touch", (Param("x", int),), touch, None),
        RpcMethod("caller", (), caller, str),
        RpcMethod("users.get_profile", (Param("user_id", int),), profile, dict[str, Any]),
    ]
    return JsonRpc(methods, title="calc")


@pytest.fixture
def touched():
    return []


@pytest.fixture
def engine(touched):
    return make_engine(touched)


@pytest.fixture
def app(engine):
    return RpcApp(engine)


def failing(error: Exception):
    def handle(request: httpx.Request) -> httpx.Response:
        raise error

    return handle


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


# --- URLs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/rpc"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/rpc"),
        ("https://users.internal/api", "https://users.internal/api"),
        ("http://[::1]:8000/rpc?x=1", "http://[::1]:8000/rpc?x=1"),
    ],
)
def test_rpc_url_adds_the_rpc_path_when_there_is_none(given, expected):
    assert rpc_url(given) == expected


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("users", "it needs http:// or https:// and a host"),
        ("ftp://host/rpc", "it needs http://"),
        ("http:///rpc", "and a host"),
        ("http://host:port/rpc", "Port could not be cast"),
        ("http://[::1/rpc", "Invalid IPv6 URL"),
    ],
)
def test_rpc_url_refuses_what_is_no_http_url(given, why):
    with pytest.raises(
        ConfigError, match=re.escape("write it like http://127.0.0.1:8000/rpc")
    ) as caught:
        rpc_url(given)
    assert why in str(caught.value)


def test_rpc_url_masks_the_password_of_a_url_it_refuses():
    with pytest.raises(ConfigError) as caught:
        rpc_url("ftp://ada:secret@host")
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://ada:pw@host/rpc", "http://ada:********@host/rpc"),
        ("http://ada:p@ss@host/rpc", "http://ada:********@host/rpc"),
        ("http://:pw@host", "http://:********@host"),
        ("http://ada@host/rpc", "http://ada@host/rpc"),
        ("http://host/a:b@c", "http://host/a:b@c"),
    ],
)
def test_masked_hides_only_the_password(given, expected):
    assert masked(given) == expected


# --- HTTP: statuses and failures --------------------------------------------------------------


async def test_an_http_error_status_is_a_remote_error_with_the_status_and_body(scripted):
    remote = scripted(answer_with(status=413, content=b"x" * 500))
    with pytest.raises(RemoteError) as caught:
        await remote.methods.add(1, 2)
    assert caught.value.code == -32603
    assert caught.value.message == f"HTTP 413 from {URL}"
    assert caught.value.data == {"status": 413, "body": "x" * 200}


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_a_gateway_saying_the_service_is_down_makes_it_unavailable(scripted, status):
    remote = scripted(answer_with(status=status, content=b"down"))
    with pytest.raises(RemoteUnavailableError, match=f"answered HTTP {status}"):
        await remote.methods.add(1, 2)


async def test_a_refused_connection_makes_the_service_unavailable():
    url = f"http://127.0.0.1:{closed_port()}/rpc"
    async with RemoteService(url) as remote:
        with pytest.raises(RemoteUnavailableError) as caught:
            await remote.methods.add(1, 2)
    assert str(caught.value) == (
        f"cannot reach {url}: connection refused; check that the service runs there"
    )
    assert isinstance(caught.value, ConnectionError)


def connect_error(cause: BaseException | None) -> httpx.ConnectError:
    error = httpx.ConnectError(str(cause))
    error.__cause__ = cause  # as `raise ... from cause` leaves it
    return error


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (
            connect_error(socket.gaierror(-2, "Name or service not known")),
            "the host name does not resolve (Name or service not known); check the host",
        ),
        (
            connect_error(ExceptionGroup("all", [ConnectionRefusedError(111, "refused")])),
            "connection refused",
        ),
        (connect_error(OSError(113, "No route to host")), "No route to host; check the host"),
        (connect_error(None), "None; check the host and port"),
        (httpx.ConnectTimeout("slow"), "no connection within 10 s"),
    ],
)
async def test_a_failed_connection_tells_why(scripted, error, why):
    remote = scripted(failing(error))
    with pytest.raises(RemoteUnavailableError, match=f"^cannot reach {URL}: ") as caught:
        await remote.methods.add(1, 2)
    assert why in str(caught.value)


async def test_no_answer_within_the_timeout_says_the_call_may_have_run(scripted):
    remote = scripted(failing(httpx.ReadTimeout("slow")))
    with pytest.raises(RemoteUnavailableError) as caught:
        await remote.methods.add(1, 2)
    assert str(caught.value).startswith(f"no answer from {URL} within 10 s; the call may have run")


async def test_a_dropped_connection_says_the_call_may_have_run(scripted):
    remote = scripted(failing(httpx.RemoteProtocolError("Server disconnected")))
    with pytest.raises(RemoteUnavailableError) as caught:
        await remote.methods.add(1, 2)
    assert str(caught.value) == (
        f"the connection to {URL} failed (RemoteProtocolError: Server disconnected); the call "
        "may have run; check that the service is healthy"
    )


async def test_a_password_in_the_url_is_never_shown(scripted):
    url = "http://ada:s3cr@t@calc.test:8000/rpc"
    remote = scripted(answer_with(status=500, content=b""), url=url)
    with pytest.raises(RemoteError) as caught:
        await remote.methods.add(1, 2)
    assert "s3cr" not in str(caught.value)
    assert remote.url == "http://ada:********@calc.test:8000/rpc"
    assert "s3cr" not in repr(remote)
    assert "s3cr" not in repr(remote.transport)


async def test_the_password_in_the_url_is_sent_as_basic_auth(scripted):
    seen = []

    def handle(request):
        seen.append(request.headers["authorization"])
        return answer_with({"jsonrpc": "2.0", "result": 1, "id": "$id"})(request)

    await scripted(handle, url="http://ada:pw@calc.test/rpc").methods.add(1, 2)
    assert seen == ["Basic YWRhOnB3"]


async def test_requests_are_posted_as_json(scripted):
    seen = []

    def handle(request):
        seen.append(request)
        return answer_with({"jsonrpc": "2.0", "result": 1, "id": "$id"})(request)

    await scripted(handle).methods.add(1, 2)
    assert seen[0].method == "POST"
    assert seen[0].headers["content-type"] == "application/json"
    assert seen[0].headers["user-agent"].startswith("atoll/")


# --- HTTP: connections ------------------------------------------------------------------------


async def test_the_transport_makes_its_client_at_the_first_call_and_closes_it(app):
    transport = HttpTransport(URL)
    await transport.aclose()  # nothing to close yet
    transport._client = owned = httpx.AsyncClient(transport=httpx.ASGITransport(app))
    remote = RemoteService(transport)
    assert await remote.methods.add(1, 2) == 3
    await remote.aclose()
    assert owned.is_closed
    assert transport._client is None


async def test_a_given_client_is_left_open(app, clients):
    client = clients(app=app)
    async with RemoteService(HttpTransport(URL, client=client)) as remote:
        await remote.methods.add(1, 2)
    assert not client.is_closed


def test_transports_show_where_they_send():
    assert repr(HttpTransport("http://h:1")) == "HttpTransport('http://h:1/rpc')"
    assert repr(SyncHttpTransport("http://h:1")) == "SyncHttpTransport('http://h:1/rpc')"
    assert repr(LocalTransport(make_engine(), name="runs")) == "LocalTransport('local://runs')"


async def test_calls_go_over_a_real_socket(app, touched):
    with serving(app) as url:
        async with RemoteService(url, timeout=LIMIT) as remote:
            assert await remote.methods.add(a=20, b=22) == 42
            await remote.notifications.touch(x=5)
            async with remote.batch() as batch:
                pending = batch.methods.users.get_profile(user_id=1)
            assert pending.result() == {"user_id": 1, "name": "ada"}
            with pytest.raises(RemoteError) as caught:
                await remote.methods.add(a="x", b=1)
            assert caught.value.code == -32602
    assert touched == [5]


def test_the_blocking_transport_closes_the_client_it_made(app):
    with serving(app) as url:
        remote = SyncRemoteService(url)
        remote.close()  # nothing to close yet
        assert remote.methods.add(1, 2) == 3
        client = remote.transport._client
        remote.close()
    assert client is not None
    assert client.is_closed


# --- in the process ---------------------------------------------------------------------------


async def test_a_local_engine_runs_without_the_callers_context(engine):
    # as a remote one would: it must not join the caller's request scope or unit of work
    remote = RemoteService(LocalTransport(engine))
    token = CALLER.set("the caller")
    try:
        assert await remote.methods.caller() == "unset"
    finally:
        CALLER.reset(token)


async def test_the_local_engine_task_is_awaited_not_leaked(engine):
    transport = LocalTransport(engine)
    before = len(asyncio.all_tasks())
    await transport.exchange(
        b'{"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": 1}', notification=False
    )
    assert len(asyncio.all_tasks()) == before
    await transport.aclose()
