"""``atoll services``: the live instances of a fleet, as its registry lists them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid

import pytest
from click.testing import CliRunner

from atoll.cli import cli
from atoll.cli.services import _listed, table
from atoll.resilience.registry import Instance, MemoryRegistry, open_registry

REDIS = "redis://127.0.0.1:6379/5"


def test_the_table_shows_each_instance_its_age_and_its_last_beat():
    now = 1733300000.0
    rows = [
        Instance(
            "users",
            "web-1:42",
            version="2.1.0",
            urls={"http": "http://web-1:8000/rpc"},
            started_at=now - 3725,
            seen_at=now - 3,
        ),
        Instance("users", "web-2:7", health="draining", started_at=now - 90000, seen_at=now),
    ]
    assert table(rows, now).splitlines() == [
        "SERVICE  ID        VERSION  HEALTH    HTTP                   AGE    SEEN",
        "users    web-1:42  2.1.0    up        http://web-1:8000/rpc  1h02m  3s ago",
        "users    web-2:7   0.0.0    draining  -                      1d01h  0s ago",
    ]
    assert table([], now) == "no live instance"


@pytest.mark.services("redis")
async def test_the_command_lists_the_instances_its_pattern_matches():
    service = f"shop-{uuid.uuid4().hex[:8]}"
    registry = open_registry(REDIS)
    await registry.start()
    try:
        await registry.register(Instance(service, "web-1", version="3.0.0"), ttl=30)
        await registry.register(Instance(f"other-{service}", "web-1"), ttl=30)
        result = await asyncio.to_thread(
            CliRunner().invoke, cli, ["services", f"{service}*", "--registry-url", REDIS]
        )
    finally:
        await registry.stop()
    assert result.exit_code == 0, result.output
    (header, line) = result.output.splitlines()
    assert header.split() == ["SERVICE", "ID", "VERSION", "HEALTH", "HTTP", "AGE", "SEEN"]
    assert line.split()[:5] == [service, "web-1", "3.0.0", "up", "-"]


def test_a_registry_out_of_reach_exits_3_naming_it():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"redis://:hunter2@127.0.0.1:{port}/0"
    result = CliRunner().invoke(cli, ["services", "--registry-url", url])
    assert result.exit_code == 3
    assert f"127.0.0.1:{port}" in result.output
    assert "hunter2" not in result.output


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("memory://fleet", "a command run in a process of its own would find it empty"),
        ("consul://127.0.0.1:8500", "use memory://NAME, redis://HOST:6379/0 or nats://"),
    ],
)
def test_a_registry_the_command_cannot_read_is_a_usage_error(url, refusal):
    result = CliRunner().invoke(cli, ["services", "--registry-url", url])
    assert result.exit_code == 2
    assert refusal in " ".join(result.output.split())


async def test_watching_lists_again_until_interrupted(capsys):
    registry = MemoryRegistry(f"memory://watch-{uuid.uuid4().hex}")
    await registry.register(Instance("users", "web-1"), ttl=30)
    watching = asyncio.create_task(_listed(registry, "*", watch=True, every=0.01))
    printed = ""
    async with asyncio.timeout(10):
        while printed.count("users") < 2:
            await asyncio.sleep(0.01)
            printed += capsys.readouterr().out
    watching.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watching
