"""The granian adapter: serves on the address atoll bound, and reports a start that fails."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from granian.server.embed import Server

from atoll.adapters import granian as adapter
from atoll.endpoints.http.server import HttpServer, ServerOptions
from atoll.errors import LifecycleError


class Recorder:
    """An ASGI app that answers 200 after ``pause`` seconds and remembers the scopes it saw."""

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause
        self.kinds: list[str] = []
        self.started = asyncio.Event()

    async def __call__(self, scope, receive, send):
        self.kinds.append(scope["type"])
        self.started.set()
        await asyncio.sleep(self.pause)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})


class Address:
    """A stand-in for a bound socket: the adapter only reads its address and closes it."""

    def __init__(self, address):
        self.address = address

    def getsockname(self):
        return self.address

    def close(self):
        pass


def bound():
    sock = socket.create_server(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_it_serves_an_app_on_the_address_of_the_socket():
    app = Recorder()
    sock, url = bound()
    running = await adapter.serve(app, sock)
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{url}/hello")
    finally:
        await running.stop()
    assert response.status_code == 200
    assert response.text == "/hello"
    assert app.kinds == ["http"], "no lifespan: atoll runs the application around the server"


async def test_the_http_server_serves_with_granian_over_tcp():
    server = HttpServer(Recorder(), ServerOptions(port=0, impl="granian"))
    await server.start()
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{server.url}/granian")
    finally:
        await server.stop()
    assert response.text == "/granian"


async def test_stop_lets_a_request_in_flight_finish():
    app = Recorder(pause=0.3)
    sock, url = bound()
    running = await adapter.serve(app, sock)
    async with httpx.AsyncClient() as client:
        request = asyncio.create_task(client.get(f"{url}/slow"))
        await app.started.wait()
        await running.stop()
        response = await request
    assert response.status_code == 200


async def test_an_address_taken_once_atoll_let_go_is_a_lifecycle_error_naming_it():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        host, port = taken.getsockname()
        with pytest.raises(
            LifecycleError, match=rf"granian stopped before it served on {host}:{port}: Address"
        ) as info:
            await adapter.serve(Recorder(), Address((host, port)))
    assert "Stack backtrace" not in str(info.value)
    assert info.value.__cause__ is not None


async def test_it_probes_the_address_until_granian_accepts(monkeypatch):
    probes = []
    real = adapter._accepts

    async def slow_to_accept(host, port):
        probes.append(port)
        return len(probes) > 2 and await real(host, port)

    monkeypatch.setattr(adapter, "_accepts", slow_to_accept)
    sock, url = bound()
    running = await adapter.serve(Recorder(), sock)
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
    finally:
        await running.stop()
    assert len(probes) >= 3
    assert response.status_code == 200


async def test_granian_returning_before_it_serves_is_a_lifecycle_error(monkeypatch):
    async def returns(self, spawn_target=None):
        return None

    monkeypatch.setattr(Server, "serve", returns)
    sock, _ = bound()
    with pytest.raises(LifecycleError, match=r"granian stopped before it served on [\d.]+:\d+$"):
        await adapter.serve(Recorder(), sock)


async def test_granian_not_accepting_within_the_timeout_is_stopped_and_a_lifecycle_error(
    monkeypatch,
):
    async def refuses(host, port):
        await asyncio.sleep(0)
        return False

    monkeypatch.setattr(adapter, "_accepts", refuses)
    monkeypatch.setattr(adapter, "STARTUP_TIMEOUT", 0.0)
    sock, _ = bound()
    with pytest.raises(LifecycleError, match=r"did not accept connections .* within 0 s"):
        await adapter.serve(Recorder(), sock)
