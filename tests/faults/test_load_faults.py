"""Real processes under load: stopped with SIGTERM, and sent twice what they can take.

``busy_service.py`` runs as real processes:

- stopped with SIGTERM while it holds calls, it answers every one of them, then exits 0;
- one of two instances found through a registry on Redis or NATS, stopped with SIGTERM while
  a client calls them without pause (calls that are not safe to repeat, so never tried
  twice): no call fails, since it leaves the registry as its drain begins and serves through
  the drain what was sent to it before the client read the registry again;
- sent twice the calls a second it can answer, with ``--server-max-in-flight``: it never holds
  more than its limit, the excess gets a fast 503 with ``Retry-After``, and once the load
  drops every call is answered again (within 10 s).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

import atoll
from atoll.clients.directory import ClientOptions, Clients
from atoll.errors import RemoteUnavailableError
from atoll.resilience.registration import Discovery, RegistryOptions
from atoll.resilience.registry import open_registry
from tests.faults import busy_service

HERE = Path(__file__).parent

REGISTRIES = [
    pytest.param("redis://127.0.0.1:6379/5", marks=pytest.mark.services("redis"), id="redis"),
    pytest.param("nats://127.0.0.1:4222", marks=pytest.mark.services("nats"), id="nats"),
]
LIMIT = 30.0
"""The longest any wait here may take: a bug fails the test rather than hang it."""

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_busy(spawn, port: int, *flags: str):
    return spawn(
        sys.executable,
        "-m",
        "atoll",
        "run",
        "busy_service:service",
        "--server-port",
        str(port),
        "--log-level",
        "warning",
        *flags,
        cwd=str(HERE),
    )


async def until_serving(url: str) -> None:
    async with atoll.RemoteService(url) as busy, asyncio.timeout(LIMIT):
        while True:
            try:
                await busy.methods.load()
            except RemoteUnavailableError:
                await asyncio.sleep(0.1)
            else:
                return


async def test_a_sigterm_lets_every_call_in_flight_be_answered(spawn):
    port = free_port()
    process = start_busy(spawn, port)
    url = f"http://127.0.0.1:{port}/rpc"
    await until_serving(url)
    async with atoll.RemoteService(url, timeout=LIMIT) as busy:
        calls = [asyncio.create_task(busy.methods.work(ms=1500)) for _ in range(12)]
        async with asyncio.timeout(LIMIT):
            while (await busy.methods.load())["now"] < 12:  # noqa: ASYNC110 - polled
                await asyncio.sleep(0.02)
        process.signal(signal.SIGTERM)
        answers = await asyncio.gather(*calls)
    assert answers == [process.popen.pid] * 12
    assert await asyncio.to_thread(process.finish) == 0


@pytest.mark.parametrize("url", REGISTRIES)
async def test_a_sigterm_under_load_costs_no_call_of_a_fleet_found_through_its_registry(spawn, url):
    registry = open_registry(url)
    await registry.start()
    for stale in await registry.instances("busy"):  # an earlier run's, killed with its test
        await registry.deregister("busy", stale.id)
    flags = ("--registry-url", url, "--registry-ttl", "5", "--shutdown-drain", "2")
    ports = [free_port(), free_port()]
    processes = [start_busy(spawn, port, *flags) for port in ports]
    victim, survivor = processes
    clients = Clients(
        ClientOptions(timeout=LIMIT),  # nothing safe to repeat: each call is tried once
        discovery=Discovery(registry, RegistryOptions(url=url, refresh=0.2)),
    )
    busy = clients.get("busy")
    answered: list[tuple[float, int]] = []
    failures: list[BaseException] = []
    exited: list[float] = []

    async def call_without_pause() -> None:
        while not exited or sum(when > exited[0] for when, _ in answered) < 100:
            try:
                pid = await busy.methods.work(ms=10)
            except Exception as error:  # noqa: BLE001 - counted: none may fail
                failures.append(error)
            else:
                answered.append((time.monotonic(), pid))

    try:
        async with asyncio.timeout(LIMIT):
            while len(await registry.instances("busy")) < 2:  # noqa: ASYNC110 - polled
                await asyncio.sleep(0.1)
        callers = [asyncio.create_task(call_without_pause()) for _ in range(6)]
        async with asyncio.timeout(LIMIT):
            while {pid for _, pid in answered} != {p.popen.pid for p in processes}:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            victim.signal(signal.SIGTERM)
            while victim.popen.poll() is None:  # noqa: ASYNC110 - a process, polled
                await asyncio.sleep(0.05)
            exited.append(time.monotonic())
            await asyncio.gather(*callers)
        assert failures == []
        assert victim.popen.returncode == 0
        after = [pid for when, pid in answered if when > exited[0]]
        assert set(after) == {survivor.popen.pid}
        listed = [instance.urls["http"] for instance in await registry.instances("busy")]
        assert listed == [f"http://127.0.0.1:{ports[1]}/rpc"]
    finally:
        await clients.aclose()
        await registry.stop()
        survivor.signal(signal.SIGTERM)
        assert await asyncio.to_thread(survivor.finish) == 0


async def test_twice_the_load_it_can_take_is_shed_and_every_call_answered_once_it_drops(spawn):
    port = free_port()
    limit = 2 * busy_service.SLOTS
    process = start_busy(spawn, port, "--server-max-in-flight", str(limit))
    base = f"http://127.0.0.1:{port}"
    await until_serving(f"{base}/rpc")
    rate = 2 * busy_service.SLOTS / busy_service.WORK  # twice the calls a second it answers
    statuses: list[int] = []
    waits: list[str | None] = []
    async with httpx.AsyncClient(base_url=base, timeout=LIMIT) as client:

        async def get() -> None:
            response = await client.get("/slots")
            statuses.append(response.status_code)
            if response.status_code == 503:
                waits.append(response.headers.get("retry-after"))

        calls = []
        began = time.monotonic()
        for sent in range(int(rate * 3)):  # three seconds of it, sent at a steady pace
            await asyncio.sleep(max(0.0, began + sent / rate - time.monotonic()))
            calls.append(asyncio.create_task(get()))
        await asyncio.gather(*calls)
        shed, answered = statuses.count(503), statuses.count(200)
        assert shed + answered == len(statuses)
        assert shed > 0
        assert answered > 0
        assert set(waits) == {"1"}
        async with atoll.RemoteService(f"{base}/rpc") as busy:
            held = await busy.methods.load()
        assert held["most"] <= limit  # the rest was never taken on, so never queued
        assert held["answered"] == answered
        # The load has dropped: within 10 s, calls are answered again, every one of them.
        async with asyncio.timeout(10):
            while True:
                again = await asyncio.gather(*(client.get("/slots") for _ in range(limit)))
                if all(response.status_code == 200 for response in again):
                    break
        again = [await client.get("/slots") for _ in range(10)]
        assert [response.status_code for response in again] == [200] * 10
    process.signal(signal.SIGTERM)
    assert await asyncio.to_thread(process.finish) == 0
