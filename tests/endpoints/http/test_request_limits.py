"""What one request may cost: its header fields, its query parameters, the time its body takes,
how deep its JSON nests and how long its strings and arrays are.

Each limit is an option of ``[server]`` with a safe default; a request past it gets the
documented answer (431, 414, 408, 422 or a JSON-RPC error), never a 500 and never a hang.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec
import pytest

import atoll
import atoll.testing
from atoll.errors import RemoteError


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class Item:
    name: str
    tags: list[str] = field(default_factory=list)
    blurb: Annotated[str, msgspec.Meta(max_length=100_000)] = ""


@dataclass(frozen=True)
class Order:
    items: list[Item]


@dataclass(frozen=True)
class RenameNote:
    note_id: int
    text: str


def notes() -> atoll.Service:
    service = atoll.Service("notes")

    @service.get("/notes")
    async def list_notes(q: str = "") -> str:
        return q

    @service.post("/notes")
    async def add_note(note: Note) -> str:
        return note.text

    @service.rpc
    async def echo(text: str) -> str:
        return text

    @service.post("/orders")
    async def add_order(order: Order) -> list[str]:
        assert type(order) is Order
        assert all(type(item) is Item for item in order.items)
        return [item.name for item in order.items]

    @service.rpc
    async def order(order: Order) -> list[str]:
        assert type(order) is Order
        assert all(type(item) is Item for item in order.items)
        return [item.name for item in order.items]

    @service.command(RenameNote, path="/notes/{note_id}/text")
    async def rename_note(command: RenameNote) -> str:
        assert type(command) is RenameNote
        return f"{command.note_id}: {command.text}"

    @service.post("/documents")
    async def store(document: dict[str, Any]) -> int:
        return len(document)

    @service.rpc
    async def keep(document: dict[str, Any]) -> int:
        return len(document)

    service.mount("/legacy", _reads_its_body)
    return service


async def _reads_its_body(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A mounted ASGI app, which reads the body itself: the body timeout holds for it too."""
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"read"})


def nested(levels: int) -> Any:
    """A JSON value of ``levels`` arrays and objects, one in the other."""
    value: Any = 1
    for level in range(levels):
        value = [value] if level % 2 else {"a": value}
    return value


def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}


async def test_a_rest_body_nested_past_max_json_depth_is_refused_with_422():
    async with atoll.testing.run(notes(), argv=["--server-max-json-depth", "8"]) as harness:
        fine = await harness.client.post("/documents", json={"d": nested(7)})  # 8 with the body
        deep = await harness.client.post("/documents", json={"d": nested(8)})
    assert (fine.status_code, fine.json()) == (200, 1)
    assert deep.status_code == 422
    assert "more than 8 levels" in deep.json()["detail"]
    assert "--server-max-json-depth" in deep.json()["detail"]


async def test_json_rpc_params_nested_past_max_json_depth_are_a_parse_error():
    async with atoll.testing.run(notes(), argv=["--server-max-json-depth", "8"]) as harness:
        # the request, its params and the document: 3 levels before the value's own
        fine = await harness.client.post("/rpc", json=call("keep", {"document": {"d": nested(5)}}))
        deep = await harness.client.post("/rpc", json=call("keep", {"document": {"d": nested(6)}}))
        with pytest.raises(RemoteError) as in_process:
            await harness.rpc.methods.keep(document={"d": nested(6)})
    assert fine.json()["result"] == 1
    assert deep.status_code == 200
    error = deep.json()["error"]
    assert error["code"] == -32700
    assert error["data"]["detail"] == "JSON nested deeper than 8 arrays and objects"
    assert in_process.value.code == -32700


def order(*names: str, tags: int = 0) -> dict[str, Any]:
    return {"items": [{"name": name, "tags": ["t"] * tags} for name in names]}


@pytest.mark.parametrize(
    ("argv", "body", "said", "path"),
    [
        (
            ["--server-max-string-length", "5"],
            order("a", "b", "c", "a long name"),
            "Expected `str` of length <= 5 (--server-max-string-length)",
            "$.items[3].name",
        ),
        (
            ["--server-max-array-length", "3"],
            order("a", "b", "c", "d"),
            "Expected `array` of length <= 3 (--server-max-array-length)",
            "$.items",
        ),
        (
            ["--server-max-array-length", "3"],
            order("a", "b", tags=4),
            "Expected `array` of length <= 3 (--server-max-array-length)",
            "$.items[0].tags",
        ),
    ],
)
async def test_strings_and_arrays_past_their_limits_are_refused_with_their_path(
    argv, body, said, path
):
    async with atoll.testing.run(notes(), argv=argv) as harness:
        rest = await harness.client.post("/orders", json=body)
        rpc = await harness.client.post("/rpc", json=call("order", {"order": body}))
        with pytest.raises(RemoteError) as in_process:
            await harness.rpc.methods.order(order=body)
    assert rest.status_code == 422
    assert rest.json()["detail"] == f"{said} - at `{path}`"
    error = rpc.json()["error"]
    assert error["code"] == -32602
    assert error["data"] == {"detail": said, "path": path.replace("$.", "$.order.", 1)}
    assert in_process.value.code == -32602


