"""How ``atoll run`` and ``python -m`` serve: on uvloop, with ``TCP_NODELAY`` on connections.

Both were measured as the cause of a 40 ms latency floor when missing (Nagle's algorithm and
the client's delayed acknowledgement); these tests check the causes, never a timing.
"""

from __future__ import annotations

import re
import signal
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
