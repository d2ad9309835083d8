"""A service served for real: `atoll run` in its own process, and `service.asgi()` by uvicorn."""

from __future__ import annotations

import re
import signal
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent

pytestmark = pytest.mark.slow


def exercise(base_url: str) -> None:
    """REST and JSON-RPC calls that a served hello_service answers."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        greeted = client.post("/greet", json={"name": "ada"})
        assert greeted.status_code == 200
        assert greeted.json() == "hello ada"
        call = {"jsonrpc": "2.0", "method": "greet", "params": {"name": "bob"}, "id": 1}
        assert client.post("/rpc", json=call).json() == {
            "jsonrpc": "2.0",
            "result": "hello bob",
            "id": 1,
        }
        assert client.get("/hello/cy").json() == {"greeting": "hello cy", "greeted": 2}
        assert client.get("/openapi.json").json()["info"] == {"title": "hello", "version": "1.0"}


def test_atoll_run_serves_the_service_until_sigterm(spawn):
    process = spawn(
        sys.executable,
        "-m",
        "atoll",
        "run",
        "hello_service:service",
        "--server-port",
        "0",
        cwd=str(HERE),
    )
    line = process.wait_for("serving on ")
    url = re.search(r"serving on (http://127\.0\.0\.1:\d+)", line).group(1)
    assert "greeter started" in process.output
    exercise(url)
    process.signal(signal.SIGTERM)
    assert process.finish() == 0
    assert "greeter stopped" in process.output
    assert "hello stopped" in process.output


def test_sigterm_turns_readiness_false_and_serves_on_for_the_drain_then_exits_cleanly(spawn):
    process = spawn(
        sys.executable,
        "-m",
        "atoll",
        "run",
        "held_service:service",
        "--server-port",
        "0",
        "--shutdown-drain",
        "5",
        cwd=str(HERE),
    )
    line = process.wait_for("serving on ")
    url = re.search(r"serving on (http://127\.0\.0\.1:\d+)", line).group(1)
    with (
        httpx.Client(base_url=url, timeout=30) as client,
        httpx.Client(base_url=url, timeout=30) as holder,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        assert client.get("/health/ready").status_code == 200
        held = pool.submit(holder.get, "/hold")
        process.wait_for("holding")  # a request in flight when the signal comes
        process.signal(signal.SIGTERM)
        process.wait_for("held is draining for 5s")
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json() == {"status": "not ready", "state": "stopping", "checks": {}}
        # The listener still takes connections, and a new one is served:
        with httpx.Client(base_url=url, timeout=30) as newcomer:
            assert newcomer.post("/release").json() == "released"
        assert held.result(timeout=30).json() == "released"
    assert process.finish() == 0
    lines = process.output.splitlines()
    draining = next(i for i, text in enumerate(lines) if "held is draining for 5s" in text)
    stopping = next(i for i, text in enumerate(lines) if "stopping held" in text)
    assert draining < stopping
    assert "received SIGTERM: draining for 5s, then stopping within 10s" in process.output


def test_atoll_run_without_http_runs_the_service_and_listens_on_no_port(spawn):
    # The port given is held here: a server built in spite of --no-server could not bind it,
    # and the process would exit at once, saying the address is in use.
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = str(held.getsockname()[1])
        process = spawn(
            sys.executable,
            "-m",
            "atoll",
            "run",
            "hello_service:service",
            "--server-port",
            port,
            "--no-server",
            cwd=str(HERE),
        )
        process.wait_for("hello ready")
        assert "greeter started" in process.output
        process.signal(signal.SIGTERM)
        assert process.finish() == 0
    assert "serving on" not in process.output
    assert "in use" not in process.output
    assert "greeter stopped" in process.output


def test_uvicorn_serves_the_services_asgi_app_and_its_lifespan_runs_the_service(spawn):
    process = spawn(
        sys.executable,
        "-m",
        "uvicorn",
        "hello_service:app",
        "--port",
        "0",
        "--lifespan",
        "on",
        cwd=str(HERE),
    )
    line = process.wait_for("Uvicorn running on ")
    url = re.search(r"(http://127\.0\.0\.1:\d+)", line).group(1)
    assert "greeter started" in process.output
    exercise(url)
    process.signal(signal.SIGTERM)
    # uvicorn (0.29 and later) raises the signal again once its orderly shutdown is done,
    # so that the process ends as one killed by it would: the status is -SIGTERM.
    assert process.finish() == -signal.SIGTERM
    assert "greeter stopped" in process.output
    assert "Application shutdown complete" in process.output
    assert "Finished server process" in process.output
