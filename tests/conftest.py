"""Test-suite wiring: the infrastructure services a test may ask for with ``@pytest.mark.services``.

A test that needs PostgreSQL, Redis, RabbitMQ or NATS says so with
``@pytest.mark.services("postgres")``. When the service does not answer, the test is skipped
with a message naming it and how to start it, unless ``ATOLL_REQUIRE_SERVICES=1`` (CI sets it),
where it fails instead: a CI run must never pass by skipping what it was meant to test.
"""

from __future__ import annotations

import os
import socket

import pytest

SERVICES = {
    "postgres": (
        5432,
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
    "redis": (
        6379,
        'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
        "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log",
    ),
    "rabbitmq": (5672, "rabbitmq-server -detached"),
    "nats": (
        4222,
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- "
        "-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log",
    ),
}


def reachable(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip, or fail under ATOLL_REQUIRE_SERVICES=1, a test whose services are down."""
    for marker in item.iter_markers("services"):
        for name in marker.args:
            if name not in SERVICES:
                pytest.fail(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
            port, start = SERVICES[name]
            if reachable(port):
                continue
            message = f"{name} is not reachable on 127.0.0.1:{port}; start it with: {start}"
            if os.environ.get("ATOLL_REQUIRE_SERVICES") == "1":
                pytest.fail(message)
            pytest.skip(message)
