"""A fleet found through its registry, with real processes: an instance killed mid-load.

Three ``echo`` processes register in one registry, on Redis or on NATS; a client calls them by
name through it, its calls safe to repeat. One is killed with SIGKILL while the client calls:
no call fails, the killed instance answers nothing more, and it leaves the registry within its
ttl.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import pytest

from atoll.clients.directory import ClientOptions, Clients
from atoll.resilience.registration import Discovery, RegistryOptions
from atoll.resilience.registry import open_registry

HERE = Path(__file__).parent
REGISTRIES = [
    pytest.param("redis://127.0.0.1:6379/5", marks=pytest.mark.services("redis"), id="redis"),
    pytest.param("nats://127.0.0.1:4222", marks=pytest.mark.services("nats"), id="nats"),
]
TTL = 2.0
LIMIT = 30.0
"""The longest any wait here may take: a bug fails the test rather than hang it."""

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("url", REGISTRIES)
async def test_a_killed_instance_costs_no_safe_call_and_leaves_the_registry(spawn, url):
    registry = open_registry(url)
    await registry.start()
    for stale in await registry.instances("echo"):  # an earlier run's, killed with its test
        await registry.deregister("echo", stale.id)
    processes = []
    for _ in range(3):
        process = spawn(
            sys.executable,
            "-m",
            "atoll",
            "run",
            "echo_service:service",
            "--server-port",
            str(free_port()),
            "--registry-url",
            url,
            "--registry-ttl",
            str(TTL),
            "--log-level",
            "warning",
            cwd=str(HERE),
        )
        processes.append(process)
    options = RegistryOptions(url=url, ttl=TTL, refresh=0.2)
    clients = Clients(
        ClientOptions(safe=["echo=*"], backoff=0.01, timeout=5.0),
        discovery=Discovery(registry, options),
    )
    echo = clients.get("echo")
    try:
        async with asyncio.timeout(LIMIT):
            while len(await registry.instances("echo")) < 3:  # noqa: ASYNC110 - polled
                await asyncio.sleep(0.1)
        answered = {await echo.methods.whoami() for _ in range(30)}
        assert answered == {process.popen.pid for process in processes}
        victim = processes[0]
        victim.signal(signal.SIGKILL)
        failures, after = 0, []
        async with asyncio.timeout(LIMIT):
            # Calls go on while the registry still lists the killed instance, and after.
            while len(await registry.instances("echo")) == 3 or len(after) < 60:
                try:
                    after.append(await echo.methods.whoami())
                except Exception:  # noqa: BLE001 - counted: none may fail
                    failures += 1
        assert failures == 0
        assert victim.popen.pid not in after[-30:]
        assert set(after[-30:]) == {process.popen.pid for process in processes[1:]}
        listed = {instance.id for instance in await registry.instances("echo")}
        assert len(listed) == 2
    finally:
        await clients.aclose()
        await registry.stop()
        for process in processes[1:]:
            process.signal(signal.SIGTERM)
        for process in processes[1:]:
            assert await asyncio.to_thread(process.finish) == 0
    # The two stopped cleanly, and deregistered as they did.
    assert await _listed_after_stop(url) == []


async def _listed_after_stop(url: str) -> list[str]:
    registry = open_registry(url)
    await registry.start()
    try:
        return [instance.id for instance in await registry.instances("echo")]
    finally:
        await registry.stop()
