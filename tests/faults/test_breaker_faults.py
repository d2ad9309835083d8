"""A slow dependency trips its caller's circuit breaker, which closes again once it recovers.

``slow_service.py`` runs as a real process; the test calls it through ``Clients``, over HTTP
or by broker RPC on NATS, RabbitMQ and Redis, with a short timeout and a breaker that opens
after three failures. Made slow, the service fails three
calls by their deadline; the breaker then refuses the next ones without sending them (the
service's count of calls stands still); made fast again, the breaker lets a probe through
once its time is up, and the calls succeed again.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import pytest

import atoll
from atoll.clients.directory import ClientOptions, Clients
from atoll.errors import CircuitOpenError, DeadlineExceededError, RemoteUnavailableError
from atoll.messaging.broker import open_broker

HERE = Path(__file__).parent
LIMIT = 30.0
"""The longest any wait here may take: a bug fails the test rather than hang it."""

pytestmark = pytest.mark.slow

OVER = [
    pytest.param(None, id="http"),
    pytest.param("nats://127.0.0.1:4222", marks=pytest.mark.services("nats"), id="nats"),
    pytest.param(
        "amqp://guest:guest@127.0.0.1:5672/",
        marks=pytest.mark.services("rabbitmq"),
        id="rabbitmq",
    ),
    pytest.param("redis://127.0.0.1:6379/7", marks=pytest.mark.services("redis"), id="redis"),
]
"""How the calls go: over HTTP, or by RPC on each broker."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("broker_url", OVER)
async def test_a_slow_dependency_trips_the_breaker_which_closes_once_it_recovers(
    spawn, tmp_path, broker_url
):
    flag = tmp_path / "slow"
    port = free_port()
    over_broker = ["--broker-url", broker_url] if broker_url else []
    process = spawn(
        sys.executable,
        "-m",
        "atoll",
        "run",
        "slow_service:service",
        "--server-port",
        str(port),
        *over_broker,
        cwd=str(HERE),
        env={"SLOW_FLAG": str(flag)},
    )
    url = f"http://127.0.0.1:{port}/rpc"
    options = ClientOptions(
        urls=[] if broker_url else [f"slow={url}"],
        timeout=0.5,
        breaker_calls=4,  # the call that succeeded, and three that fail: 3 of 4
        breaker_ratio=0.75,
        breaker_open=1.0,
    )
    broker = open_broker(broker_url) if broker_url else None
    if broker is not None:
        await broker.start()
    clients = Clients(options, broker=broker)
    slow = clients.get("slow")
    async with atoll.RemoteService(url) as watcher:  # unguarded: reads the service's count
        try:
            async with asyncio.timeout(LIMIT):  # started, asked without the breaker
                while True:
                    try:
                        await watcher.methods.counted()
                        break
                    except RemoteUnavailableError:
                        await asyncio.sleep(0.1)
            assert await slow.methods.work() == "done"
            flag.touch()
            for _ in range(3):
                with pytest.raises(DeadlineExceededError):
                    await slow.methods.work()
            sent = await watcher.methods.counted()
            with pytest.raises(CircuitOpenError, match="the circuit breaker of slow is open"):
                await slow.methods.work()
            assert await watcher.methods.counted() == sent  # refused without being sent
            flag.unlink()
            async with asyncio.timeout(LIMIT):
                while True:
                    try:
                        assert await slow.methods.work() == "done"
                        break
                    except CircuitOpenError as refused:
                        await asyncio.sleep(refused.probe_in + 0.05)
            assert await slow.methods.work() == "done"
        finally:
            await clients.aclose()
            if broker is not None:
                await broker.stop()
    process.signal(signal.SIGTERM)
    assert await asyncio.to_thread(process.finish) == 0
