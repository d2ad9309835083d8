"""The token service in the test's process, on memory://, with a clock the test sets."""

from __future__ import annotations

import base64
import contextlib

import pytest

import atoll.testing
from atoll.adapters.jwt import JwtVerifier
from atoll.auth import Clock, token_service
from atoll.auth.clients import Registrations
from atoll.security.tokens import JwtOptions

NOW = 1_800_000_000.0
ISSUER = "http://127.0.0.1:8000"
RUNS = "https://runs.example.org"
STATS = "https://stats.example.org"


class FakeClock(Clock):
    """A clock the test sets and advances."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@contextlib.asynccontextmanager
async def running(clock, *argv: str):
    """The token service running on memory://, its clock ``clock``."""
    service = token_service()
    async with atoll.testing.run(
        service, argv=["--db-url", "memory://", *argv], overrides={Clock: clock}
    ) as harness:
        yield harness


async def add_client(
    harness, client_id="runs-worker", scopes=("runs:read", "runs:write"), audiences=(RUNS,)
):
    """Register a client; its secret."""
    registrations = await harness.container.aget(Registrations)
    _, secret = await registrations.add(client_id, scopes, audiences)
    return secret


def basic(client_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"authorization": f"Basic {token}"}


async def verifier_for(harness, clock, audience=RUNS) -> JwtVerifier:
    """A verifier trusting the service's JWKS of the moment, on the service's clock."""
    jwks = (await harness.client.get("/.well-known/jwks.json")).text
    verifier = JwtVerifier(
        JwtOptions(issuer=ISSUER, audience=[audience], keys=[jwks], types=["at+jwt"]),
        clock=clock,
    )
    await verifier.start()
    return verifier
