"""Runnerly apart: a process per service on NATS JetStream and PostgreSQL (make demo-fleet)."""

import asyncio
import re
import socket
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

RUNNERLY = Path(__file__).parents[2] / "examples" / "runnerly"
DATABASES = ("users", "runs", "stats", "auth")


@pytest.fixture
def database_prefix():
    """A prefix of the fleet's database names of this test's own, dropped afterwards.

    The fleet's own (``runnerly_users``...) may be another checkout's, migrated further.
    """
    prefix = f"runnerly_{uuid.uuid4().hex[:8]}"
    yield prefix

    async def drop() -> None:
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
        try:
            for name in DATABASES:
                await admin.execute(f'DROP DATABASE IF EXISTS "{prefix}_{name}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(drop())


def free_ports(count):
    """``count`` consecutive free TCP ports, the first returned."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + count > 65535:
            continue
        try:
            for port in range(first, first + count):
                with socket.socket() as taken:
                    taken.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    pytest.fail("no free ports")


@pytest.mark.slow
@pytest.mark.services("nats", "postgres")
def test_the_fleet_sends_runs_recorded_through_the_outbox_and_nats_to_stats(spawn, database_prefix):
    base = free_ports(4)  # users, runs, stats and the token service
    process = spawn(
        sys.executable, "-m", "runnerly.fleet", "--once", "--base-port", str(base),
        "--database-prefix", database_prefix, cwd=str(RUNNERLY),
    )  # fmt: skip
    assert process.finish(timeout=120) == 0, process.output
    output = process.output
    for service in ("users", "runs", "stats", "auth"):
        assert re.search(rf"{service} \| .*{service} ready in", output), output
    assert "fleet: registered users at the token service" in output
    assert "fleet: registered runs at the token service" in output
    assert re.search(r"fleet: runner \d+ logged in with users", output)
    assert "fleet: recorded 3 runs of runner" in output
    # runs signs its events, and stats, which takes signed ones only, counted them.
    assert re.search(r"runs \| .*registered message key '[\w-]{43}'", output), output
    assert re.search(
        r"fleet: stats counted 3 runs, 16\.0 km, in the week of \d{4}-\d\d-\d\d", output
    )
    assert "fleet: stopped (exit status 0)" in output
    # Each service stopped on SIGTERM, after what it held.
    assert output.count("stopped in") == 4
