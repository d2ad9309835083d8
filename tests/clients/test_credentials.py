"""Credentials that travel: a token per service, got from a token endpoint, kept and renewed."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import httpx
import pytest

import atoll
import atoll.testing
from atoll.clients.credentials import AuthorizedTransport, ClientCredentials, StaticToken
from atoll.clients.directory import ClientOptions, Clients
from atoll.clients.remote import RemoteService
from atoll.clients.transports import BrokerTransport, HttpTransport
from atoll.errors import ConfigError, CredentialsRefusedError, RemoteError, RemoteUnavailableError
from atoll.kernel.options import Secret
from atoll.messaging.memory_broker import MemoryBroker
from tests.clients.token_endpoint import TokenEndpoint
from tests.security import tokens
from tests.security.jwks_server import closed_port, serving

SECRET = "s3cret-of-the-runs-client"  # noqa: S105 - the test client's, known to the endpoint


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def endpoint():
    return TokenEndpoint({"runs": SECRET, "we:ird": "p@ss:word"})


@pytest.fixture
def token_url(endpoint):
    with serving(endpoint) as base:
        yield f"{base}/oauth/token"


def credentials(token_url: str, **kwargs) -> ClientCredentials:
    return ClientCredentials(token_url, "runs", Secret(SECRET), **kwargs)


async def test_a_token_is_asked_for_each_audience_and_kept(endpoint, token_url):
    creds = credentials(token_url, scope="users:read")
    try:
        first = await creds.token("users")
        assert await creds.token("users") == first
        other = await creds.token("stats")
    finally:
        await creds.aclose()
    assert other != first
    assert [form["resource"] for form in endpoint.forms] == ["users", "stats"]
    assert endpoint.forms[0] == {
        "grant_type": "client_credentials",
        "resource": "users",
        "scope": "users:read",
    }


async def test_a_token_is_renewed_shortly_before_it_expires(endpoint, token_url):
    clock = Clock()
    creds = credentials(token_url, clock=clock)
    try:
        first = await creds.token("users")
        clock.now += endpoint.lifetime - 31  # 300 s tokens are renewed 30 s before their end
        assert await creds.token("users") == first
        clock.now += 2
        renewed = await creds.token("users")
    finally:
        await creds.aclose()
    assert renewed != first
    assert endpoint.hits == 2


async def test_callers_wanting_a_new_token_at_once_share_one_request(endpoint, token_url):
    creds = credentials(token_url)
    endpoint.hold = threading.Event()
    try:
        waiting = [asyncio.create_task(creds.token("users")) for _ in range(10)]
        await asyncio.to_thread(endpoint.arrived.wait, 10)
        endpoint.hold.set()
        got = await asyncio.gather(*waiting)
    finally:
        await creds.aclose()
    assert len(set(got)) == 1
    assert endpoint.hits == 1


async def test_an_id_and_secret_with_reserved_characters_are_form_encoded(endpoint, token_url):
    creds = ClientCredentials(token_url, "we:ird", Secret("p@ss:word"))
    try:
        assert await creds.token("users")
    finally:
        await creds.aclose()


async def test_a_refused_client_is_told_which_options_to_check_and_never_its_secret(
    token_url, caplog
):
    creds = ClientCredentials(token_url, "runs", Secret("not-the-secret"))
    with caplog.at_level(logging.DEBUG), pytest.raises(CredentialsRefusedError) as refused:
        await creds.token("users")
    await creds.aclose()
    assert "invalid_client" in str(refused.value)
    assert "--clients-client-secret" in str(refused.value)
    assert "not-the-secret" not in str(refused.value) + caplog.text + repr(creds)


async def test_a_token_endpoint_out_of_reach_is_unavailable():
    creds = ClientCredentials(closed_port(), "runs", Secret(SECRET), timeout=2)
    with pytest.raises(RemoteUnavailableError, match="cannot get a token from"):
        await creds.token("users")
    await creds.aclose()


# -- calls carrying them --------------------------------------------------------------------------


def users_service() -> atoll.Service:
    users = atoll.Service("users")

    @users.rpc
    async def whoami(identity: atoll.Identity) -> list[str]:
        return [identity.kind, identity.subject, *sorted(identity.scopes)]

    @users.rpc(public=True)
    async def ping() -> str:
        return "pong"

    return users


USERS_ARGV = [
    "--no-auth-anonymous",
    "--auth-jwt-issuer", tokens.ISSUER,
    "--auth-jwt-audience", "users",
    "--auth-jwt-keys", json.dumps([json.dumps(tokens.ed25519_pair().jwk)]),
]  # fmt: skip


async def remote_users(harness, creds) -> RemoteService:
    """``users`` over HTTP (its ASGI app in this process), with a token from ``creds``."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=harness.http.entry))
    http = HttpTransport("http://users/rpc", client=client)
    return RemoteService(AuthorizedTransport(http, creds, "users"))


