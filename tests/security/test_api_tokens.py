"""API tokens: issued hashed, verified into an identity, refused when unknown, revoked, expired.

The in-memory store passes the store contract here; the SQL store passes it in
``tests/adapters/sqlalchemy/test_api_tokens.py``. A service with ``--auth-api-tokens`` takes
a token as a bearer token, in its ``X-API-Key`` header or in its cookie, over REST and
JSON-RPC, and its handlers see the identity the token proves.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest

import atoll
import atoll.testing
from atoll.errors import InvalidTokenError
from atoll.security.api_tokens import (
    API_TOKEN_PREFIX,
    UNKNOWN,
    ApiTokens,
    MemoryApiTokenStore,
    api_token_digest,
    new_api_token,
)
from atoll.security.auth import AuthOptions
from atoll.testing.api_token_contract import ApiTokenStoreContract

GUARDED = ["--no-auth-anonymous", "--auth-api-tokens"]


class TestMemoryStore(ApiTokenStoreContract):
    @pytest.fixture
    def store(self):
        return MemoryApiTokenStore()


class Clock:
    """Seconds a test moves forward itself."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_is_the_prefix_and_43_url_safe_characters_and_is_kept_as_its_sha256():
    token = new_api_token()
    assert token.startswith(API_TOKEN_PREFIX)
    assert len(token) == len(API_TOKEN_PREFIX) + 43
    assert new_api_token() != token
    assert len(api_token_digest(token)) == 64
    assert token not in api_token_digest(token)


async def test_the_record_keeps_the_digest_never_the_token():
    store = MemoryApiTokenStore()
    token, record = await ApiTokens(store).issue("user-1", ["a"])
    assert record.digest == api_token_digest(token)
    assert token not in repr(record)
    assert token not in repr(await store.list())


@pytest.mark.parametrize(
    ("subject", "scopes", "expires_in", "told"),
    [
        ("", [], None, "acts as someone"),
        ("user-1", ["two words"], None, "without spaces"),
        ("user-1", [""], None, "without spaces"),
        ("user-1", [], dt.timedelta(0), "above 0"),
    ],
)
async def test_issuing_refuses_what_would_make_a_useless_token(subject, scopes, expires_in, told):
    with pytest.raises(ValueError, match=told):
        await ApiTokens(MemoryApiTokenStore()).issue(subject, scopes, expires_in=expires_in)


@pytest.mark.parametrize("token", ["atl_short", "atl_" + "x" * 44, "atl_" + "!" * 43, "jwt.a.b"])
async def test_a_value_not_shaped_like_a_token_is_not_known(token):
    with pytest.raises(InvalidTokenError, match=UNKNOWN):
        await ApiTokens(MemoryApiTokenStore()).verify(token)


async def test_a_token_found_is_cached_and_revoking_here_forgets_it_at_once():
    store = MemoryApiTokenStore()
    clock = Clock()
    here = ApiTokens(store, cache=5, clock=clock)
    elsewhere = ApiTokens(store, cache=5, clock=clock)  # another process, on the same store
    token, record = await here.issue("user-1")
    await here.verify(token)
    await elsewhere.verify(token)
    await here.revoke(record.id)
    with pytest.raises(InvalidTokenError, match="revoked"):
        await here.verify(token)
    assert (await elsewhere.verify(token)).subject == "user-1"  # within its cache
    clock.now += 4.9
    assert (await elsewhere.verify(token)).subject == "user-1"
    clock.now += 0.1
    with pytest.raises(InvalidTokenError, match="revoked"):
        await elsewhere.verify(token)


async def test_a_token_not_found_is_not_cached_so_one_issued_elsewhere_works_at_once():
    store = MemoryApiTokenStore()
    here = ApiTokens(store, cache=5, clock=Clock())
    token = new_api_token()
    with pytest.raises(InvalidTokenError, match=UNKNOWN):
        await here.verify(token)
    _, record = await ApiTokens(store).issue("user-2")
    issued, _ = await ApiTokens(store).issue("user-3")
    assert (await here.verify(issued)).subject == "user-3"
    assert record.subject == "user-2"


@pytest.mark.parametrize(
    ("changes", "told"),
    [
        ({"api_token_cache": -1.0}, "api_token_cache must be between 0 and 3600"),
        ({"api_token_cache": float("nan")}, "api_token_cache must be between 0 and 3600"),
        ({"api_key_header": "x api key"}, "api_key_header must be a header or cookie name"),
        ({"api_key_cookie": "a;b"}, "api_key_cookie must be a header or cookie name"),
    ],
)
def test_auth_options_refuse_a_bad_cache_or_name(changes, told):
    with pytest.raises(ValueError, match=told):
        AuthOptions(**changes)


# -- over HTTP ----------------------------------------------------------------------------------


def guarded_service() -> atoll.Service:
    service = atoll.Service("runs")

    @service.get("/me")
    async def me(identity: atoll.Identity) -> dict[str, object]:
        return {
            "kind": identity.kind,
            "subject": identity.subject,
            "scopes": sorted(identity.scopes),
            "token_id": identity.token_id,
            "scheme": identity.scheme,
        }

    @service.rpc
    async def whoami(identity: atoll.Identity) -> str:
        return f"{identity.subject} {identity.scheme}"

    @service.get("/private")
    async def private() -> str:
        return "served"

    return service


def ways(token: str) -> dict[str, dict[str, str]]:
    return {
        "bearer": {"authorization": f"Bearer {token}"},
        "header": {"x-api-key": token},
        "cookie": {"cookie": f"theme=dark; atoll_key={token}"},
    }


