"""Subscriptions over a WebSocket (``graphql-transport-ws``), fed by the events published.

The service runs under a real uvicorn on a port of its own, and a ``websockets`` client speaks
the protocol to it: subscribing, receiving the events its handler shows (in the subscriber's
identity), completing, and each way of breaking the protocol closing with its code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import atoll
from atoll.endpoints.graphql.feed import EventFeed
from atoll.errors import ConfigError
from atoll.messaging.broker import open_broker
from atoll.messaging.envelope import seal
from atoll.testing import run
from tests.rpc_doubles import served_here
from tests.security.test_policies import headers_of, jwt_argv

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

LIMIT = 10.0
"""The longest any wait here may take: a bug fails the test rather than hang it."""
PROTOCOL = "graphql-transport-ws"


@atoll.message("club.Joined")
@dataclass(frozen=True)
class Joined:
    name: str
    by: str


@dataclass(frozen=True)
class Join:
    name: str


@dataclass(frozen=True)
class Welcome:
    """What a subscriber is told of a member joining."""

    name: str
    greeting: str


def club(sdl: str | None = None, bind: dict[str, str] | None = None) -> atoll.Service:
    """The club, its schema generated, or stated by ``sdl``."""
    service = atoll.Service("club")

    @service.command(Join, public=True)
    async def join(command: Join, events: atoll.Events, identity: atoll.Identity) -> str:
        events.add(Joined(command.name, identity.subject))
        return command.name

    @service.rpc
    @service.get("/size")
    async def size() -> int:
        return 0

    @service.subscription(Joined, policy=atoll.allow("runs:read"))
    async def joined(
        event: Joined, identity: atoll.Identity, greeting: str = "welcome"
    ) -> Welcome | None:
        """Each member joining, but those the subscriber brought in."""
        if event.by == identity.subject:
            return None
        return Welcome(event.name, f"{greeting}, {event.name}")

    service.graphql(sdl, bind=bind)
    return service


@contextlib.asynccontextmanager
async def served(
    *argv: str, service: atoll.Service | None = None
) -> AsyncIterator[tuple[str, atoll.testing.ServiceHarness]]:
    async with (
        run(service or club(), argv=[*jwt_argv(), *argv]) as harness,
        served_here(harness.http.entry) as base,
    ):
        yield base.replace("http://", "ws://") + "/graphql", harness


async def exchange(socket_, message: dict[str, Any]) -> dict[str, Any]:
    await socket_.send(json.dumps(message))
    return await receive(socket_)


async def receive(socket_) -> dict[str, Any]:
    async with asyncio.timeout(LIMIT):
        return json.loads(await socket_.recv())


def token_of(caller: str) -> str:
    return headers_of(caller)["authorization"]


SUBSCRIBE = "subscription($greeting: String) { joined(greeting: $greeting) { name greeting } }"


async def until_listening(harness, count: int = 1) -> None:
    feed = harness.container.get(EventFeed)
    async with asyncio.timeout(LIMIT):
        while feed.listening(Joined) < count:  # noqa: ASYNC110 - polled
            await asyncio.sleep(0.01)


async def test_a_subscriber_gets_each_event_as_its_handler_shows_it():
    async with served() as (url, harness), connect(url, subprotocols=[PROTOCOL]) as ws:
        ack = await exchange(
            ws, {"type": "connection_init", "payload": {"authorization": token_of("reader")}}
        )
        assert ack == {"type": "connection_ack"}
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIBE, "variables": {"greeting": "hello"}},
                }
            )
        )
        await until_listening(harness)
        await harness.client.post("/join", json={"name": "ada"}, headers=headers_of("writer"))
        await harness.client.post("/join", json={"name": "own"}, headers=headers_of("reader"))
        await harness.client.post("/join", json={"name": "cy"}, headers=headers_of("writer"))
        first, second = await receive(ws), await receive(ws)
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        pong = await exchange(ws, {"type": "ping"})
    assert first == {
        "id": "1",
        "type": "next",
        "payload": {"data": {"joined": {"name": "ada", "greeting": "hello, ada"}}},
    }
    # The reader's own "own" was skipped by the handler, as it returned None for it.
    assert second["payload"]["data"]["joined"]["name"] == "cy"
    assert pong == {"type": "pong"}


APART = [
    pytest.param("memory://apart", id="memory"),
    pytest.param("nats://127.0.0.1:4222", id="nats", marks=pytest.mark.services("nats")),
    pytest.param(
        "amqp://guest:guest@127.0.0.1:5672/", id="rabbitmq", marks=pytest.mark.services("rabbitmq")
    ),
    pytest.param("redis://127.0.0.1:6379/5", id="redis", marks=pytest.mark.services("redis")),
]


@pytest.mark.parametrize("url", APART)
async def test_a_subscriber_sees_the_events_published_apart_through_the_broker(url):
    if url.startswith("memory://"):
        url = f"{url}-{uuid.uuid4().hex}"  # a broker this process shares by its name
    name = uuid.uuid4().hex  # this run's event, whatever else the topic carries
    async with (
        served("--broker-url", url) as (ws_url, harness),
        connect(ws_url, subprotocols=[PROTOCOL]) as ws,
    ):
        await exchange(
            ws, {"type": "connection_init", "payload": {"authorization": token_of("reader")}}
        )
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
        await until_listening(harness)
        elsewhere = open_broker(url)  # what another service, apart, publishes through
        await elsewhere.start()
        try:
            await elsewhere.publish(seal(Joined(name, "another service")))
        finally:
            await elsewhere.stop()
        async with asyncio.timeout(LIMIT):
            while True:
                seen = await receive(ws)
                if seen["payload"]["data"]["joined"]["name"] == name:
                    break
    assert seen["payload"]["data"]["joined"]["greeting"] == f"welcome, {name}"


async def test_a_subscriber_its_policy_refuses_gets_the_error_and_the_stream_ends():
    async with served() as (url, harness), connect(url, subprotocols=[PROTOCOL]) as ws:
        await exchange(
            ws, {"type": "connection_init", "payload": {"authorization": token_of("writer")}}
        )
        await ws.send(json.dumps({"id": "7", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
        await until_listening(harness)
        await harness.client.post("/join", json={"name": "ada"}, headers=headers_of("admin"))
        refused, completed = await receive(ws), await receive(ws)
    assert refused["type"] == "next"
    assert refused["payload"]["data"] is None
    assert refused["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert completed == {"id": "7", "type": "complete"}


async def test_a_query_over_the_socket_gets_one_result_and_a_document_refused_an_error():
    async with served() as (url, _), connect(url, subprotocols=[PROTOCOL]) as ws:
        await exchange(ws, {"type": "connection_init"})
        answer = await exchange(
            ws, {"id": "q", "type": "subscribe", "payload": {"query": "{ size }"}}
        )
        completed = await receive(ws)
        refused = await exchange(
            ws, {"id": "r", "type": "subscribe", "payload": {"query": "{ nothing }"}}
        )
    assert answer == {"id": "q", "type": "next", "payload": {"data": {"size": 0}}}
    assert completed == {"id": "q", "type": "complete"}
    assert refused["type"] == "error"
    assert refused["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


@pytest.mark.parametrize(
    ("messages", "code", "reason"),
    [
        (
            [{"id": "1", "type": "subscribe", "payload": {"query": "{ size }"}}],
            4401,
            "Unauthorized",
        ),
        ([{"type": "connection_init"}, {"type": "connection_init"}], 4429, "Too many"),
        ([{"type": "connection_init"}, {"type": "launch"}], 4400, "no message of type"),
        (
            [
                {"type": "connection_init"},
                {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}},
                {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}},
            ],
            4409,
            "Subscriber for 1 already exists",
        ),
    ],
)
async def test_a_client_breaking_the_protocol_is_closed_with_its_code(messages, code, reason):
    async with served() as (url, _), connect(url, subprotocols=[PROTOCOL]) as ws:
        for message in messages:
            await ws.send(json.dumps(message))
        with pytest.raises(ConnectionClosed) as closed:
            await until_closed(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code
    assert reason in closed.value.rcvd.reason


async def test_a_client_without_the_subprotocol_is_refused():
    async with served() as (url, _), connect(url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406


async def until_closed(ws) -> None:
    """Read what comes until the server closes the socket (ConnectionClosed), or fail."""
    async with asyncio.timeout(LIMIT):
        while True:
            await ws.recv()


async def test_a_client_that_never_initialises_is_closed():
    async with (
        served("--graphql-connection-timeout", "0.2") as (url, _),
        connect(url, subprotocols=[PROTOCOL]) as ws,
    ):
        with pytest.raises(ConnectionClosed) as closed:
            await until_closed(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4408


async def test_the_subscription_is_in_the_schema():
    async with run(club(), argv=jwt_argv()) as harness:
        answer = await harness.client.post(
            "/graphql", json={"query": "{ __schema { subscriptionType { fields { name } } } }"}
        )
    assert answer.json()["data"]["__schema"]["subscriptionType"] == {"fields": [{"name": "joined"}]}


CLUB_SDL = """
type Welcome { name: String! greeting: String! }

