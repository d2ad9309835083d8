"""``python -m runnerly.fleet``: runnerly apart, a process per service, on a broker and PostgreSQL.

::

    python -m runnerly.fleet                      # NATS JetStream and PostgreSQL on 127.0.0.1
    python -m runnerly.fleet --broker-url amqp://guest:guest@127.0.0.1:5672/
    python -m runnerly.fleet --once               # start, show the flow, stop (for scripts)

It makes each service's PostgreSQL database if it is missing (``runnerly_users``,
``runnerly_runs``, ``runnerly_stats``, and ``runnerly_auth`` for the token service; another
prefix than ``runnerly`` with ``--database-prefix``), starts atoll's token service
(``atoll run atoll.auth:service``, port 8004) and registers ``users`` and ``runs`` as its
clients (``atoll auth clients add``: ``users`` opens the runners' sessions, with a runner's
scope or an admin's, ``runs`` gets tokens to call ``users``), then starts
``python -m runnerly SERVICE`` for each service with its own database, the broker, a port of
its own (8001, 8002, 8003), its client secret in its environment, and the token service's keys
to trust (refusing calls without a token, and handlers without a policy); it waits until each
is ready. Then it registers a runner with ``users``, logs her in, and records runs with
``runs`` with her token: ``runs`` asks ``users`` whether the runner exists over broker RPC with
a token of its own, commits each run with its ``RunRecorded`` event to its outbox, and the
relay publishes the event to the broker, signed with a key ``runs`` registered at the token
service (``--messages-sign``), from which ``stats`` consumes it into its weekly totals once the
signature holds (``--messages-require-signed``). The fleet shows the totals once ``stats`` has
them, and the address of Runnerly's page: ``python -m runnerly web`` (port 8005), composing
the components each service builds and serves, which call their services from the page's
origin (each service allows it, ``--cors-origins``). Ctrl-C stops every process: each
service finishes the messages it holds before it exits.

Each process logs JSON lines with an access line per request, JSON-RPC call and message
(``--log-format json --log-access all``), kept in ``fleet-logs/NAME.log`` (``--logs``) and shown
as text. The first run is recorded with an ``X-Request-ID`` of the fleet's, which the fleet
prints: every line about that run, in ``runs``, ``users`` (asked over broker RPC) and ``stats``
(which consumed its event), carries it as its ``correlation_id``.

Only the configuration differs from ``python -m runnerly``, which runs the same services in one
process on embedded defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path

import asyncpg
import httpx

SERVICES = ("users", "runs", "stats")
DATABASES = (*SERVICES, "auth")
PAGE = "web"
"""The process serving Runnerly's page, which composes the services' components."""
PORTS = (*DATABASES, PAGE)
"""The processes, in the order of their ports from ``--base-port``."""
CLIENTS = {"users": SERVICES, "runs": ("users",), "stats": ("stats",)}
"""The token service's clients: each with the services it may ask tokens for. ``stats`` calls
no service: it is a client to register the key it signs its events with, and names itself, as
a client names at least one audience."""
SIGNING = {
    "runs": ("--messages-sign",),
    "stats": ("--messages-sign", "--messages-require-signed"),
}
"""``runs`` signs the events it publishes; ``stats`` takes signed events only, and signs the
changes of its totals it publishes, which its own instances show to their subscribers."""
SCOPES = {"users": ("runnerly:runner", "runnerly:admin")}
"""The scopes ``users`` asks for in the runners' sessions: a runner's, and an admin's."""
SIGN_MESSAGES = "atoll:sign-messages"
"""The scope a client needs to register the key it signs its messages with."""
PASSWORD = "ada-runs-far"  # noqa: S105 - the fleet's demo runner's
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
    parser.add_argument(
        "--database-prefix",
        default="runnerly",
        help="what each database's name starts with: PREFIX_users... (default runnerly)",
    )
    parser.add_argument(
        "--logs",
        default="fleet-logs",
        help="the directory each process writes its JSON log lines to, NAME.log "
        "(default fleet-logs)",
    )
    parser.add_argument(
        "--ui-build-dir",
        default="build/ui",
        help="where the services build their components, each as it starts when they are "
        "older than their sources (default build/ui)",
    )
    parser.add_argument("--once", action="store_true", help="stop once the runs reached stats")
    parser.add_argument("--patience", type=float, default=60.0, help="seconds to wait at each step")
    return parser.parse_args(argv)


async def make_databases(server: str, prefix: str) -> None:
    """Create the services' databases on ``server`` where they are missing."""
    dsn = server.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"
    connection = await asyncpg.connect(dsn)
    try:
        for name in DATABASES:
            exists = await connection.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", f"{prefix}_{name}"
            )
            if not exists:
                await connection.execute(f'CREATE DATABASE "{prefix}_{name}"')
    finally:
        await connection.close()


