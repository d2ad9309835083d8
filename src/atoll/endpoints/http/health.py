"""The health paths: ``/health/live`` and ``/health/ready`` for probes, ``/health`` for people.

The probes answer what an orchestrator acts on, in as few bytes as it needs: whether to restart
the process, whether to send it work. ``/health``, served only when asked for
(``--health-details``), tells a person or a dashboard the rest: the service's name, version
and build, how long it has run, its lifecycle's state, and each readiness check's outcome and
latency. Each answer is about this moment: JSON with ``cache-control: no-store``. None of them
is on the path of the service's own requests, which the ASGI app looks up in one dict with the
health paths among the other paths of atoll's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import msgspec

from atoll.endpoints.http.problems import HTTPError
from atoll.endpoints.http.responses import send_json
from atoll.errors import ConfigError
from atoll.kernel.options import option

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from atoll.endpoints.http.requests import Request
    from atoll.endpoints.http.types import Send
    from atoll.kernel.health import About, Readiness

__all__ = [
    "DETAILS_PATH",
    "LIVE_PATH",
    "READY_PATH",
    "HealthOptions",
    "health_endpoints",
]

_Answer: TypeAlias = "Callable[[Request, Send], Awaitable[None]]"

LIVE_PATH = "/health/live"
"""Answers 200 while the server runs: whether the process should be restarted."""
READY_PATH = "/health/ready"
"""Answers 200 or 503 from the readiness checks: whether to send the service work."""
DETAILS_PATH = "/health"
"""Answers 200 or 503 as ``/health/ready`` does, with what the service is and how it is."""
# A probe's answer is about this moment: a cache in between must not answer for the next one.
_NO_STORE = ((b"cache-control", b"no-store"),)
_LIVE = b'{"status":"live"}'
_READY_WITHOUT_CHECKS = b'{"status":"ready","checks":{}}'
_MILLISECONDS = 1000


@dataclass(frozen=True)
class HealthOptions:
    """What ``/health`` tells of the service, beside the probes of ``[server]``."""

    details: bool = option(
        default=False,
        help="serve /health: the service's name, version and build, its uptime and state, and "
        "each readiness check's outcome and latency (200 ready, 503 not); off, it is not served",
    )
    commit: str = option(
        "", help="the commit the service was built from, shown by /health (none by default)"
    )
    build_date: str = option(
        "", help="when the service was built, shown by /health, such as 2026-05-04T09:30:00Z"
    )


def health_endpoints(readiness: Readiness | None, about: About | None) -> dict[str, _Answer]:
    """The health paths and what answers each: the probes, and ``/health`` given ``about``.

    Args:
        readiness: what ``/health/ready`` reports; without it, ready with no checks.
        about: what ``/health`` tells of the service; without it, ``/health`` is not served.

    Raises:
        ConfigError: ``about`` is given without a readiness to report.
    """
    endpoints: dict[str, _Answer] = {
        LIVE_PATH: _live,
        READY_PATH: _ready_without_checks if readiness is None else _ready(readiness),
    }
    if about is not None:
        if readiness is None:
            raise ConfigError(
                "/health reports the lifecycle and the readiness checks, but the app was given "
                "no readiness: pass readiness=Readiness(lifecycle), or no about"
            )
        endpoints[DETAILS_PATH] = _details(readiness, about)
    return endpoints


def _read_only_with_get(request: Request) -> None:
    if request.method != "GET":
        raise HTTPError(
            405,
            f"{request.path} is read with GET, not {request.method}",
            headers=((b"allow", b"GET"),),
        )


async def _live(request: Request, send: Send) -> None:
    """Answer a liveness probe: whoever can answer is alive, whatever the application's state."""
    _read_only_with_get(request)
    await send_json(send, 200, _LIVE, _NO_STORE)


async def _ready_without_checks(request: Request, send: Send) -> None:
    """Answer a readiness probe of an app given no readiness: ready, having nothing to check."""
    _read_only_with_get(request)
    await send_json(send, 200, _READY_WITHOUT_CHECKS, _NO_STORE)


def _ready(readiness: Readiness) -> _Answer:
    async def serve(request: Request, send: Send) -> None:
        """Answer a readiness probe: 200 when ready, else 503 with the state and the reasons."""
        _read_only_with_get(request)
        report = await readiness.report()
        if report.ready:
            body = msgspec.json.encode({"status": "ready", "checks": report.checks})
            await send_json(send, 200, body, _NO_STORE)
        else:
            answer = {"status": "not ready", "state": report.state, "checks": report.checks}
            await send_json(send, 503, msgspec.json.encode(answer), _NO_STORE)

    return serve


def _details(readiness: Readiness, about: About) -> _Answer:
    lifecycle = readiness.lifecycle

    async def serve(request: Request, send: Send) -> None:
        """Answer ``/health``: 200 when ready, else 503, with the service and its checks."""
        _read_only_with_get(request)
        report = await readiness.report()
        answer = {
            "status": "ready" if report.ready else "not ready",
            "service": about.name,
            "version": about.version,
            "build": about.build,
            "uptime_seconds": round(lifecycle.uptime, 3),
            "state": report.state,
            "checks": {
                name: {
                    "outcome": outcome,
                    "latency_ms": round(report.latencies[name] * _MILLISECONDS, 3),
                }
                for name, outcome in report.checks.items()
            },
        }
        status = 200 if report.ready else 503
        await send_json(send, status, msgspec.json.encode(answer), _NO_STORE)

    return serve
