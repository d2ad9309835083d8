"""atoll.Request and atoll.Response: what a handler reads of its call and adds to its answer."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import pytest

import atoll
import atoll.testing
from atoll.messaging.context import (
    Headers,
    Request,
    Response,
    checked_status,
    current_call,
    request_of_call,
    response_of_call,
)
from atoll.messaging.envelope import Delivery
from atoll.persistence.repository import Repository
from atoll.persistence.schema import Schema
from atoll.persistence.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Seen:
    transport: str
    method: str
    path: str
    agent: str
    cookies: dict[str, str]
    query: dict[str, list[str]]
    client: bool
    scheme: str


def seen(request: atoll.Request) -> Seen:
    return Seen(
        request.transport,
        request.method,
        request.path,
        request.headers.get("User-Agent", ""),
        dict(request.cookies),
        dict(request.query),
        request.client is not None,
        request.scheme,
    )


class Greeter:
    """A request-scoped provider that reads the request: its users get the context too."""

    def __init__(self, request: atoll.Request) -> None:
        self.language = request.headers.get("accept-language", "en")[:2]


def context_service() -> atoll.Service:  # noqa: C901 - one service, a handler per case
    service = atoll.Service("context")
    service.provide(Greeter, scope=atoll.Scope.REQUEST)

    @service.get("/seen")
    async def seen_over_rest(request: atoll.Request) -> Seen:
        return seen(request)

    @service.rpc
    async def seen_over_rpc(request: atoll.Request) -> Seen:
        return seen(request)

    @service.post("/made", status=201)
    async def made(response: atoll.Response) -> dict[str, int]:
        response.headers["Location"] = "/made/7"
        response.headers["cache-control"] = "no-store"
        response.set_cookie("session", "abc", max_age=60)
        return {"id": 7}

    @service.post("/accepted")
    async def accepted(response: atoll.Response) -> None:
        response.status_code = 202

    @service.get("/teapot")
    async def teapot(response: atoll.Response) -> str:
        response.status_code = 418
        return "short and stout"

    @service.get("/split")
    async def split(response: atoll.Response) -> str:
        response.headers["x-bad"] = "a\r\nset-cookie: stolen=1"
        return "never sent"

    @service.get("/greeting")
    async def greeting(greeter: Greeter) -> str:
        return {"fr": "bonjour"}.get(greeter.language, "hello")

    @service.get("/plain")
    async def plain() -> bool:
        return current_call() is not None

    @service.rpc
    async def tagged(tag: str, response: atoll.Response) -> str:
        response.headers[f"x-{tag}"] = tag
        response.set_cookie(tag, "1")
        return tag

    @service.rpc
    async def failing(response: atoll.Response) -> str:
        response.set_cookie("failed", "1")
        raise RuntimeError("after setting a cookie")

    @service.rpc
    async def in_process(request: atoll.Request) -> str:
        return request.transport

    return service


@pytest.fixture
async def harness():
    async with atoll.testing.run(context_service()) as running:
        yield running


async def test_a_rest_handler_reads_the_http_request(harness):
    response = await harness.client.get(
        "/seen?tag=a&tag=b",
        headers={"user-agent": "probe/1", "cookie": 'session=abc; theme="dark blue"'},
    )
    assert response.json() == {
        "transport": "http",
        "method": "GET",
        "path": "/seen",
        "agent": "probe/1",
        "cookies": {"session": "abc", "theme": "dark blue"},
        "query": {"tag": ["a", "b"]},
        "client": True,
        "scheme": "http",
    }


async def test_a_json_rpc_method_reads_the_http_request_that_carried_it(harness):
    call = {"jsonrpc": "2.0", "method": "seen_over_rpc", "id": 1}
    answer = await harness.client.post("/rpc?x=1", json=call, headers={"user-agent": "rpc/2"})
    result = answer.json()["result"]
    assert (result["transport"], result["method"], result["path"]) == ("jsonrpc", "POST", "/rpc")
    assert (result["agent"], result["query"]) == ("rpc/2", {"x": ["1"]})


async def test_a_call_in_the_process_sees_a_local_request(harness):
    assert await harness.rpc.methods.in_process() == "local"


async def test_a_rest_handler_sets_headers_and_cookies_of_its_answer(harness):
    response = await harness.client.post("/made")
    assert response.status_code == 201
    assert response.json() == {"id": 7}
    assert response.headers["location"] == "/made/7"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["set-cookie"] == (
        "session=abc; HttpOnly; Max-Age=60; Path=/; SameSite=Lax; Secure"
    )


async def test_a_status_set_by_the_handler_replaces_the_routes(harness):
    accepted = await harness.client.post("/accepted")
    assert (accepted.status_code, accepted.content) == (202, b"")
    assert accepted.headers["content-length"] == "0"
    teapot = await harness.client.get("/teapot")
    assert (teapot.status_code, teapot.json()) == (418, "short and stout")


async def test_a_header_that_would_split_the_response_is_a_500_and_logged(harness, caplog):
    with caplog.at_level(logging.ERROR, logger="atoll.http"):
        response = await harness.client.get("/split")
    assert response.status_code == 500
    assert "stolen" not in response.headers.get("set-cookie", "")
    assert "line break" in caplog.text


async def test_a_provider_that_reads_the_request_gets_it_for_its_handler(harness):
    french = await harness.client.get("/greeting", headers={"accept-language": "fr-CH"})
    assert french.json() == "bonjour"
    assert (await harness.client.get("/greeting")).json() == "hello"


async def test_a_handler_that_asks_for_neither_runs_without_a_call_context(harness):
    assert (await harness.client.get("/plain")).json() is False


async def test_each_member_of_a_json_rpc_batch_adds_its_headers_to_the_http_response(harness):
    batch = [
        {"jsonrpc": "2.0", "method": "tagged", "params": {"tag": tag}, "id": index}
        for index, tag in enumerate(["a", "b"])
    ]
    response = await harness.client.post("/rpc", json=batch)
    assert sorted(answer["result"] for answer in response.json()) == ["a", "b"]
    assert response.status_code == 200
    assert (response.headers["x-a"], response.headers["x-b"]) == ("a", "b")
    cookies = response.headers.get_list("set-cookie")
    assert sorted(cookie.split(";")[0] for cookie in cookies) == ["a=1", "b=1"]


async def test_a_json_rpc_member_that_fails_adds_nothing_to_the_http_response(harness):
    batch = [
        {"jsonrpc": "2.0", "method": "tagged", "params": {"tag": "a"}, "id": 1},
        {"jsonrpc": "2.0", "method": "failing", "id": 2},
    ]
    response = await harness.client.post("/rpc", json=batch)
    codes = sorted(answer.get("error", {}).get("code", 0) for answer in response.json())
    assert codes == [-32603, 0]
    assert [cookie.split(";")[0] for cookie in response.headers.get_list("set-cookie")] == ["a=1"]


# -- a delivered message ------------------------------------------------------------------------


@dataclass
class Parcel:
    id: int | None
    events: list[object]


@dataclass(frozen=True)
class Post:
    to: str


@dataclass(frozen=True)
class Posted:
    parcel: int


class PostUnits(UnitOfWork):
    parcels: Repository[Parcel]


async def test_a_delivered_event_is_read_as_a_broker_request_with_its_headers():
    schema = Schema()
    schema.map(Parcel)
    service = atoll.Service("post")
    service.database(schema, PostUnits)
    requests: list[atoll.Request] = []

    @service.command(Post)
    async def post(command: Post, uow: PostUnits) -> None:
        async with uow:
            parcel = await uow.parcels.add(Parcel(None, []))
            parcel.events.append(Posted(parcel.id or 0))
            await uow.commit()

    @service.on(Posted)
    async def delivered(event: Posted, request: atoll.Request) -> None:
        requests.append(request)

    async with atoll.testing.run(service, argv=["--db-url", "memory://"]) as harness:
        await harness.send(Post("ada"))
    (request,) = requests
    assert request.transport == "broker"
    assert request.method == request.path == ""
    assert request.headers["sender"] == "post"
    assert request.headers["correlation_id"]


# -- the types themselves -------------------------------------------------------------------------


def test_headers_are_read_in_any_case_and_a_repeated_one_is_joined():
    headers = Headers([("Accept", "a/b"), ("x-tag", "1"), ("X-Tag", "2")])
    assert headers["ACCEPT"] == "a/b"
    assert headers["x-tag"] == "1, 2"
    assert headers.getlist("X-TAG") == ["1", "2"]
    assert "accept" in headers
    assert 42 not in headers
    assert sorted(headers) == ["accept", "x-tag"]
    assert len(headers) == 2
    assert headers.getlist("absent") == []


def test_cookies_skip_pairs_without_a_value_and_keep_the_first_of_a_name():
    request = Request("http", headers=Headers([("cookie", "a=1; junk; =x; a=2"), ("cookie", "b=")]))
    assert request.cookies == {"a": "1", "b": ""}


def test_a_cookie_is_sent_with_the_attributes_asked_for():
    response = Response()
    response.set_cookie("theme", "dark-blue", secure=False, httponly=False, samesite="strict")
    assert response.cookies == ["theme=dark-blue; Path=/; SameSite=Strict"]


def test_a_cookie_expires_in_gmt_and_is_deleted_with_max_age_zero():
    response = Response()
    paris = dt.timezone(dt.timedelta(hours=1))
    response.set_cookie("s", "1", expires=dt.datetime(2027, 1, 1, 13, 0, tzinfo=paris))
    response.delete_cookie("s", domain="example.org")
    assert "expires=Fri, 01 Jan 2027 12:00:00 GMT" in response.cookies[0]
    assert response.cookies[1].startswith("s=; Domain=example.org; HttpOnly; Max-Age=0")


@pytest.mark.parametrize(
    ("call", "refusal"),
    [
        (lambda r: r.set_cookie("s", "1", samesite="none", secure=False), "needs secure=True"),
        (lambda r: r.set_cookie("a b", "1"), "cannot send a cookie named 'a b'"),
        (lambda r: r.set_cookie("s", "1\n2"), r"cannot hold '\\n'"),
        (lambda r: r.set_cookie("s", "a;b"), "cannot hold ';'"),
        (lambda r: r.set_cookie("s", "café"), "cannot hold 'é'"),
    ],
)
def test_a_cookie_that_cannot_be_sent_is_refused_when_set(call, refusal):
    with pytest.raises(ValueError, match=refusal):
        call(Response())


@pytest.mark.parametrize("name", ["Content-Length", "transfer-encoding", "Set-Cookie"])
def test_a_header_atoll_sends_itself_is_refused(name):
    response = Response()
    response.headers[name] = "1"
    with pytest.raises(ValueError, match=f"cannot set the header '{name}'"):
        response.header_pairs()


@pytest.mark.parametrize("status", [199, 600, "201", 201.0, True])
def test_a_status_outside_200_to_599_is_refused(status):
    with pytest.raises(ValueError, match="an int from 200 to 599"):
        checked_status(status)


def test_outside_any_transport_the_request_is_local_and_the_response_goes_nowhere():
    assert request_of_call(Delivery()).transport == "local"
    broker = request_of_call(Delivery("m-1", "post.delivered", {"attempt": 2}))
    assert (broker.transport, broker.headers["attempt"]) == ("broker", "2")
    assert isinstance(response_of_call(), Response)
    assert repr(Request("http", method="GET", path="/x")) == "<Request http GET /x>"
