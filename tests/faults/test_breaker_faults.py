"""A slow dependency trips its caller's circuit breaker, which closes again once it recovers.

``slow_service.py`` runs as a real process; the test calls it through ``Clients`` with a short
timeout and a breaker that opens after three failures. Made slow, the service fails three
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

HERE = Path(__file__).parent
LIMIT = 30.0
"""The longest any wait here may take: a bug fails the test rather than hang it."""

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_slow_dependency_trips_the_breaker_which_closes_once_it_recovers(spawn, tmp_path):
    flag = tmp_path / "slow"
    port = free_port()
    process = spawn(
        sys.executable,
        "-m",
        "atoll",
        "run",
        "slow_service:service",
        "--server-port",
        str(port),
        cwd=str(HERE),
        env={"SLOW_FLAG": str(flag)},
    )
    url = f"http://127.0.0.1:{port}/rpc"
    options = ClientOptions(
        urls=[f"slow={url}"],
        timeout=0.5,
        breaker_calls=4,  # the call that succeeded, and three that fail: 3 of 4
        breaker_ratio=0.75,
        breaker_open=1.0,
    )
    clients = Clients(options)
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
    process.signal(signal.SIGTERM)
    assert await asyncio.to_thread(process.finish) == 0
