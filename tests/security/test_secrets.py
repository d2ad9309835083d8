"""Secrets stay secret: no token, client secret or key in a log line, an answer or the config.

Every case of the other security tests that handles a secret runs here again with every
logger at DEBUG, and the captured logs, the answers (bodies and headers), the exceptions'
messages and ``--print-config`` are searched for it.
"""

from __future__ import annotations

import json
import logging
import time

import pytest

import atoll
import atoll.testing
from atoll.clients.credentials import ClientCredentials
from atoll.errors import CredentialsRefusedError
from atoll.kernel.entrypoint import execute
from atoll.kernel.options import Secret
from atoll.service.composition import compose
from tests.clients.token_endpoint import TokenEndpoint
from tests.security import tokens
from tests.security.jwks_server import serving

CLIENT_SECRET = "client-secret-that-must-never-show"  # noqa: S105 - a test's own secret
HMAC_SECRET = "an-hmac-secret-of-at-least-32-bytes-long!!"  # noqa: S105 - as above
CALL = {"jsonrpc": "2.0", "method": "whoami", "id": 1}


def jwt_argv(*more: str) -> list[str]:
    keys = [json.dumps(tokens.rsa_pair().jwk), json.dumps(tokens.ed25519_pair().jwk)]
    return [
        "--auth-jwt-issuer", tokens.ISSUER,
        "--auth-jwt-audience", tokens.AUDIENCE,
        "--auth-jwt-keys", json.dumps(keys),
        "--log-level", "debug",
        *more,
    ]  # fmt: skip


def service() -> atoll.Service:
    runs = atoll.Service("runs")

    @runs.get("/me")
    async def me(identity: atoll.Identity) -> str:
        return identity.subject

    @runs.rpc
    async def whoami(identity: atoll.Identity) -> str:
        return identity.subject

    @runs.get("/boom")
    async def boom(identity: atoll.Identity) -> str:
        raise RuntimeError("a failure after authentication")

    return runs


def pieces(token: str) -> list[str]:
    """What of a token must not show: the whole, and each part long enough to mean it."""
    return [piece for piece in (token, *token.split(".")) if len(piece) > 16]


async def test_no_token_shows_in_logs_or_answers_whatever_the_outcome(caplog):
    now = time.time()
    sent = [refusal.token for refusal in tokens.refusals(now) if "\n" not in refusal.token]
    sent += list(tokens.acceptances(now).values())
    shown: list[str] = []
    with caplog.at_level(logging.DEBUG):
        async with atoll.testing.run(service(), argv=jwt_argv("--no-auth-anonymous")) as harness:
            for token in sent:
                headers = {"authorization": f"Bearer {token}".encode()}
                for answer in (
                    await harness.client.get("/me", headers=headers),
                    await harness.client.get("/boom", headers=headers),
                    await harness.client.post(
                        "/rpc",
                        json={"jsonrpc": "2.0", "method": "whoami", "id": 1},
                        headers=headers,
                    ),
                ):
                    shown.append(answer.text)
                    shown.append(str(answer.headers))
    logged = caplog.text + "".join(record.getMessage() for record in caplog.records)
    assert "a failure after authentication" in logged  # the logs were captured, at DEBUG
    everything = logged + "".join(shown)
    leaked = [token[:24] for token in sent for piece in pieces(token) if piece in everything]
    assert leaked == []


async def test_a_client_secret_shows_nowhere_through_a_token_exchange_good_or_refused(caplog):
    endpoint = TokenEndpoint({"runs": CLIENT_SECRET})
    with serving(endpoint) as base, caplog.at_level(logging.DEBUG):
        url = f"{base}/oauth/token"
        good = ClientCredentials(url, "runs", Secret(CLIENT_SECRET))
        token = await good.token("users")
        shown = [repr(good)]
        await good.aclose()
        wrong = ClientCredentials(url, "runs", Secret(CLIENT_SECRET + "-not"))
        with pytest.raises(CredentialsRefusedError) as refused:
            await wrong.token("users")
        shown += [str(refused.value), repr(refused.value), repr(wrong)]
        await wrong.aclose()
    everything = caplog.text + "".join(shown) + json.dumps(endpoint.forms)
    assert CLIENT_SECRET not in everything
    assert all(piece not in caplog.text + "".join(shown) for piece in pieces(token))


def test_print_config_masks_every_secret_of_the_auth_and_clients_sections(capsys):
    app = compose("runs", [service()], serve=False)
    argv = [
        "--print-config",
        "--clients-token-url", "http://127.0.0.1:8100/oauth/token",
        "--clients-client-id", "runs",
        "--clients-client-secret", CLIENT_SECRET,
        "--auth-jwt-issuer", tokens.ISSUER,
        "--auth-jwt-audience", tokens.AUDIENCE,
        "--auth-jwt-algorithms", "HS256",
        "--auth-jwt-secret", HMAC_SECRET,
    ]  # fmt: skip
    assert execute(app, argv, {}) == 0
    printed = capsys.readouterr().out
    assert "clients.client_secret" in printed
    assert "auth.jwt.secret" in printed
    assert CLIENT_SECRET not in printed
    assert HMAC_SECRET not in printed


def test_a_refused_configuration_does_not_show_the_secret_it_was_given(capsys):
    app = compose("runs", [service()], serve=False)
    argv = ["--auth-jwt-issuer", tokens.ISSUER, "--auth-jwt-audience", tokens.AUDIENCE,
            "--auth-jwt-algorithms", "HS256", "--auth-jwt-secret", "short-secret-xyz"]  # fmt: skip
    assert execute(app, argv, {}) == 2  # under 32 bytes: refused at start
    printed = capsys.readouterr()
    assert "short-secret-xyz" not in printed.out + printed.err
    assert "secret" in printed.err
