"""The uvicorn adapter: serves on atoll's socket, leaves signals and lifespan to atoll."""

from __future__ import annotations

import asyncio
import signal
import socket

import httpx
import pytest
import uvicorn

from atoll.adapters import uvicorn as adapter
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


def bound():
    sock = socket.create_server(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_it_serves_an_app_on_the_socket_it_is_given():
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
    assert "server" not in response.headers


async def test_it_runs_no_lifespan_and_installs_no_signal_handler():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    app = Recorder()
    sock, url = bound()
    running = await adapter.serve(app, sock)
    try:
        during = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
        async with httpx.AsyncClient() as client:
            await client.get(url)
    finally:
        await running.stop()
    assert during == before
    assert app.kinds == ["http"]


async def test_stop_lets_a_request_in_flight_finish_and_closes_the_socket():
    app = Recorder(pause=0.3)
    sock, url = bound()
    running = await adapter.serve(app, sock)
    async with httpx.AsyncClient() as client:
        request = asyncio.create_task(client.get(f"{url}/slow"))
        await app.started.wait()
        await running.stop()
        response = await request
    assert response.status_code == 200
    assert sock.fileno() == -1


async def test_a_socket_it_cannot_serve_on_is_a_lifecycle_error():
    sock, _ = bound()
    sock.close()
    with pytest.raises(LifecycleError, match=r"uvicorn failed to start: .*Bad file descriptor"):
        await adapter.serve(Recorder(), sock)


async def test_uvicorn_exiting_at_start_is_a_lifecycle_error_not_a_process_exit(monkeypatch):
    async def exits(self, sockets=None):
        raise SystemExit(3)

    monkeypatch.setattr(uvicorn.Server, "startup", exits)
    sock, _ = bound()
    with sock, pytest.raises(LifecycleError, match=r"uvicorn failed to start \(exit 3\)"):
        await adapter.serve(Recorder(), sock)


async def test_uvicorn_returning_before_it_serves_is_a_lifecycle_error(monkeypatch):
    async def returns(self, sockets=None):
        return None

    monkeypatch.setattr(uvicorn.Server, "_serve", returns)
    sock, _ = bound()
    with sock, pytest.raises(LifecycleError, match="uvicorn stopped before it was serving"):
        await adapter.serve(Recorder(), sock)
