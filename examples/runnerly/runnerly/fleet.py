"""``python -m runnerly.fleet``: runnerly apart, a process per service, on a broker and PostgreSQL.

::

    python -m runnerly.fleet                      # NATS JetStream and PostgreSQL on 127.0.0.1
    python -m runnerly.fleet --broker-url amqp://guest:guest@127.0.0.1:5672/
    python -m runnerly.fleet --once               # start, show the flow, stop (for scripts)

It makes each service's PostgreSQL database if it is missing (``runnerly_users``,
``runnerly_runs``, ``runnerly_stats``), starts ``python -m runnerly SERVICE`` for each service
with its own database, the broker and a port of its own (8001, 8002, 8003), and waits until
each is ready. Then it registers a runner with ``users`` and records runs with ``runs``: ``runs``
asks ``users`` whether the runner exists over broker RPC, commits each run with its
``RunRecorded`` event to its outbox, and the relay publishes the event to the broker, from which
``stats`` consumes it into its weekly totals. The fleet shows the totals once ``stats`` has
them. Ctrl-C stops every service: each finishes the messages it holds before it exits.

Only the configuration differs from ``python -m runnerly``, which runs the same services in one
process on embedded defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import asyncpg
import httpx

SERVICES = ("users", "runs", "stats")
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"
NATS = "nats://127.0.0.1:4222"
RUNS = (5000.0, 8000.0, 3000.0)


def say(line: str) -> None:
    """Show ``line`` on standard output at once."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The fleet's own flags."""
    parser = argparse.ArgumentParser(
        prog="python -m runnerly.fleet", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--broker-url", default=NATS, help=f"the broker (default {NATS})")
    parser.add_argument(
        "--postgres",
        default=POSTGRES,
        help=f"the PostgreSQL server, without a database (default {POSTGRES})",
    )
    parser.add_argument(
        "--base-port", type=int, default=8001, help="the first service's port (default 8001)"
    )
    parser.add_argument("--once", action="store_true", help="stop once the runs reached stats")
    parser.add_argument("--patience", type=float, default=60.0, help="seconds to wait at each step")
    return parser.parse_args(argv)


async def make_databases(server: str) -> None:
    """Create the services' databases on ``server`` where they are missing."""
    dsn = server.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"
    connection = await asyncpg.connect(dsn)
    try:
        for name in SERVICES:
            exists = await connection.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", f"runnerly_{name}"
            )
            if not exists:
                await connection.execute(f'CREATE DATABASE "runnerly_{name}"')
    finally:
        await connection.close()


class Fleet:
    """The services' processes, their output shown with each one's name."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.processes: dict[str, subprocess.Popen[str]] = {}
        self.ports = {name: options.base_port + i for i, name in enumerate(SERVICES)}

    def start(self) -> None:
        """Start each service in a process of its own."""
        for name in SERVICES:
            argv = [
                sys.executable, "-m", "runnerly", name,
                "--db-url", f"{self.options.postgres}/runnerly_{name}",
                "--db-migrate", "always",
                "--broker-url", self.options.broker_url,
                "--server-port", str(self.ports[name]),
            ]  # fmt: skip
            # A session of its own: Ctrl-C reaches the fleet alone, which stops each service
            # with one SIGTERM (a second signal would force it).
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and flags
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                start_new_session=True,
            )
            self.processes[name] = process
            threading.Thread(target=self._show, args=(name, process), daemon=True).start()

    @staticmethod
    def _show(name: str, process: subprocess.Popen[str]) -> None:
        for line in process.stdout or ():
            say(f"{name:>5} | {line.rstrip()}")

    def url(self, name: str) -> str:
        """Where service ``name`` serves HTTP."""
        return f"http://127.0.0.1:{self.ports[name]}"

    def dead(self) -> list[str]:
        """The services whose process has exited."""
        return [name for name, process in self.processes.items() if process.poll() is not None]

    def stop(self) -> int:
        """SIGTERM each service, wait for it; the worst exit status."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        worst = 0
        for process in self.processes.values():
            try:
                worst = max(worst, process.wait(timeout=30))
            except subprocess.TimeoutExpired:
                process.kill()
                worst = max(worst, 1)
        return worst


async def until(what: str, check, patience: float, fleet: Fleet):  # noqa: ANN001, ANN201
    """What ``check()`` returns once it is truthy; exits if it never is, or a service died."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if fleet.dead():
            sys.exit(f"fleet: {', '.join(fleet.dead())} stopped while waiting for {what}")
        with contextlib.suppress(httpx.HTTPError):
            found = await check()
            if found:
                return found
        await asyncio.sleep(0.2)
    sys.exit(f"fleet: no {what} within {patience:g} s")


async def show_the_flow(fleet: Fleet, patience: float) -> None:
    """Register a runner, record runs, and wait for stats to have counted them."""
    async with httpx.AsyncClient(timeout=10.0) as http:
        for name in SERVICES:

            async def ready(name: str = name) -> bool:
                return (
                    await http.get(f"{fleet.url(name)}/health/ready")
                ).status_code == HTTPStatus.OK

            await until(f"{name} ready", ready, patience, fleet)
        urls = ", ".join(fleet.url(name) for name in SERVICES)
        say(f"fleet: users, runs and stats are ready on {urls}")
        email = f"ada-{uuid.uuid4().hex[:6]}@runnerly.example"
        runner = (
            await http.post(f"{fleet.url('users')}/users", json={"email": email, "name": "Ada"})
        ).json()
        monday = datetime.now(tz=UTC).replace(hour=7, minute=0, second=0, microsecond=0)
        monday -= timedelta(days=monday.weekday())
        for day, meters in enumerate(RUNS):
            run = {
                "user_id": runner["id"],
                "meters": meters,
                "seconds": int(meters * 0.33),
                "started_at": (monday + timedelta(days=day)).isoformat(),
            }
            answer = await http.post(f"{fleet.url('runs')}/runs", json=run)
            answer.raise_for_status()
        say(f"fleet: recorded {len(RUNS)} runs of runner {runner['id']} with runs")

        async def counted() -> list[dict[str, object]] | None:
            totals = (
                await http.get(f"{fleet.url('stats')}/users/{runner['id']}/weekly-totals")
            ).json()
            meters = sum(float(t["meters"]) for t in totals)
            return totals if meters == sum(RUNS) else None

        totals = await until("weekly totals in stats", counted, patience, fleet)
        for total in totals:
            say(
                f"fleet: stats counted {total['runs']} runs, "
                f"{float(total['meters']) / 1000:.1f} km, "
                f"in the week of {str(total['week'])[:10]}: RunRecorded went through the broker"
            )


def main(argv: list[str] | None = None) -> int:
    """Start the fleet, show the flow, and run until Ctrl-C (or stop, with ``--once``)."""
    options = arguments(argv)
    asyncio.run(make_databases(options.postgres))
    fleet = Fleet(options)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    fleet.start()
    try:
        asyncio.run(show_the_flow(fleet, options.patience))
        if not options.once:
            say("fleet: running; Ctrl-C stops it")
            while not stopping.is_set() and not fleet.dead():
                stopping.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        status = fleet.stop()
    say(f"fleet: stopped (exit status {status})")
    return status


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
