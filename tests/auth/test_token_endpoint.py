"""POST /oauth/token: the client credentials grant, answered as RFC 6749 5.1 and 5.2 say."""

from __future__ import annotations

import msgspec
import pytest

from tests.auth.conftest import ISSUER, RUNS, STATS, add_client, basic, running, verifier_for

GRANT = {"grant_type": "client_credentials"}


def _header(token: str) -> dict:
    import base64  # noqa: PLC0415 - only here

    part = token.split(".", maxsplit=1)[0]
    return msgspec.json.decode(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def test_a_client_authenticated_by_basic_gets_a_token_the_verifier_accepts(clock):
    async with running(clock) as harness:
        secret = await add_client(harness)
        response = await harness.client.post(
            "/oauth/token", data=GRANT, headers=basic("runs-worker", secret)
        )
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"
        answer = response.json()
        assert answer["token_type"] == "Bearer"  # noqa: S105 - a token type, no password
        assert answer["expires_in"] == 300
        assert answer["scope"] == "runs:read runs:write"
        token = answer["access_token"]
        header = _header(token)
        assert header["typ"] == "at+jwt"
        assert header["alg"] == "EdDSA"
        assert header["kid"]
        claims = await (await verifier_for(harness, clock)).verify(token)
        assert claims["iss"] == ISSUER
        assert claims["sub"] == claims["client_id"] == "runs-worker"
        assert claims["aud"] == RUNS
        assert claims["scope"] == "runs:read runs:write"
        assert claims["exp"] - claims["iat"] == 300
        assert claims["nbf"] == claims["iat"] == int(clock.now)
        assert len(claims["jti"]) >= 16


async def test_a_client_authenticated_by_post_gets_a_token(clock):
    async with running(clock) as harness:
        secret = await add_client(harness)
        form = {**GRANT, "client_id": "runs-worker", "client_secret": secret}
        response = await harness.client.post("/oauth/token", data=form)
        assert response.status_code == 200
        assert response.json()["access_token"].count(".") == 2


async def test_rs256_signs_when_asked(clock):
    async with running(clock, "--tokens-algorithm", "RS256") as harness:
        secret = await add_client(harness)
        response = await harness.client.post(
            "/oauth/token", data=GRANT, headers=basic("runs-worker", secret)
        )
        token = response.json()["access_token"]
        assert _header(token)["alg"] == "RS256"
        assert (await (await verifier_for(harness, clock)).verify(token))["sub"] == "runs-worker"


async def test_an_unknown_client_and_a_wrong_secret_get_the_same_answer(clock):
    async with running(clock) as harness:
        secret = await add_client(harness)
        wrong = await harness.client.post(
            "/oauth/token", data=GRANT, headers=basic("runs-worker", secret[:-1] + "x")
        )
        unknown = await harness.client.post(
            "/oauth/token", data=GRANT, headers=basic("nobody", secret)
        )
        for response in (wrong, unknown):
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == 'Basic realm="auth"'
            assert response.headers["cache-control"] == "no-store"
            assert response.json()["error"] == "invalid_client"
        assert wrong.content == unknown.content


async def test_no_client_authentication_is_invalid_client(clock):
    async with running(clock) as harness:
        response = await harness.client.post("/oauth/token", data=GRANT)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert "www-authenticate" in response.headers


@pytest.mark.parametrize(
    ("form", "error", "status"),
    [
        ({"grant_type": "authorization_code"}, "unsupported_grant_type", 400),
        ({"grant_type": "password"}, "unsupported_grant_type", 400),
        ({**GRANT, "scope": "runs:admin"}, "invalid_scope", 400),
        ({**GRANT, "scope": "runs:read runs:admin"}, "invalid_scope", 400),
        ({**GRANT, "scope": 'runs:"read"'}, "invalid_scope", 400),
        ({**GRANT, "resource": STATS}, "invalid_target", 400),
        ({**GRANT, "audience": STATS}, "invalid_target", 400),
        ({}, "invalid_request", 400),
    ],
)
async def test_refusals_name_the_error_of_rfc_6749(clock, form, error, status):
    async with running(clock) as harness:
        secret = await add_client(harness)
        response = await harness.client.post(
            "/oauth/token", data=form, headers=basic("runs-worker", secret)
        )
        assert response.status_code == status
        assert response.json()["error"] == error
        assert response.json()["error_description"]
        assert response.headers["cache-control"] == "no-store"
        assert secret not in response.text


async def test_the_scopes_asked_for_are_granted_when_the_client_has_them(clock):
    async with running(clock) as harness:
        secret = await add_client(harness)
        response = await harness.client.post(
            "/oauth/token",
            data={**GRANT, "scope": "runs:read"},
            headers=basic("runs-worker", secret),
        )
        assert response.json()["scope"] == "runs:read"
        claims = await (await verifier_for(harness, clock)).verify(response.json()["access_token"])
        assert claims["scope"] == "runs:read"


async def test_the_audience_is_the_resource_asked_for_among_the_clients(clock):
    async with running(clock) as harness:
        secret = await add_client(harness, audiences=(RUNS, STATS))
        ambiguous = await harness.client.post(
            "/oauth/token", data=GRANT, headers=basic("runs-worker", secret)
        )
        assert ambiguous.json()["error"] == "invalid_target"
        response = await harness.client.post(
            "/oauth/token", data={**GRANT, "resource": STATS}, headers=basic("runs-worker", secret)
        )
        token = response.json()["access_token"]
        verifier = await verifier_for(harness, clock, audience=STATS)
        assert (await verifier.verify(token))["aud"] == STATS


@pytest.mark.parametrize(
    ("content", "headers", "url", "status"),
    [
        (
            b"grant_type=client_credentials",
            {"content-type": "application/json"},
            "/oauth/token",
            400,
        ),
        (b"grant_type=client_credentials&grant_type=x", None, "/oauth/token", 400),
        (b"grant_type=client_credentials", None, "/oauth/token?client_secret=s", 400),
        (b"grant_type=" + b"a" * 5000, None, "/oauth/token", 413),
        (b"grant_type=%FF", None, "/oauth/token", 400),
        (b"grant_type=client_credentials", None, "/oauth/elsewhere", 404),
    ],
)
async def test_malformed_requests_are_invalid_request(clock, content, headers, url, status):
    async with running(clock) as harness:
        secret = await add_client(harness)
        sent = {"content-type": "application/x-www-form-urlencoded", **basic("runs-worker", secret)}
        sent.update(headers or {})
        response = await harness.client.post(url, content=content, headers=sent)
        assert response.status_code == status
        assert response.json()["error"] == "invalid_request"


async def test_two_authentication_methods_at_once_are_refused(clock):
    async with running(clock) as harness:
        secret = await add_client(harness)
        response = await harness.client.post(
            "/oauth/token",
            data={**GRANT, "client_secret": secret},
            headers=basic("runs-worker", secret),
        )
        assert response.json()["error"] == "invalid_request"


async def test_the_token_endpoint_takes_post_only(clock):
    async with running(clock) as harness:
        response = await harness.client.get("/oauth/token")
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"


async def test_the_metadata_names_the_endpoints(clock):
    async with running(clock, "--tokens-issuer", "https://id.example.org/") as harness:
        document = (await harness.client.get("/.well-known/oauth-authorization-server")).json()
        assert document["issuer"] == "https://id.example.org/"
        assert document["token_endpoint"] == "https://id.example.org/oauth/token"  # noqa: S105
        assert document["jwks_uri"] == "https://id.example.org/.well-known/jwks.json"
        assert document["grant_types_supported"] == [
            "client_credentials",
            "refresh_token",
            "urn:atoll:params:oauth:grant-type:session",
        ]
        assert document["token_endpoint_auth_methods_supported"] == [
            "client_secret_basic",
            "client_secret_post",
        ]


async def test_the_jwks_holds_public_signing_keys_only(clock):
    async with running(clock) as harness:
        response = await harness.client.get("/.well-known/jwks.json")
        assert response.headers["cache-control"] == "public, max-age=300"
        (key,) = response.json()["keys"]
        assert key["use"] == "sig"
        assert key["alg"] == "EdDSA"
        assert "d" not in key
