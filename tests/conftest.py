"""Test-suite wiring: the infrastructure services a test may ask for with ``@pytest.mark.services``.

A test that needs PostgreSQL, Redis, RabbitMQ or NATS says so with
``@pytest.mark.services("postgres")``. When the service does not answer, the test is skipped
with a message naming it and how to start it, unless ``ATOLL_REQUIRE_SERVICES=1`` (CI sets it),
where it fails instead: a CI run must never pass by skipping what it was meant to test.
"""

from __future__ import annotations

import logging
import os
import pty
import queue
import socket
import subprocess
import threading
import time

import pytest

from atoll.kernel.entrypoint import LIBRARIES

SERVICES = {
    "postgres": (
        5432,
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
    "redis": (
        6379,
        (
            'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
            "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
        ),
    ),
    "rabbitmq": (5672, "rabbitmq-server -detached"),
    "nats": (
        4222,
        (
            "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- "
            "-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log"
        ),
    ),
}

TOOLS = {
    "chromium": ("/usr/bin/chromium", "apt-get install -y chromium (or: make browser)"),
    "node": ("/usr/bin/node", "apt-get install -y nodejs npm"),
}
"""Programs a test may ask for like a service: where each is, and how to install it."""


@pytest.fixture(autouse=True)
def _root_logger_restored():
    """The root logger as it was before the test: ``atoll.main`` run in-process configures it.

    Without this, a test that runs an application in the test process leaves a stderr handler
    at INFO on the root logger, and a later test that reads stderr sees other libraries' lines.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    libraries = {name: logging.getLogger(name).level for name in LIBRARIES}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, library_level in libraries.items():
        logging.getLogger(name).setLevel(library_level)


def reachable(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip, or fail under ATOLL_REQUIRE_SERVICES=1, a test whose services are down.

    A program of :data:`TOOLS` (Chromium, Node) counts as a service: missing, it is down.
    """
    for marker in item.iter_markers("services"):
        for name in marker.args:
            if name in TOOLS:
                where, install = TOOLS[name]
                if os.access(where, os.X_OK):
                    continue
                message = f"{name} is not installed at {where}; install it with: {install}"
            elif name in SERVICES:
                port, start = SERVICES[name]
                if reachable(port):
                    continue
                message = f"{name} is not reachable on 127.0.0.1:{port}; start it with: {start}"
            else:
                known = ", ".join([*SERVICES, *TOOLS])
                pytest.fail(f"unknown service {name!r}; known: {known}")
            if os.environ.get("ATOLL_REQUIRE_SERVICES") == "1":
                pytest.fail(message)
            pytest.skip(message)


class Process:
    """A real child process whose merged output is read line by line, with timeouts.

    ``terminal``: its output goes to a pseudo-terminal, as when a user runs it by hand (it
    then logs text lines, where it logs JSON to a pipe).
    """

    def __init__(
        self,
        *argv: str,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        terminal: bool = False,
    ):
        environment = {**os.environ, **(env or {})}
        if terminal:
            leader, follower = pty.openpty()
            self.popen = subprocess.Popen(
                argv, cwd=cwd, env=environment, stdin=subprocess.DEVNULL,
                stdout=follower, stderr=follower,
            )  # fmt: skip
            os.close(follower)
            self._output = open(leader, encoding="utf-8", errors="replace")  # noqa: SIM115, PTH123 - closed by _read
        else:
            self.popen = subprocess.Popen(
                argv, cwd=cwd, env=environment, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            assert self.popen.stdout is not None
            self._output = self.popen.stdout
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with self._output:
            try:
                for line in self._output:
                    self._queue.put(line.rstrip("\n"))
            except OSError:  # a pseudo-terminal whose child has gone: its end
                pass
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 20) -> str:
        """The first line (from now on) containing ``text``; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if text in line:
                return line
        pytest.fail(f"{text!r} not seen in the output:\n" + "\n".join(self.lines))

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def finish(self, timeout: float = 20) -> int:
        """Wait for the exit status, and collect the rest of the output."""
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            pytest.fail("the process did not exit:\n" + "\n".join(self.lines))
        while (line := self._queue.get(timeout=timeout)) is not None:
            self.lines.append(line)
        return code

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def spawn():
    """Start real processes; any still running at the end of the test is killed."""
    started: list[Process] = []

    def start(*argv: str, **kwargs) -> Process:
        process = Process(*argv, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.popen.poll() is None:
            process.popen.kill()
            process.popen.wait()
