"""How ``atoll run`` and ``python -m`` serve: on uvloop, with ``TCP_NODELAY`` on connections.

Both were measured as the cause of a 40 ms latency floor when missing (Nagle's algorithm and
the client's delayed acknowledgement); these tests check the causes, never a timing.
"""

from __future__ import annotations

import re
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the probe reads /proc/self/fd"
)


def serve(spawn, *argv: str):
    """Start a server on a free port; the process and the URL it serves."""
    process = spawn(*argv, "--server-port", "0", cwd=str(HERE))
    line = process.wait_for("serving on", timeout=30)
    match = re.search(r"serving on (http://[^\s:]+:\d+)", line)
    assert match is not None, line
    return process, match.group(1)


def probe(url: str) -> dict[str, object]:
    response = httpx.get(f"{url}/probe", timeout=10)
    assert response.status_code == 200
    return response.json()


def stop(process) -> None:
    process.signal(signal.SIGTERM)
    assert process.finish() == 0, process.output


@pytest.mark.parametrize("impl", ["uvicorn", "granian"])
def test_atoll_run_serves_on_uvloop_with_tcp_nodelay(spawn, impl):
    process, url = serve(
        spawn, sys.executable, "-m", "atoll", "run", "probe_service:service", "--server-impl", impl
    )
    answer = probe(url)
    stop(process)
    assert answer == {"loop": "uvloop", "nodelay": 1}


def test_python_dash_m_serves_on_uvloop_with_tcp_nodelay(spawn):
    process, url = serve(spawn, sys.executable, "-m", "probe_service")
    answer = probe(url)
    stop(process)
    assert answer == {"loop": "uvloop", "nodelay": 1}


def test_asyncio_loop_when_asked_still_sets_tcp_nodelay(spawn):
    process, url = serve(
        spawn, sys.executable, "-m", "atoll", "run", "probe_service:service",
        "--loop-impl", "asyncio",
    )  # fmt: skip
    answer = probe(url)
    stop(process)
    assert answer == {"loop": "asyncio.unix_events", "nodelay": 1}


def test_requests_pipelined_on_one_connection_run_one_at_a_time(spawn):
    # The per-connection cap on concurrent requests: HTTP/1.1 pipelining sends them all at
    # once, and the server runs each after the one before has answered.
    process, url = serve(spawn, sys.executable, "-m", "atoll", "run", "probe_service:service")
    host, port = url.removeprefix("http://").split(":")
    request = f"GET /overlap HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(request * 3)
        answers = read_answers(connection, 3)
    stop(process)
    assert [status for status, _ in answers] == [200, 200, 200]
    assert [body for _, body in answers] == [b"1", b"1", b"1"]  # never two at once


def read_answers(connection: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """``count`` HTTP/1.1 answers read off ``connection``: each one's status and body."""
    data, answers = b"", []
    while len(answers) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            head = data[:head_end].decode("latin-1")
            length = int(re.search(r"(?im)^content-length:\s*(\d+)", head).group(1))
            end = head_end + 4 + length
            if len(data) >= end:
                answers.append((int(head.split()[1]), data[head_end + 4 : end]))
                data = data[end:]
                continue
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection after {len(answers)} answers"
        data += chunk
    return answers