async def test_bodies_within_the_limits_arrive_as_the_handlers_own_types():
    body = order("a", "b", tags=2)
    async with atoll.testing.run(notes()) as harness:
        rest = await harness.client.post("/orders", json=body)
        rpc = await harness.client.post("/rpc", json=call("order", {"order": body}))
    assert (rest.status_code, rest.json()) == (200, ["a", "b"])
    assert rpc.json()["result"] == ["a", "b"]


async def test_a_field_with_a_max_length_of_its_own_keeps_it():
    blurb = "b" * 70_000  # past the default of 65536, within the field's own 100000
    body = {"items": [{"name": "a", "blurb": blurb}]}
    async with atoll.testing.run(notes()) as harness:
        rest = await harness.client.post("/orders", json=body)
        rpc = await harness.client.post("/rpc", json=call("order", {"order": body}))
        long_name = await harness.client.post("/orders", json={"items": [{"name": blurb}]})
        long_rpc = await harness.client.post(
            "/rpc", json=call("order", {"order": {"items": [{"name": blurb}]}})
        )
    assert (rest.status_code, rest.json()) == (200, ["a"])
    assert rpc.json()["result"] == ["a"]
    assert long_name.status_code == 422
    assert long_name.json()["detail"] == (
        "Expected `str` of length <= 65536 (--server-max-string-length) - at `$.items[0].name`"
    )
    assert long_rpc.json()["error"]["data"]["path"] == "$.order.items[0].name"


async def test_a_commands_body_beside_its_path_is_held_to_the_lengths():
    async with atoll.testing.run(notes(), argv=["--server-max-string-length", "3"]) as harness:
        fine = await harness.client.post("/notes/7/text", json={"text": "abc"})
        long = await harness.client.post("/notes/7/text", json={"text": "abcd"})
        unknown = await harness.client.post("/notes/7/text", json={"text": "abc", "x": 1})
    assert (fine.status_code, fine.json()) == (200, "7: abc")
    assert long.status_code == 422
    assert long.json()["detail"].endswith("- at `$.text`")
    assert unknown.json()["detail"] == "Object contains unknown field `x`"


async def test_a_json_rpc_string_param_is_held_to_max_string_length():
    async with atoll.testing.run(notes(), argv=["--server-max-string-length", "3"]) as harness:
        fine = await harness.client.post("/rpc", json=call("echo", {"text": "abc"}))
        long = await harness.client.post("/rpc", json=call("echo", {"text": "abcd"}))
    assert fine.json()["result"] == "abc"
    assert long.json()["error"]["code"] == -32602
    assert long.json()["error"]["data"]["path"] == "$.text"


async def test_a_request_with_too_many_header_fields_is_refused_with_431():
    async with atoll.testing.run(notes(), argv=["--server-max-headers", "20"]) as harness:
        # httpx adds a few of its own (host, accept, user-agent...): 12 more stay within 20.
        fine = await harness.client.get("/notes", headers={f"x-{n}": "v" for n in range(12)})
        many = await harness.client.get("/notes", headers={f"x-{n}": "v" for n in range(30)})
    assert fine.status_code == 200
    assert many.status_code == 431
    assert many.headers["connection"] == "close"
    assert "--server-max-headers" in many.json()["detail"]


async def test_header_fields_holding_too_many_bytes_are_refused_with_431():
    async with atoll.testing.run(notes()) as harness:  # the default: 16384 bytes
        fine = await harness.client.get("/notes", headers={"x-big": "a" * 8000})
        huge = await harness.client.get("/notes", headers={"x-big": "a" * 20000})
    assert fine.status_code == 200
    assert huge.status_code == 431
    assert "16384" in huge.json()["detail"]


async def test_an_oversized_token_is_refused_by_the_header_limit_before_it_is_read():
    async with atoll.testing.run(notes()) as harness:
        answer = await harness.client.get(
            "/notes", headers={"authorization": "Bearer " + "A" * 200 * 1024}
        )
    assert answer.status_code == 431
    assert "AAAA" not in answer.text


async def test_a_query_with_too_many_parameters_is_refused_with_414():
    async with atoll.testing.run(notes(), argv=["--server-max-query-params", "5"]) as harness:
        fine = await harness.client.get("/notes?" + "&".join(f"p{n}=1" for n in range(4)) + "&q=x")
        many = await harness.client.get("/notes?" + "&".join(f"p{n}=1" for n in range(6)))
    assert (fine.status_code, fine.json()) == (200, "x")
    assert many.status_code == 414
    assert "--server-max-query-params" in many.json()["detail"]


