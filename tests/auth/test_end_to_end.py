"""Over real HTTP: a token of `atoll run atoll.auth:service` proves who calls another service.

The token service runs as `atoll run` runs it, on a free port; its client is added with
`atoll auth clients add`; a second service trusts it by `--auth-jwt-issuer`,
`--auth-jwt-audience` and `--auth-jwt-jwks-url` alone, and sees the caller as an
`atoll.Identity` of kind "service".
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

import atoll
import atoll.testing
from atoll.cli import cli

RUNS = "https://runs.example.org"
SRC = str(Path(atoll.__file__).resolve().parents[1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _runs_service() -> atoll.Service:
    service = atoll.Service("runs")

    @service.get("/whoami")
    async def whoami(identity: atoll.Identity) -> dict[str, object]:
        return {
            "kind": identity.kind,
            "subject": identity.subject,
            "scopes": sorted(identity.scopes),
            "audience": list(identity.audience),
        }

    return service


@pytest.mark.slow
async def test_a_token_from_the_token_service_is_a_service_identity_elsewhere(spawn, tmp_path):
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    db = ["--db-url", f"sqlite+aiosqlite:///{tmp_path}/auth.db"]
    added = await asyncio.to_thread(  # the command runs its own event loop
        CliRunner().invoke,
        cli,
        [
            "auth",
            "clients",
            "add",
            "--client-id",
            "stats-worker",
            "--scope",
            "runs:read",
            "--audience",
            RUNS,
            *db,
        ],
    )
    assert added.exit_code == 0, added.output
    secret = added.stdout.split("client_secret: ")[1].split()[0]
    process = spawn(
        sys.executable,
        "-m",
        "atoll",
        "run",
        "atoll.auth:service",
        "--server-port",
        str(port),
        "--tokens-issuer",
        issuer,
        *db,
        cwd=str(tmp_path),
        env={"PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])},
    )
    process.wait_for("serving on", timeout=30)
    async with httpx.AsyncClient(base_url=issuer, timeout=10) as http:
        metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
        assert metadata["token_endpoint"] == f"{issuer}/oauth/token"
        response = await http.post(
            metadata["token_endpoint"],
            data={"grant_type": "client_credentials", "resource": RUNS},
            auth=("stats-worker", secret),
        )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    argv = [
        "--auth-jwt-issuer",
        issuer,
        "--auth-jwt-audience",
        RUNS,
        "--auth-jwt-jwks-url",
        metadata["jwks_uri"],
        "--no-auth-anonymous",
    ]
    async with atoll.testing.run(_runs_service(), argv=argv) as harness:
        me = await harness.client.get("/whoami", headers={"authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json() == {
            "kind": "service",
            "subject": "stats-worker",
            "scopes": ["runs:read"],
            "audience": [RUNS],
        }
        anonymous = await harness.client.get("/whoami")
        assert anonymous.status_code == 401
    process.signal(2)
    assert process.finish() == 0
    assert secret not in process.output
    assert token not in process.output