class Fleet:
    """The services' processes, their output shown with each one's name."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.processes: dict[str, subprocess.Popen[str]] = {}
        self.ports = {name: options.base_port + i for i, name in enumerate(PORTS)}
        self.secrets: dict[str, str] = {}
        self.logs = Path(options.logs).resolve()
        self.logs.mkdir(parents=True, exist_ok=True)

    def database(self, name: str) -> str:
        """The URL of the database of ``name`` (a service, or ``auth``)."""
        return f"{self.options.postgres}/{self.options.database_prefix}_{name}"

    @property
    def issuer(self) -> str:
        """The token service's URL: its tokens' iss."""
        return self.url("auth")

    def start_token_service(self) -> None:
        """Start atoll's token service, ``PREFIX_auth`` its database."""
        self._spawn(
            "auth",
            [
                "-m", "atoll", "run", "atoll.auth:service",
                "--db-url", self.database("auth"),
                "--db-migrate", "always",
                "--server-port", str(self.ports["auth"]),
                "--tokens-issuer", self.issuer,
                "--tokens-session-clients", "users",
            ],
            {},
        )  # fmt: skip

    def register_clients(self) -> None:
        """Register ``users`` and ``runs`` at the token service, each with a new secret."""
        database = ["--db-url", self.database("auth")]
        for client, audiences in CLIENTS.items():
            subprocess.run(  # noqa: S603 - our own interpreter and flags; gone or not, fine
                [sys.executable, "-m", "atoll", "auth", "clients", "remove", client, *database],
                capture_output=True,
                check=False,
            )
            wanted = [arg for name in audiences for arg in ("--audience", name)]
            wanted += [arg for scope in SCOPES.get(client, ()) for arg in ("--scope", scope)]
            if "--messages-sign" in SIGNING.get(client, ()):
                wanted += ["--scope", SIGN_MESSAGES]
            added = subprocess.run(  # noqa: S603 - our own interpreter and flags
                [sys.executable, "-m", "atoll", "auth", "clients", "add",
                 "--client-id", client, *wanted, *database],
                capture_output=True,
                text=True,
                check=True,
            )  # fmt: skip
            (line,) = (x for x in added.stdout.splitlines() if x.startswith("client_secret: "))
            self.secrets[client] = line.removeprefix("client_secret: ")
            say(f"fleet: registered {client} at the token service (atoll auth clients add)")

    def start(self) -> None:
        """Start each service in a process of its own, trusting the token service's keys.

        Each builds its components and serves them; the page's process, on an origin of its
        own, composes them, and the services let its scripts call them (CORS).
        """
        for name in SERVICES:
            argv = [
                "-m", "runnerly", name,
                "--db-url", self.database(name),
                "--db-migrate", "always",
                "--broker-url", self.options.broker_url,
                "--server-port", str(self.ports[name]),
                "--no-auth-anonymous",
                "--auth-default-deny",
                "--auth-jwt-issuer", self.issuer,
                "--auth-jwt-audience", name,
                "--auth-jwt-jwks-url", f"{self.issuer}/.well-known/jwks.json",
                "--ui-build-dir", self.options.ui_build_dir,
                "--cors-origins", self.url(PAGE),
            ]  # fmt: skip
            if name in SIGNING:
                argv += [*SIGNING[name], "--messages-token-service", self.issuer]
            environment = {}
            if name in self.secrets:  # a client of the token service: its secret, not a flag
                prefix = name.upper()
                environment = {
                    f"{prefix}_CLIENTS_TOKEN_URL": f"{self.issuer}/oauth/token",
                    f"{prefix}_CLIENTS_CLIENT_ID": name,
                    f"{prefix}_CLIENTS_CLIENT_SECRET": self.secrets[name],
                }
            self._spawn(name, argv, environment)
        fragments = ",".join(f"{name}={self.url(name)}" for name in SERVICES)
        self._spawn(
            PAGE,
            ["-m", "runnerly", PAGE, "--server-port", str(self.ports[PAGE]),
             "--ui-fragments", fragments],
            {},
        )  # fmt: skip

    def _spawn(self, name: str, argv: list[str], environment: dict[str, str]) -> None:
        # A session of its own: Ctrl-C reaches the fleet alone, which stops each service
        # with one SIGTERM (a second signal would force it).
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and flags
            [sys.executable, *argv, *OBSERVED],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
            env={**os.environ, **environment},
        )
        self.processes[name] = process
        threading.Thread(target=self._show, args=(name, process), daemon=True).start()

    def _show(self, name: str, process: subprocess.Popen[str]) -> None:
        """Keep each line of ``name`` in its log file, and show it as text."""
        with (self.logs / f"{name}.log").open("a", encoding="utf-8") as log:
            for line in process.stdout or ():
                log.write(line)
                log.flush()
                say(f"{name:>5} | {as_text(line.rstrip())}")

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


OBSERVED = ("--log-format", "json", "--log-access", "all", "--metrics")
"""Every process writes JSON lines, with a line per request, JSON-RPC call and message, and
serves its metrics at /metrics."""


def as_text(line: str) -> str:
    """A JSON log line as a terminal shows it: ``INFO atoll.lifecycle: runs ready in 0.3s``."""
    if not line.startswith("{"):
        return line  # a line of its own: the demo's way in, a library's print
    try:
        entry = json.loads(line)
        shown = f"{entry['level'].upper()} {entry['logger']}: {entry['message']}"
    except (ValueError, KeyError, AttributeError):
        return line
    if "correlation_id" in entry:
        shown += f" [{entry['correlation_id']}]"
    exception = entry.get("exception")
    return f"{shown}\n{exception}" if exception else shown


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


