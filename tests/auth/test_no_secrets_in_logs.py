"""No log line, at any level, holds a client secret, an access or refresh token, a private key."""

from __future__ import annotations

import logging

from atoll.auth.issuer import SESSION_GRANT
from atoll.auth.keyring import Keyring
from atoll.auth.sessions import token_id
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


async def test_sessions_log_no_refresh_token_nor_its_hash(clock, caplog):
    caplog.set_level(logging.DEBUG)
    session = {"grant_type": SESSION_GRANT, "subject": "alice"}
    async with running(clock, "--tokens-session-clients", "users") as harness:
        secret = await add_client(harness, "users", audiences=("users", "runs"))
        auth = basic("users", secret)
        opened = (await harness.client.post("/oauth/token", data=session, headers=auth)).json()
        first = opened["refresh_token"]

        async def refresh(token: str, **form: str):
            data = {"grant_type": "refresh_token", "refresh_token": token, **form}
            return await harness.client.post("/oauth/token", data=data, headers=auth)

        second = (await refresh(first)).json()
        refused = [
            await refresh(first),  # reuse: the session is revoked
            await refresh(second["refresh_token"]),
            await refresh(first + "x"),
            await refresh(second["refresh_token"], scope="x:y"),
        ]
        other = (await harness.client.post("/oauth/token", data=session, headers=auth)).json()
        revocations = [
            await harness.client.post("/oauth/revoke", data={"token": token}, headers=headers)
            for token, headers in [
                (other["refresh_token"], auth),
                (other["access_token"], auth),
                ("atr_" + secret, auth),
                (other["refresh_token"], basic("users", secret + "x")),
            ]
        ]
    assert [response.json()["error"] for response in refused] == ["invalid_grant"] * 4
    assert [response.status_code for response in revocations] == [200, 200, 200, 401]
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert "the session is revoked" in logged  # the reuse was logged
    assert "revoked session" in logged  # and the revocation
    tokens = [first, second["refresh_token"], other["refresh_token"]]
    access = [opened["access_token"], second["access_token"], other["access_token"]]
    for private in (secret, *tokens, *(token[4:] for token in tokens), *map(token_id, tokens)):
        assert private not in logged
    for token in access:
        assert token not in logged
        assert token.split(".")[2] not in logged
    answered = "".join(response.text for response in [*refused, *revocations])
    for private in (secret, *tokens, *(token[4:] for token in tokens), *access):
        assert private not in answered
