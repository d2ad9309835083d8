"""No log line, at any level, holds a client secret, a token or a private key."""

from __future__ import annotations

import logging

from atoll.auth.keyring import Keyring
from tests.auth.conftest import add_client, basic, running, verifier_for

GRANT = {"grant_type": "client_credentials"}


async def test_a_whole_exchange_logs_no_secret_token_or_private_key(clock, caplog):
    caplog.set_level(logging.DEBUG)
    async with running(clock) as harness:
        secret = await add_client(harness)
        refused = await harness.client.post(
            "/oauth/token", data=GRANT, headers=basic("runs-worker", secret + "x")
        )
        posted = await harness.client.post(
            "/oauth/token",
            data={**GRANT, "client_id": "runs-worker", "client_secret": secret, "scope": "x:y"},
        )
        response = await harness.client.post(
            "/oauth/token", data=GRANT, headers=basic("runs-worker", secret)
        )
        token = response.json()["access_token"]
        await (await verifier_for(harness, clock)).verify(token)
        keyring = await harness.container.aget(Keyring)
        await keyring.rotate()
        private_keys = [key.private_key for key in await keyring.keys()]
    assert refused.status_code == 401
    assert posted.json()["error"] == "invalid_scope"
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert "issued token" in logged  # the exchange was logged, and at DEBUG
    for private in (secret, token, *token.split("."), *private_keys):
        assert private not in logged
    for pem in private_keys:
        body = pem.splitlines()[1]
        assert body not in logged