async def test_a_call_carries_a_token_for_the_service_and_is_served_as_the_client(token_url):
    creds = credentials(token_url)
    async with atoll.testing.run(users_service(), argv=USERS_ARGV) as harness:
        users = await remote_users(harness, creds)
        assert await users.methods.whoami() == ["service", "runs", "runs:read"]
        await creds.aclose()
    async with atoll.testing.run(users_service(), argv=USERS_ARGV) as harness:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=harness.http.entry))
        bare = RemoteService(HttpTransport("http://users/rpc", client=client))  # no token
        with pytest.raises(RemoteError) as refused:
            await bare.methods.whoami()
    assert refused.value.code == -32012


async def test_a_refused_token_is_renewed_once_and_the_call_sent_again(endpoint, token_url):
    creds = credentials(token_url)
    endpoint.spoiled = 1  # the first token is signed by a key the service does not trust
    async with atoll.testing.run(users_service(), argv=USERS_ARGV) as harness:
        users = await remote_users(harness, creds)
        assert (await users.methods.whoami())[1] == "runs"
        assert endpoint.hits == 2
        endpoint.spoiled = 2  # refused twice: the second refusal is the caller's
        creds._kept.clear()
        with pytest.raises(RemoteError) as refused:
            await users.methods.whoami()
        await creds.aclose()
    assert refused.value.code == -32012
    assert endpoint.hits == 4


async def test_a_batch_of_which_a_call_ran_is_not_sent_again(endpoint, token_url):
    creds = credentials(token_url)
    endpoint.spoiled = 1
    async with atoll.testing.run(users_service(), argv=USERS_ARGV) as harness:
        users = await remote_users(harness, creds)
        async with users.batch() as batch:
            whoami = batch.methods.whoami()
            ping = batch.methods.ping()
        await creds.aclose()
    assert ping.result() == "pong"
    with pytest.raises(RemoteError):
        whoami.result()  # refused with the spoiled token; ping ran: not sent again
    assert endpoint.hits == 1


async def test_a_static_token_goes_to_every_service():
    good = tokens.mint(tokens.claims(time.time(), aud="users", sub="ops"), tokens.ed25519_pair())
    async with atoll.testing.run(users_service(), argv=USERS_ARGV) as harness:
        users = await remote_users(harness, StaticToken(Secret(good)))
        assert (await users.methods.whoami())[:2] == ["user", "ops"]
    assert "ops" not in repr(StaticToken(Secret(good)))


# -- the options ----------------------------------------------------------------------------------


def test_clients_call_over_http_with_a_token_when_the_options_say_how_to_get_one(token_url):
    options = ClientOptions(
        urls=["users=http://127.0.0.1:8001/rpc"],
        token_url=token_url,
        client_id="runs",
        client_secret=Secret(SECRET),
        audiences=["users=https://users.example.org"],
    )
    clients = Clients(options)
    transport = clients.get("users").transport
    assert isinstance(transport, AuthorizedTransport)
    assert transport.audience == "https://users.example.org"
    assert isinstance(transport.credentials, ClientCredentials)
    assert Clients(ClientOptions(urls=["users=http://h/rpc"])).get("users").url == "http://h/rpc"


def test_clients_call_over_the_broker_with_a_token_when_the_options_say_how_to_get_one():
    options = ClientOptions(token=Secret("t0ken"), audiences=["users=https://users.example.org"])
    transport = Clients(options, broker=MemoryBroker()).get("users").transport
    assert isinstance(transport, AuthorizedTransport)
    assert isinstance(transport.transport, BrokerTransport)
    assert transport.audience == "https://users.example.org"
    bare = Clients(ClientOptions(), broker=MemoryBroker()).get("users").transport
    assert isinstance(bare, BrokerTransport)  # no credentials: no token


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        ({"token": Secret("t"), "token_url": "http://h/t", "client_id": "a",
          "client_secret": Secret("s")}, "keep one"),
        ({"token_url": "http://h/t"}, "needs client_id and client_secret"),
        ({"client_id": "a"}, "need token_url"),
        ({"token_url": "ftp://h/t", "client_id": "a", "client_secret": Secret("s")}, "http"),
        ({"audiences": ["users"]}, "is not NAME=AUDIENCE"),
    ],
)  # fmt: skip
def test_options_that_cannot_give_a_token_are_refused(options, refusal):
    with pytest.raises((ValueError, ConfigError), match=refusal):
        ClientOptions(**options)