async def wait_until_ready(fleet: Fleet, names: tuple[str, ...], patience: float) -> None:
    """Wait until each of ``names`` answers ``/health/ready``."""
    async with httpx.AsyncClient(timeout=10.0) as http:
        for name in names:

            async def ready(name: str = name) -> bool:
                return (
                    await http.get(f"{fleet.url(name)}/health/ready")
                ).status_code == HTTPStatus.OK

            await until(f"{name} ready", ready, patience, fleet)


async def show_the_flow(fleet: Fleet, patience: float) -> None:
    """Register a runner, log her in, record runs, and wait for stats to have counted them."""
    await wait_until_ready(fleet, (*SERVICES, PAGE), patience)
    urls = ", ".join(fleet.url(name) for name in SERVICES)
    say(f"fleet: users, runs and stats are ready on {urls}; the token service on {fleet.issuer}")
    scraped = ", ".join(f"{fleet.url(name)}/metrics" for name in (*SERVICES, "auth"))
    say(f"fleet: metrics for Prometheus at {scraped}; logs in {fleet.logs}/NAME.log")
    async with httpx.AsyncClient(timeout=10.0) as http:
        email = f"ada-{uuid.uuid4().hex[:6]}@runnerly.example"
        account = {"email": email, "name": "Ada", "password": PASSWORD}
        runner = (await http.post(f"{fleet.url('users')}/users", json=account)).json()
        login = {"email": email, "password": PASSWORD}
        tokens = (await http.post(f"{fleet.url('users')}/login", json=login)).json()
        headers = {"authorization": f"Bearer {tokens['access_token']}"}
        say(f"fleet: runner {runner['id']} logged in with users: a session from the token service")
        monday = datetime.now(tz=UTC).replace(hour=7, minute=0, second=0, microsecond=0)
        monday -= timedelta(days=monday.weekday())
        first = f"fleet-run-{uuid.uuid4().hex[:12]}"
        for day, meters in enumerate(RUNS):
            run = {  # hers: runs reads whose from her token
                "meters": meters,
                "seconds": int(meters * 0.33),
                "started_at": (monday + timedelta(days=day)).isoformat(),
            }
            # The first run's correlation id is the fleet's: every line about it carries it.
            traced = {**headers, "x-request-id": first} if day == 0 else headers
            answer = await http.post(f"{fleet.url('runs')}/runs", json=run, headers=traced)
            answer.raise_for_status()
        say(f"fleet: recorded {len(RUNS)} runs of runner {runner['id']} with runs, with her token")

        async def counted() -> list[dict[str, object]] | None:
            url = f"{fleet.url('stats')}/users/{runner['id']}/weekly-totals"
            totals = (await http.get(url, headers=headers)).json()
            meters = sum(float(t["meters"]) for t in totals)
            return totals if meters == sum(RUNS) else None

        totals = await until("weekly totals in stats", counted, patience, fleet)
        exposition = (await http.get(f"{fleet.url('stats')}/metrics")).text
        handled = sum(
            float(value)
            for value in re.findall(
                r'^atoll_messages_total\{[^}]*outcome="handled"[^}]*\} (\S+)$',
                exposition,
                re.MULTILINE,
            )
        )
        say(f"fleet: stats' /metrics counts {handled:g} message(s) handled (atoll_messages_total)")
        say(
            f"fleet: the first run's correlation id is {first}; follow it from POST /runs to "
            f"the stats update: grep '\"{first}\"' {fleet.logs}/*.log"
        )
        for total in totals:
            say(
                f"fleet: stats counted {total['runs']} runs, "
                f"{float(total['meters']) / 1000:.1f} km, "
                f"in the week of {str(total['week'])[:10]}: RunRecorded went through the broker"
            )
        say(
            f"fleet: open {fleet.url(PAGE)}/ and log in as {email} with the password {PASSWORD}: "
            "the page composes the components of users, runs and stats, each from its service"
        )


def _interrupted(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Start the fleet, show the flow, and run until Ctrl-C (or stop, with ``--once``)."""
    options = arguments(argv)
    asyncio.run(make_databases(options.postgres, options.database_prefix))
    fleet = Fleet(options)
    say(f"fleet: each process's JSON log lines go to {fleet.logs}/NAME.log")
    # SIGTERM, at any step (starting the services too), stops the fleet as Ctrl-C does: every
    # process it started is stopped, never left running without it.
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        fleet.start_token_service()
        asyncio.run(wait_until_ready(fleet, ("auth",), options.patience))
        fleet.register_clients()
        fleet.start()
        asyncio.run(show_the_flow(fleet, options.patience))
        if not options.once:
            say("fleet: running; Ctrl-C stops it")
            while not fleet.dead():
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        status = fleet.stop()
    say(f"fleet: stopped (exit status {status})")
    return status


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