class Trickle:
    """An ASGI client sending the first part of a body, then nothing more, ever."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.messages: list[dict[str, Any]] = []
        self.done = asyncio.Event()
        self.waiting = asyncio.Event()
        self.sent_first = False

    def scope(self) -> dict[str, Any]:
        return {
            "type": "http", "method": "POST", "path": self.path, "raw_path": self.path.encode(),
            "query_string": b"", "http_version": "1.1", "scheme": "http", "root_path": "",
            "headers": [(b"content-type", b"application/json"), (b"host", b"t")],
            "client": ("127.0.0.1", 5000), "server": ("t", 80),
        }  # fmt: skip

    async def receive(self) -> dict[str, Any]:
        if not self.sent_first:
            self.sent_first = True
            return {"type": "http.request", "body": b'{"text": "he', "more_body": True}
        self.waiting.set()
        await asyncio.Event().wait()  # the rest never comes
        raise AssertionError("unreachable")

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            self.done.set()


@pytest.mark.parametrize("path", ["/notes", "/rpc", "/legacy/notes"])
async def test_a_body_trickling_past_the_body_timeout_is_cut_off_with_408(path):
    async with atoll.testing.run(notes(), argv=["--server-body-timeout", "0.2"]) as harness:
        client = Trickle(path)
        await asyncio.wait_for(
            harness.http.entry(client.scope(), client.receive, client.send), timeout=30
        )
    start = client.messages[0]
    assert start["status"] == 408
    assert (b"connection", b"close") in start["headers"]
    assert b"--server-body-timeout" in client.messages[1]["body"]


class Slow(Trickle):
    """An ASGI client whose body arrives in parts, each after the server waits for it."""

    def __init__(self, path: str, parts: list[bytes], awaitable: bool = False) -> None:
        super().__init__(path)
        self.parts = parts
        self.awaitable = awaitable

    def receive(self) -> Any:
        reading = self._next()
        return _Awaitable(reading) if self.awaitable else reading

    async def _next(self) -> dict[str, Any]:
        await asyncio.sleep(0)  # the part is not there yet: the read waits for it
        part = self.parts.pop(0)
        return {"type": "http.request", "body": part, "more_body": bool(self.parts)}


class _Awaitable:
    """A read that is an awaitable, not a coroutine, as some servers' reads are."""

    def __init__(self, coroutine: Any) -> None:
        self.coroutine = coroutine

    def __await__(self) -> Any:
        return self.coroutine.__await__()


@pytest.mark.parametrize("awaitable", [False, True], ids=["coroutine", "awaitable"])
@pytest.mark.parametrize("path", ["/notes", "/rpc"])
async def test_a_body_whose_parts_each_wait_for_the_network_arrives_whole(path, awaitable):
    body = (
        b'{"text": "hello"}'
        if path == "/notes"
        else b'{"jsonrpc": "2.0", "method": "echo", "params": {"text": "hello"}, "id": 1}'
    )
    parts = [body[:5], body[5:12], body[12:]]
    async with atoll.testing.run(notes()) as harness:
        client = Slow(path, parts, awaitable=awaitable)
        await asyncio.wait_for(
            harness.http.entry(client.scope(), client.receive, client.send), timeout=30
        )
    assert client.messages[0]["status"] == 200, client.messages
    assert b"hello" in client.messages[1]["body"]


async def test_a_request_cancelled_while_its_body_is_awaited_is_cancelled():
    async with atoll.testing.run(notes(), argv=["--server-body-timeout", "60"]) as harness:
        client = Trickle("/notes")
        serving = asyncio.create_task(
            harness.http.entry(client.scope(), client.receive, client.send)
        )
        await asyncio.wait_for(client.waiting.wait(), timeout=30)  # it waits for the rest
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(serving, timeout=30)
    assert client.messages == []


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--server-max-headers", "0", "max_headers must be at least 1"),
        ("--server-max-query-params", "0", "max_query_params must be at least 1"),
        ("--server-body-timeout", "0", "body_timeout must be above 0 seconds"),
        ("--server-max-json-depth", "1", "max_json_depth must be 2..512"),
        ("--server-max-json-depth", "513", "max_json_depth must be 2..512"),
        ("--server-max-string-length", "0", "max_string_length must be at least 1"),
        ("--server-max-array-length", "0", "max_array_length must be at least 1"),
    ],
)
async def test_limits_that_would_refuse_everything_are_refused_at_start(flag, value, said):
    with pytest.raises(Exception, match=said):
        async with atoll.testing.run(notes(), argv=[flag, value]):
            pass
