"""Runnerly apart: a process per service on NATS JetStream and PostgreSQL (make demo-fleet).

Its page too, in a real browser: a process of its own composing the services' components.
"""

import asyncio
import json
import re
import signal
import socket
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from runnerly.fleet import PASSWORD
from tests.examples.test_runnerly_shell import record_on_page, shadow, submit_login
from tests.frontends.conftest import page, screenshot  # noqa: F401 - the fixture, for this module

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
@pytest.mark.services("nats", "postgres", "node")
async def test_the_fleet_sends_runs_recorded_through_the_outbox_and_nats_to_stats(
    spawn,
    database_prefix,
    tmp_path,
    page,  # noqa: F811 - the fixture imported above
):
    base = free_ports(5)  # users, runs, stats, the token service and the page
    process = spawn(
        sys.executable, "-m", "runnerly.fleet", "--base-port", str(base),
        "--database-prefix", database_prefix, "--logs", str(tmp_path),
        "--ui-build-dir", str(tmp_path / "ui"), cwd=str(RUNNERLY),
    )  # fmt: skip
    try:
        await asyncio.to_thread(process.wait_for, "fleet: running", 180)
        output = process.output
        for service in ("users", "runs", "stats", "auth", "web"):
            assert re.search(rf"{service} \| .*{service} ready in", output), output
        assert "fleet: registered users at the token service" in output
        assert "fleet: registered runs at the token service" in output
        assert "fleet: registered stats at the token service" in output
        assert re.search(r"fleet: runner \d+ logged in with users", output)
        assert "fleet: recorded 3 runs of runner" in output
        # runs signs its events, and stats, which takes signed ones only, counted them.
        assert re.search(r"runs \| .*registered message key '[\w-]{43}'", output), output
        assert re.search(
            r"fleet: stats counted 3 runs, 16\.0 km, in the week of \d{4}-\d\d-\d\d", output
        )
        assert re.search(r"fleet: stats' /metrics counts [1-9]\d* message\(s\) handled", output)
        await the_runner_records_a_run_on_the_fleet_s_page(page, output)

        process.signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.finish, 120) == 0, process.output
        output = process.output
        assert "fleet: stopped (exit status 0)" in output
        # Each process stopped on SIGTERM, after what it held.
        assert output.count("stopped in") == 5
        follow_one_run_by_its_correlation_id(output, tmp_path)
    finally:  # a failure above leaves no process of the fleet behind: SIGTERM stops them all
        if process.popen.poll() is None:
            process.signal(signal.SIGTERM)
            process.popen.wait(timeout=120)


async def the_runner_records_a_run_on_the_fleet_s_page(page, output):  # noqa: F811 - the fixture imported above
    """The page of the fleet's ``web``, on an origin of its own, composes the services'
    components, which call their services there (CORS): she logs in with ``users``, records
    a run with ``runs``, and sees ``stats`` count it from the event that went through NATS."""
    found = re.search(r"fleet: open (http://\S+) and log in as (\S+) with the password", output)
    assert found is not None, output
    address, email = found.groups()
    await page.goto(address)
    await page.wait_for_function("() => document.documentElement.dataset.atollLoaded")
    assert await page.locator(".atoll-placeholder").count() == 0

    await submit_login(page, email, PASSWORD)
    await page.wait_for_function(f"() => {shadow('users-profile-card')}.includes('Hello, Ada!')")
    await page.wait_for_function(
        f"() => {shadow('stats-weekly-chart')}.includes('16.0 km in 3 runs')"
    )

    await record_on_page(page)
    await page.wait_for_function(f"() => {shadow('runs-record-form')}.includes('Recorded 5.2 km')")
    await page.wait_for_function(
        f"() => {shadow('stats-weekly-chart')}.includes('21.2 km in 4 runs')"
    )
    await screenshot(page, "runnerly-fleet")
    assert page.errors == []
    assert page.violations == []


def follow_one_run_by_its_correlation_id(output, logs):
    """The first run's id is in the lines of runs, users and stats: three processes, a broker."""
    found = re.search(r"the first run's correlation id is (fleet-run-\w+)", output)
    assert found is not None, output
    run_id = found.group(1)
    lines = {
        name: [json.loads(line) for line in (logs / f"{name}.log").read_text().splitlines()
               if line.startswith("{")]
        for name in ("users", "runs", "stats", "auth")
    }  # fmt: skip
    carried = {
        name: [entry for entry in entries if entry.get("correlation_id") == run_id]
        for name, entries in lines.items()
    }
    # runs answered the POST, its access line naming the route and the handler;
    [posted] = [e for e in carried["runs"] if e["logger"] == "atoll.access.http"]
    assert (posted["method"], posted["route"], posted["handler"]) == (
        "POST", "/runs", "runs.record_run"
    )  # fmt: skip
    assert posted["status"] == 201
    # users was asked over broker RPC, within it;
    assert [e["rpc_method"] for e in carried["users"] if e["logger"] == "atoll.access.rpc"]
    # stats handled its RunRecorded, which took the id through the outbox and NATS.
    handled = [e for e in carried["stats"] if e["logger"] == "atoll.access.messages"]
    assert {e["message_type"].rsplit(".", 1)[-1] for e in handled} == {"RunRecorded"}
    outcomes = [e["outcome"] for e in handled]  # a delivery may fail first (a key's fetch)
    assert outcomes[-1] == "handled", outcomes
    assert set(outcomes[:-1]) <= {"retried"}, outcomes
    # The other runs' lines carry ids of their own.
    assert all(e.get("correlation_id") != run_id for e in carried["auth"])
