"""A system holding its token service trusts its tokens, reading its JWKS in the process."""

from __future__ import annotations

import base64

import pytest

import atoll
import atoll.testing
from atoll.auth import token_service
from atoll.auth.clients import Registrations
from atoll.endpoints.http.server import ServerOptions
from atoll.service.composition import serves_itself

JWKS = "http://127.0.0.1:8000/.well-known/jwks.json"
TRUSTING = [
    "--auth-db-url",
    "memory://",
    "--no-auth-anonymous",
    "--auth-jwt-issuer",
    "http://127.0.0.1:8000",
    "--auth-jwt-audience",
    "runs",
    "--auth-jwt-jwks-url",
    JWKS,
]


def runs_service() -> atoll.Service:
    service = atoll.Service("runs")

    @service.get("/whoami")
    async def whoami(identity: atoll.Identity) -> str:
        return f"{identity.kind} {identity.subject}"

    return service


async def test_a_token_of_the_system_s_token_service_is_verified_with_no_network():
    system = atoll.System(token_service(), runs_service(), name="club")
    async with atoll.testing.run(system, argv=TRUSTING) as harness:
        ready = await harness.client.get("/health/ready")
        assert ready.status_code == 200, ready.text  # nothing read yet: nothing failed
        registrations = await harness.container.aget(Registrations)
        _, secret = await registrations.add("worker", (), ["runs"])
        basic = base64.b64encode(f"worker:{secret}".encode()).decode()
        issued = await harness.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"authorization": f"Basic {basic}"},
        )
        token = issued.json()["access_token"]
        answer = await harness.client.get("/whoami", headers={"authorization": f"Bearer {token}"})
        assert answer.json() == "service worker"
        assert (await harness.client.get("/whoami")).status_code == 401


@pytest.mark.parametrize(
    ("url", "port", "expected"),
    [
        (JWKS, 8000, True),
        ("http://localhost:8000/jwks.json", 8000, True),
        ("http://127.0.0.1/jwks.json", 80, True),
        (JWKS, 8001, False),  # another process's port
        ("https://127.0.0.1:8000/jwks.json", 8000, False),  # this server speaks http
        ("http://id.example.org:8000/jwks.json", 8000, False),
        ("http://127.0.0.1:99999/jwks.json", 8000, False),  # no port at all
    ],
)
def test_a_url_is_served_here_when_it_names_this_server_s_port_on_a_local_host(url, port, expected):
    assert serves_itself(url, ServerOptions(port=port)) is expected


def test_a_process_without_a_server_serves_no_url():
    assert not serves_itself(JWKS, ServerOptions(enabled=False))
