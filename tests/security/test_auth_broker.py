"""Broker RPC carries the caller's credentials: a service refusing anonymous calls answers it.

Two services run apart on one broker, as in two processes: ``users`` verifies JWTs and
refuses anonymous calls (``--no-auth-anonymous``); the caller's ``atoll.Clients`` sends a
token (``--clients-token``, or one per audience from a token endpoint served over real HTTP,
``--clients-token-url``) in the request's ``authorization`` header, which the broker carries
to ``users``'s authenticator as HTTP would.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

import atoll
import atoll.testing
from atoll.errors import RemoteError
from tests.clients.token_endpoint import TokenEndpoint
from tests.security import tokens
from tests.security.jwks_server import serving

SECRET = "s3cret-of-the-runs-client"  # noqa: S105 - the test client's, known to the endpoint
NATS_URL = "nats://127.0.0.1:4222"


def users_service(name: str) -> atoll.Service:
    users = atoll.Service(name)

    @users.rpc
    async def whoami(identity: atoll.Identity, request: atoll.Request) -> list[str]:
        return [identity.kind, identity.subject, request.transport]

    @users.rpc(public=True)
    async def ping() -> str:
        return "pong"

    return users


def users_argv(broker_url: str, audience: str) -> list[str]:
    return [
        "--broker-url", broker_url,
        "--no-auth-anonymous",
        "--auth-jwt-issuer", tokens.ISSUER,
        "--auth-jwt-audience", audience,
        "--auth-jwt-keys", json.dumps([json.dumps(tokens.ed25519_pair().jwk)]),
    ]  # fmt: skip


def service_token(audience: str, client: str = "runs") -> str:
    """A token the client ``client`` got for itself, for ``audience``: a service's identity."""
    claims = tokens.claims(time.time(), aud=audience, sub=client, client_id=client)
    return tokens.mint(claims, tokens.ed25519_pair())


async def call_users(broker_url: str, name: str, *caller_argv: str) -> list[str]:
    """``whoami`` of ``name``, called over the broker by a service run with ``caller_argv``."""
    async with atoll.testing.run(
        atoll.Service("runs"), argv=["--broker-url", broker_url, *caller_argv]
    ) as caller:
        clients = await caller.container.aget(atoll.Clients)
        users = clients.get(name)
        assert await users.methods.ping() == "pong"  # public: served without credentials
        return list(await users.methods.whoami())


@pytest.fixture
def url() -> str:
    return f"memory://auth-{uuid.uuid4().hex}"


@pytest.fixture
def name() -> str:
    """The called service's name, and its audience: of this test's own on a shared broker."""
    return f"users-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def endpoint() -> TokenEndpoint:
    return TokenEndpoint({"runs": SECRET})


@pytest.fixture
def token_url(endpoint):
    with serving(endpoint) as base:
        yield f"{base}/oauth/token"


def from_endpoint(token_url: str) -> list[str]:
    return [
        "--clients-token-url", token_url,
        "--clients-client-id", "runs",
        "--clients-client-secret", SECRET,
    ]  # fmt: skip


async def test_a_static_token_proves_the_caller_over_broker_rpc(url, name):
    async with atoll.testing.run(users_service(name), argv=users_argv(url, name)):
        seen = await call_users(url, name, "--clients-token", service_token(name))
    assert seen == ["service", "runs", "broker"]


async def test_a_call_over_the_broker_without_credentials_is_refused(url, name):
    async with atoll.testing.run(users_service(name), argv=users_argv(url, name)):
        with pytest.raises(RemoteError) as refused:
            await call_users(url, name)
    assert refused.value.code == -32012
    assert "Authorization: Bearer" in str(refused.value)


async def test_a_handler_asking_for_nothing_is_guarded_over_the_broker_too(url, name):
    quiet = atoll.Service(name)

    @quiet.rpc
    async def plain() -> str:
        return "served"

    async with (
        atoll.testing.run(quiet, argv=users_argv(url, name)),
        atoll.testing.run(atoll.Service("runs"), argv=["--broker-url", url]) as anonymous,
        atoll.testing.run(
            atoll.Service("runs"),
            argv=["--broker-url", url, "--clients-token", service_token(name)],
        ) as authorized,
    ):
        served = await (await authorized.container.aget(atoll.Clients)).get(name).methods.plain()
        with pytest.raises(RemoteError) as refused:
            await (await anonymous.container.aget(atoll.Clients)).get(name).methods.plain()
    assert served == "served"
    assert refused.value.code == -32012


async def test_a_token_of_another_audience_is_refused_over_the_broker(url, name):
    async with atoll.testing.run(users_service(name), argv=users_argv(url, name)):
        with pytest.raises(RemoteError) as refused:
            await call_users(url, name, "--clients-token", service_token("stats"))
    assert refused.value.code == -32012


async def test_a_token_from_the_token_endpoint_is_asked_for_the_service_s_audience(
    url, name, endpoint, token_url
):
    async with atoll.testing.run(users_service(name), argv=users_argv(url, name)):
        seen = await call_users(url, name, *from_endpoint(token_url))
    assert seen == ["service", "runs", "broker"]
    assert [form["resource"] for form in endpoint.forms] == [name]  # one token, kept


async def test_a_refused_token_is_renewed_once_and_the_call_sent_again(
    url, name, endpoint, token_url
):
    endpoint.spoiled = 1  # the first token is signed by a key the service does not trust
    async with atoll.testing.run(users_service(name), argv=users_argv(url, name)):
        seen = await call_users(url, name, *from_endpoint(token_url))
    assert seen == ["service", "runs", "broker"]
    assert endpoint.hits == 2


async def test_a_token_refused_twice_is_the_caller_s_refusal(url, name, endpoint, token_url):
    endpoint.spoiled = 2
    async with atoll.testing.run(users_service(name), argv=users_argv(url, name)):
        with pytest.raises(RemoteError) as refused:
            await call_users(url, name, *from_endpoint(token_url))
    assert refused.value.code == -32012
    assert endpoint.hits == 2  # renewed once, not again


@pytest.mark.services("nats")
async def test_nats_carries_the_token_of_a_call_to_the_service(name, endpoint, token_url):
    endpoint.spoiled = 1
    async with atoll.testing.run(users_service(name), argv=users_argv(NATS_URL, name)):
        seen = await call_users(NATS_URL, name, *from_endpoint(token_url))
        with pytest.raises(RemoteError) as refused:
            await call_users(NATS_URL, name)
    assert seen == ["service", "runs", "broker"]
    assert endpoint.hits == 2
    assert refused.value.code == -32012