type Query { size: Int }

type Subscription {
  "Each member joining."
  memberJoined(greeting: String): Welcome!
}
"""


async def test_an_sdl_s_subscription_is_bound_to_its_handler_and_skips_what_it_skips():
    """Bound by ``bind``; ``Welcome!`` though the handler may answer None, which skips."""
    service = club(CLUB_SDL, bind={"Subscription.memberJoined": "joined"})
    query = 'subscription { memberJoined(greeting: "hi") { name greeting } }'
    async with (
        served(service=service) as (url, harness),
        connect(url, subprotocols=[PROTOCOL]) as ws,
    ):
        await exchange(
            ws, {"type": "connection_init", "payload": {"authorization": token_of("reader")}}
        )
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        await until_listening(harness)
        await harness.client.post("/join", json={"name": "own"}, headers=headers_of("reader"))
        await harness.client.post("/join", json={"name": "ada"}, headers=headers_of("writer"))
        seen = await receive(ws)
    assert seen == {
        "id": "1",
        "type": "next",
        "payload": {"data": {"memberJoined": {"name": "ada", "greeting": "hi, ada"}}},
    }


@pytest.mark.parametrize(
    ("sdl", "bind", "message"),
    [
        (
            CLUB_SDL,
            None,
            (
                r"Subscription.memberJoined of the SDL has no handler: club has no "
                r"@service.subscription 'member_joined'; name one so, or bind it"
            ),
        ),
        (
            CLUB_SDL.replace("memberJoined(greeting: String)", "joined(greeting: Int)"),
            None,
            r"Subscription.joined\(greeting:\) of the SDL is Int, and .* has it as str",
        ),
        (
            "type Query { size: Int }",
            None,
            (
                r"subscription handler 'Subscription.joined' .* offers events through GraphQL, "
                r"and the SDL of club has no Subscription field for it; add one, such as "
                r"joined: Joined"
            ),
        ),
    ],
    ids=["no handler", "argument", "no field"],
)
async def test_an_sdl_whose_subscriptions_do_not_fit_stops_the_start(sdl, bind, message):
    with pytest.raises(ConfigError, match=message):
        async with run(club(sdl, bind=bind), argv=jwt_argv()):
            pass
