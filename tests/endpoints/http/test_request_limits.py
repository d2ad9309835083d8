"""What one request may cost: its header fields, its query parameters, the time its body takes.

Each limit is an option of ``[server]`` with a safe default; a request past it gets the
documented answer (431, 414, 408), never a 500 and never a hang.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

import atoll
import atoll.testing


@dataclass(frozen=True)
class Note:
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

    service.mount("/legacy", _reads_its_body)
    return service


async def _reads_its_body(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A mounted ASGI app, which reads the body itself: the body timeout holds for it too."""
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"read"})


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
    ],
)
async def test_limits_that_would_refuse_everything_are_refused_at_start(flag, value, said):
    with pytest.raises(Exception, match=said):
        async with atoll.testing.run(notes(), argv=[flag, value]):
            pass
