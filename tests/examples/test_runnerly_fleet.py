"""Runnerly apart: a process per service on NATS JetStream and PostgreSQL (make demo-fleet)."""

import re
import socket
import sys
from pathlib import Path

import pytest

RUNNERLY = Path(__file__).parents[2] / "examples" / "runnerly"


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
def test_the_fleet_sends_runs_recorded_through_the_outbox_and_nats_to_stats(spawn):
    base = free_ports(4)  # users, runs, stats and the token service
    process = spawn(
        sys.executable, "-m", "runnerly.fleet", "--once", "--base-port", str(base),
        cwd=str(RUNNERLY),
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