@pytest.fixture
async def harness():
    argv = [*GUARDED, "--auth-api-key-cookie", "atoll_key"]
    async with atoll.testing.run(guarded_service(), argv=argv) as running:
        yield running


def tokens_of(harness) -> ApiTokens:
    return harness.container.get(ApiTokens)


@pytest.mark.parametrize("way", ["bearer", "header", "cookie"])
async def test_a_token_sent_each_way_proves_its_identity_over_rest_and_json_rpc(harness, way):
    token, record = await tokens_of(harness).issue(
        "ci-bot", ["runs:read"], kind="service", label="nightly"
    )
    headers = ways(token)[way]
    rest = await harness.client.get("/me", headers=headers)
    assert rest.json() == {
        "kind": "service",
        "subject": "ci-bot",
        "scopes": ["runs:read"],
        "token_id": record.id,
        "scheme": "api-token",
    }
    call = {"jsonrpc": "2.0", "method": "whoami", "id": 1}
    rpc = await harness.client.post("/rpc", json=call, headers=headers)
    assert rpc.json()["result"] == "ci-bot api-token"
    assert (await harness.client.get("/private", headers=headers)).text == '"served"'


async def test_without_a_token_a_guarded_route_answers_401(harness):
    answer = await harness.client.get("/private")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="runs"'


async def refused(harness, token, reason, headers=None):
    headers = headers if headers is not None else {"x-api-key": token}
    rest = await harness.client.get("/me", headers=headers)
    assert rest.status_code == 401
    assert rest.headers["www-authenticate"] == (
        f'Bearer realm="runs", error="invalid_token", error_description="{reason}"'
    )
    call = {"jsonrpc": "2.0", "method": "whoami", "id": 1}
    rpc = await harness.client.post("/rpc", json=call, headers=headers)
    error = rpc.json()["error"]
    assert (error["code"], error["data"]["detail"]) == (-32012, reason)
    for answer in (rest, rpc):
        assert token not in answer.text
        assert token not in str(answer.headers)


async def test_an_unknown_token_is_refused_401_each_way(harness):
    token = new_api_token()
    for headers in ways(token).values():
        await refused(harness, token, "the API token is not known", headers)


async def test_a_revoked_token_is_refused_at_once_in_the_process_that_revoked_it(harness):
    tokens = tokens_of(harness)
    token, record = await tokens.issue("user-1")
    assert (await harness.client.get("/me", headers={"x-api-key": token})).status_code == 200
    await tokens.revoke(record.id)
    await refused(harness, token, "the API token has been revoked")


async def test_an_expired_token_is_refused(harness):
    tokens = tokens_of(harness)
    token, _ = await tokens.issue("user-1", expires_in=dt.timedelta(hours=1))
    assert (await harness.client.get("/me", headers={"x-api-key": token})).status_code == 200
    tokens.now = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    await refused(harness, token, "the API token has expired")


@pytest.mark.parametrize(
    ("first", "second"), [("bearer", "header"), ("bearer", "cookie"), ("header", "cookie")]
)
async def test_two_credentials_in_one_request_are_refused_400(harness, first, second):
    token, _ = await tokens_of(harness).issue("user-1")
    other, _ = await tokens_of(harness).issue("user-2")
    headers = {**ways(token)[first], **ways(other)[second]}
    answer = await harness.client.get("/me", headers=headers)
    assert answer.status_code == 400
    assert 'error="invalid_request"' in answer.headers["www-authenticate"]
    assert "send credentials one way, not 2" in answer.json()["detail"]
    assert token not in answer.text
    assert other not in answer.text


async def test_the_api_key_header_twice_or_empty_is_refused_400(harness):
    token, _ = await tokens_of(harness).issue("user-1")
    twice = [("x-api-key", token), ("x-api-key", token)]
    answer = await harness.client.get("/me", headers=twice)
    assert (answer.status_code, answer.json()["detail"]) == (
        400,
        "send one x-api-key header, not several",
    )
    empty = await harness.client.get("/me", headers={"x-api-key": " "})
    assert empty.status_code == 400


async def test_a_token_never_appears_in_the_logs_even_at_debug(caplog):
    caplog.set_level(logging.DEBUG)
    argv = [*GUARDED, "--log-level", "debug", "--log-libraries", "debug"]
    async with atoll.testing.run(guarded_service(), argv=argv) as running:
        token, record = await tokens_of(running).issue("user-1")
        await running.client.get("/me", headers={"authorization": f"Bearer {token}"})
        await tokens_of(running).revoke(record.id)
        await running.client.get("/me", headers={"x-api-key": token})
    assert caplog.records
    assert token not in caplog.text
    assert token[len(API_TOKEN_PREFIX) :][:12] not in caplog.text


async def test_without_auth_api_tokens_the_header_and_cookie_are_not_read():
    async with atoll.testing.run(guarded_service(), argv=["--no-auth-anonymous"]) as running:
        token, _ = await tokens_of(running).issue("user-1")
        answer = await running.client.get("/me", headers={"x-api-key": token})
        assert answer.status_code == 401
        assert "error=" not in answer.headers["www-authenticate"]


async def test_an_api_key_header_of_another_name_is_read_and_x_api_key_is_not():
    argv = [*GUARDED, "--auth-api-key-header", "x-runs-key"]
    async with atoll.testing.run(guarded_service(), argv=argv) as running:
        token, _ = await tokens_of(running).issue("user-1")
        answer = await running.client.get("/me", headers={"x-runs-key": token})
        assert answer.json()["subject"] == "user-1"
        ignored = await running.client.get("/me", headers={"x-api-key": token})
        assert ignored.status_code == 401
