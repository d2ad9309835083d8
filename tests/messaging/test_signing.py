"""Signed envelopes: signed by a key registered at the token service, checked by consumers.

The token service is atoll's own, running in the test's process; the signer and the
verifier reach it through its ASGI app.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging

import httpx
import pytest

import atoll
import atoll.messaging.broker
import atoll.testing
from atoll.adapters.jwt.envelopes import KeySigner, KeyVerifier
from atoll.auth import Clock
from atoll.auth.clients import Registrations
from atoll.clients.directory import ClientOptions
from atoll.endpoints.graphql.feed import EventFeed
from atoll.errors import (
    ConfigError,
    CredentialsRefusedError,
    RemoteUnavailableError,
    UnverifiedMessageError,
)
from atoll.kernel.options import Secret
from atoll.messaging.broker import RetryPolicy, Subscription
from atoll.messaging.consumer import BrokerConsumer
from atoll.messaging.envelope import Delivery, message_name, seal
from atoll.messaging.memory_broker import MemoryBroker
from atoll.messaging.signing import (
    SIGNATURE,
    SIGNED_BY,
    SIGNED_HEADERS,
    SigningOptions,
    SigningPublisher,
    signing_input,
)
from atoll.service.broker_link import Signatures, signatures_of
from tests.auth.conftest import FakeClock, add_client, running
from tests.messaging.consumer_doubles import Shipped, bound, on, until
from tests.security.test_auth import Parcel, Post, Posted, PostUnits

BASE = "http://testserver"


@pytest.fixture
def clock():
    return FakeClock()


ENDPOINT = f"{BASE}/oauth/message-keys"
JWKS = f"{BASE}/.well-known/message-keys.json"


@contextlib.asynccontextmanager
async def token_service(clock, *argv):
    """The token service, with a client ``runs`` registered; the harness and the secret."""
    async with running(clock, *argv) as harness:
        secret = await add_client(harness, "runs", scopes=("atoll:sign-messages",))
        yield harness, secret


@contextlib.asynccontextmanager
async def signer_of(harness, secret, client_id="runs", clock=None):
    """A signer registered as ``client_id``, on the token service's clock unless told."""
    signer = KeySigner(
        ENDPOINT,
        client_id,
        Secret(secret),
        http=harness.client,
        clock=clock or harness.container.get(Clock),  # its proofs' time, the service's
    )
    await signer.start()
    try:
        yield signer
    finally:
        await signer.stop()


@contextlib.asynccontextmanager
async def verifier_of(harness, **settings):
    verifier = KeyVerifier(JWKS, http=harness.client, refresh=0.0, **settings)
    await verifier.start()
    try:
        yield verifier
    finally:
        await verifier.stop()


@contextlib.asynccontextmanager
async def signing(clock, signer_clock=None):
    """The token service, a signer registered as ``runs``, and a verifier."""
    async with (
        token_service(clock) as (harness, secret),
        signer_of(harness, secret, clock=signer_clock) as signer,
        verifier_of(harness) as verifier,
    ):
        yield harness, signer, verifier


def event(**headers):
    return seal(
        Shipped(7),
        stream="Order:7",
        headers={"sender": "runs", "subject": "user-1", "subject_kind": "user", **headers},
    )


# What is signed


def test_the_signing_input_covers_id_type_stream_payload_and_the_signed_headers():
    sealed = event()
    base = signing_input(sealed)
    changed = [
        dataclasses.replace(sealed, id="other"),
        dataclasses.replace(sealed, type="other.Type"),
        dataclasses.replace(sealed, stream="Order:8"),
        dataclasses.replace(sealed, payload=b'{"order":8}'),
        *(
            dataclasses.replace(sealed, headers={**sealed.headers, name: "x"})
            for name in SIGNED_HEADERS
        ),
    ]
    assert all(signing_input(one) != base for one in changed)


def test_a_signed_header_absent_differs_from_present_and_unsigned_headers_do_not_count():
    bare = seal(Shipped(7))
    assert signing_input(bare) != signing_input(dataclasses.replace(bare, headers={"subject": ""}))
    assert signing_input(bare) == signing_input(
        dataclasses.replace(bare, headers={"atoll-error": "x", "other": "y"})
    )


# The options


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"sign": True}, "--messages-sign needs the token service"),
        ({"require_signed": True}, "--messages-require-signed needs the token service"),
        ({"token_service": "ftp://x"}, "no http:// or https:// URL"),
        ({"timeout": 0.0}, "timeout must be above 0"),
    ],
)
def test_options_that_cannot_work_say_the_fix(settings, said):
    with pytest.raises(ValueError, match=said):
        SigningOptions(**settings)


def test_the_options_name_the_token_services_endpoint_and_jwks():
    options = SigningOptions(sign=True, token_service="http://127.0.0.1:8003/")  # noqa: S106 - a URL
    assert options.keys_endpoint == "http://127.0.0.1:8003/oauth/message-keys"
    assert options.jwks_url == "http://127.0.0.1:8003/.well-known/message-keys.json"


def test_signing_without_client_credentials_names_the_options():
    options = SigningOptions(sign=True, token_service="http://127.0.0.1:8003")  # noqa: S106 - a URL
    with pytest.raises(ConfigError, match="--clients-client-id and --clients-client-secret"):
        signatures_of(options, ClientOptions())


def test_no_signing_asked_makes_neither_signer_nor_verifier():
    made = signatures_of(SigningOptions(), ClientOptions())
    assert made.signer is None
    assert made.verifier is None


# Signing and checking


async def test_a_signed_envelope_verifies_and_names_its_signer(clock):
    async with signing(clock) as (_, signer, verifier):
        signed = signer.sign(event())
        checked = await verifier.verify(signed)
    assert signed.headers[SIGNATURE].count(".") == 2
    assert ".." in signed.headers[SIGNATURE]  # the payload is detached
    assert checked.headers[SIGNED_BY] == "runs"
    assert checked.payload == signed.payload


async def test_the_registered_key_is_published_for_its_client(clock):
    async with token_service(clock) as (harness, secret), signer_of(harness, secret) as signer:
        published = (await harness.client.get("/.well-known/message-keys.json")).json()
        kid = signer.kid
    assert [(key["kid"], key["client_id"]) for key in published["keys"]] == [(kid, "runs")]
    assert "d" not in published["keys"][0]


@pytest.mark.parametrize(
    "change",
    [
        lambda e: dataclasses.replace(e, payload=b'{"order":8}'),
        lambda e: dataclasses.replace(e, id="another"),
        lambda e: dataclasses.replace(e, headers={**e.headers, "subject": "admin"}),
        lambda e: dataclasses.replace(e, headers={**e.headers, "causation_id": "x"}),
        lambda e: dataclasses.replace(
            e, headers={k: v for k, v in e.headers.items() if k != "subject"}
        ),
    ],
    ids=["payload", "id", "subject", "added header", "removed header"],
)
async def test_an_envelope_changed_after_signing_is_refused(clock, change):
    async with signing(clock) as (_, signer, verifier):
        signed = signer.sign(event())
        with pytest.raises(UnverifiedMessageError, match="changed after 'runs' signed it"):
            await verifier.verify(change(signed))


async def test_an_unsigned_envelope_is_refused(clock):
    async with token_service(clock) as (harness, _), verifier_of(harness) as verifier:
        with pytest.raises(UnverifiedMessageError, match=r"not signed.*--messages-sign"):
            await verifier.verify(event())


@pytest.mark.parametrize(
    ("signature", "said"),
    [
        ("abc", "no JWS with a detached payload"),
        ("a.b.c", "no JWS with a detached payload"),
        ("e30..c2ln", "header is not"),  # {}
        ("eyJhbGciOiJub25lIn0..c2ln", "header is not"),  # {"alg":"none"}
    ],
)
async def test_a_malformed_signature_is_refused(clock, signature, said):
    async with token_service(clock) as (harness, _), verifier_of(harness) as verifier:
        with pytest.raises(UnverifiedMessageError, match=said):
            await verifier.verify(event(**{SIGNATURE: signature}))


async def test_a_key_the_token_service_does_not_publish_is_refused(clock):
    async with token_service(clock) as (harness, secret):
        async with signer_of(harness, secret) as signer:
            signed = signer.sign(event())
        registrations = await harness.container.aget(Registrations)
        assert await registrations.remove("runs")
        async with verifier_of(harness) as verifier:
            with pytest.raises(UnverifiedMessageError, match="does not publish"):
                await verifier.verify(signed)


async def test_a_key_met_before_the_verifier_knew_it_is_fetched(clock):
    async with token_service(clock) as (harness, secret), verifier_of(harness) as verifier:
        assert verifier.jwks.keys == ()
        async with signer_of(harness, secret) as signer:
            checked = await verifier.verify(signer.sign(event()))
    assert checked.headers[SIGNED_BY] == "runs"


async def test_a_key_registered_after_the_last_fetch_is_waited_for_not_refused(clock):
    async with token_service(clock) as (harness, secret):
        verifier = KeyVerifier(JWKS, http=harness.client, refresh=0.2)
        await verifier.start()  # fetched now, before the signer registers its key
        try:
            async with signer_of(harness, secret) as signer:
                checked = await verifier.verify(signer.sign(event()))
        finally:
            await verifier.stop()
    assert checked.headers[SIGNED_BY] == "runs"


async def test_a_key_not_known_while_the_keys_cannot_be_read_waits(clock):
    async with token_service(clock) as (harness, secret), signer_of(harness, secret) as signer:
        signed = signer.sign(event())
    away = httpx.AsyncClient(transport=httpx.MockTransport(_refused))
    verifier = KeyVerifier(JWKS, http=away, refresh=0.0)
    await verifier.start()
    try:
        with pytest.raises(RemoteUnavailableError, match="cannot be fetched"):
            await verifier.verify(signed)
    finally:
        await verifier.stop()
        await away.aclose()


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


async def test_a_wrong_client_secret_stops_the_signer_at_start(clock):
    async with token_service(clock) as (harness, _):
        signer = KeySigner(ENDPOINT, "runs", Secret("wrong"), http=harness.client, clock=clock)
        with pytest.raises(CredentialsRefusedError, match="--clients-client-secret"):
            await signer.start()


async def test_a_token_service_out_of_reach_defers_signing_until_it_answers(clock, caplog):
    caplog.set_level(logging.WARNING, "atoll.auth")
    async with token_service(clock) as (harness, secret):
        gate = Gate(harness.client)
        signer = KeySigner(ENDPOINT, "runs", Secret(secret), http=gate.client, clock=clock)
        await signer.start()
        try:
            assert "cannot register this process's message key" in caplog.text
            with pytest.raises(RemoteUnavailableError, match="not registered"):
                signer.sign(event())
            published = SigningPublisher(MemoryBroker(), signer).publish(event())
            with pytest.raises(RemoteUnavailableError):
                await published  # the relay keeps it in the outbox, and tries again
            gate.open = True
            await until(lambda: signer.kid is not None)
            async with verifier_of(harness) as verifier:
                checked = await verifier.verify(signer.sign(event()))
        finally:
            await signer.stop()
            await gate.client.aclose()
    assert checked.headers[SIGNED_BY] == "runs"


class Gate:
    """An HTTP client to the token service that answers ``closed`` (503) until ``open``."""

    def __init__(self, client: httpx.AsyncClient, closed: int = 503) -> None:
        self.open = False
        self.closed = closed
        self.requests = 0
        self.inner = client
        self.client = httpx.AsyncClient(transport=httpx.MockTransport(self._answer))

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if not self.open:
            return httpx.Response(self.closed)
        answer = await self.inner.send(request)
        await answer.aread()
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


async def test_a_key_half_way_through_its_life_is_replaced_and_the_old_one_still_verifies(clock):
    async with signing(clock, signer_clock=clock) as (_, signer, verifier):
        before = signer.sign(event())
        first = signer.kid
        clock.advance(4 * 24 * 3600)  # past half of the 7 days a key is published
        signer.sign(event())  # signed with the old key, and a new one is registered
        await until(lambda: signer.kid != first)
        after = signer.sign(event())
        assert (await verifier.verify(before)).headers[SIGNED_BY] == "runs"
        assert (await verifier.verify(after)).headers[SIGNED_BY] == "runs"


async def test_a_quiet_process_replaces_its_key_half_way_through_its_life(clock):
    async with token_service(clock) as (harness, secret):
        signer = KeySigner(
            ENDPOINT, "runs", Secret(secret), http=harness.client, clock=clock, check_every=0.01
        )
        await signer.start()
        try:
            first = signer.kid
            clock.advance(4 * 24 * 3600)  # nothing published meanwhile
            await until(lambda: signer.kid != first)
        finally:
            await signer.stop()


async def test_a_key_that_expired_without_a_new_one_signs_nothing(clock):
    async with token_service(clock) as (harness, secret):
        gate = Gate(harness.client)
        gate.open = True
        signer = KeySigner(ENDPOINT, "runs", Secret(secret), http=gate.client, clock=clock)
        await signer.start()
        try:
            gate.open = False  # the token service away from now on
            clock.advance(8 * 24 * 3600)  # past the 7 days the key is published
            with pytest.raises(RemoteUnavailableError, match="expired, and no new one is"):
                signer.sign(event())  # the outbox keeps the message
        finally:
            await signer.stop()
            await gate.client.aclose()


async def test_a_client_refused_after_an_outage_is_told_and_tried_again_by_one_task(clock, caplog):
    caplog.set_level(logging.WARNING, "atoll.auth")
    async with token_service(clock) as (harness, _):
        gate = Gate(harness.client)
        signer = KeySigner(
            ENDPOINT, "runs", Secret("not-the-secret"), http=gate.client, clock=clock
        )
        await signer.start()  # the token service away: started, registering in the background
        try:
            gate.open = True  # back, and refusing the secret
            await until(lambda: "--clients-client-secret" in caplog.text)
            for _ in range(20):
                with pytest.raises(RemoteUnavailableError):
                    signer.sign(event())
            assert signer._keeping is not None
            assert not signer._keeping.done()
            assert not signer._due.is_set()  # signing asks for no registration
        finally:
            await signer.stop()
            await gate.client.aclose()
    assert any(
        record.levelno == logging.ERROR and "does not know the client" in record.getMessage()
        for record in caplog.records
    )


async def test_keys_answered_with_a_client_error_make_a_message_wait_not_refused(clock):
    async with token_service(clock) as (harness, secret), signer_of(harness, secret) as signer:
        signed = signer.sign(event())
        gate = Gate(harness.client, closed=429)
        gate.open = True
        verifier = KeyVerifier(JWKS, http=gate.client, refresh=0.0)
        await verifier.start()  # the keys read once, before the signer's key was known
        gate.open = False  # then: Too Many Requests
        verifier.jwks.keys = ()
        try:
            with pytest.raises(RemoteUnavailableError, match="HTTP 429"):
                await verifier.verify(signed)
        finally:
            await verifier.stop()
            await gate.client.aclose()


# The consumer


FAST = RetryPolicy(deliveries=3, backoff=0.01, longest=0.05)


async def consuming(bus, verifier=None):
    broker = MemoryBroker()
    await broker.start()
    subscription = Subscription("shop", (message_name(Shipped),))
    consumer = BrokerConsumer(broker, bus, subscription, FAST, poll=0.05, verifier=verifier)
    await consumer.start()
    return broker, consumer


async def test_a_consumer_requiring_signatures_hands_signed_messages_on(clock):
    seen = []

    async def notify(event: Shipped, delivery: Delivery) -> None:
        seen.append(delivery.headers.get(SIGNED_BY))

    async with signing(clock) as (_, signer, verifier):
        broker, consumer = await consuming(bound(on(notify)), verifier)
        await SigningPublisher(broker, signer).publish(event())
        await until(lambda: consumer.handled == 1)
        await consumer.stop()
    assert seen == ["runs"]


async def test_a_consumer_requiring_signatures_dead_letters_an_unsigned_message_at_once(clock):
    async def notify(event: Shipped) -> None:
        raise AssertionError("never handled")

    async with token_service(clock) as (harness, _), verifier_of(harness) as verifier:
        broker, consumer = await consuming(bound(on(notify)), verifier)
        await broker.publish(event())
        await until(lambda: consumer.dead == 1)
        await consumer.stop()
    [dead] = await broker.dead_letters("shop")
    assert dead.deliveries == 1
    assert dead.error.startswith("its signature was refused: it is not signed")


async def test_a_consumer_waits_out_keys_it_cannot_read_then_handles_the_message(clock):
    seen = []

    async def notify(event: Shipped) -> None:
        seen.append(event)

    async with token_service(clock) as (harness, secret), signer_of(harness, secret) as signer:
        gate = Gate(harness.client)
        verifier = KeyVerifier(JWKS, http=gate.client, refresh=0.0)
        await verifier.start()
        broker, consumer = await consuming(bound(on(notify)), verifier)
        await SigningPublisher(broker, signer).publish(event())
        await until(lambda: consumer.outage.active)
        assert consumer.dead == 0
        gate.open = True
        await until(lambda: consumer.handled == 1)
        await consumer.stop()
        await verifier.stop()
        await gate.client.aclose()
    assert seen == [Shipped(7)]


async def test_a_signed_by_header_sent_with_a_message_never_reaches_a_handler():
    seen = []

    async def notify(event: Shipped, delivery: Delivery) -> None:
        seen.append(dict(delivery.headers))

    broker, consumer = await consuming(bound(on(notify)))
    await broker.publish(event(**{SIGNED_BY: "admin"}))
    await until(lambda: consumer.handled == 1)
    await consumer.stop()
    assert SIGNED_BY not in seen[0]
    assert seen[0]["subject"] == "user-1"


async def test_a_process_signing_without_checking_takes_no_subject_from_messages():
    seen = []

    async def notify(event: Shipped, delivery: Delivery) -> None:
        seen.append(dict(delivery.headers))

    broker = MemoryBroker()
    await broker.start()
    subscription = Subscription("shop", (message_name(Shipped),))
    consumer = BrokerConsumer(
        broker, bound(on(notify)), subscription, FAST, poll=0.05, forget_subjects=True
    )
    await consumer.start()
    await broker.publish(event(subject="admin", subject_kind="user"))
    await until(lambda: consumer.handled == 1)
    await consumer.stop()
    assert "subject" not in seen[0]
    assert "subject_kind" not in seen[0]
    assert seen[0]["sender"] == "runs"


# The identity of a signed message, through a service


def post_service(seen: list[atoll.Identity]) -> atoll.Service:
    schema = atoll.Schema()
    schema.map(Parcel)
    post = atoll.Service("post")
    post.database(schema, PostUnits)

    @post.command(Post)
    async def send(command: Post, uow: PostUnits) -> None:
        async with uow:
            parcel = await uow.parcels.add(Parcel(None))
            parcel.events.append(Posted(parcel.id or 0))
            await uow.commit()

    @post.on(Posted)
    async def posted(event: Posted, identity: atoll.Identity) -> None:
        seen.append(identity)

    return post


async def test_a_service_signs_what_its_outbox_publishes_and_its_handler_sees_the_signer(clock):
    seen: list[atoll.Identity] = []
    async with token_service(clock) as (auth, secret):
        signer = KeySigner(ENDPOINT, "runs", Secret(secret), http=auth.client, clock=clock)
        verifier = KeyVerifier(JWKS, http=auth.client, refresh=0.0)
        async with atoll.testing.run(
            post_service(seen),
            argv=["--db-url", "memory://"],
            overrides={Signatures: Signatures(signer, verifier)},
        ) as harness:
            with harness.acting_as(atoll.Identity(kind="user", subject="ada", scheme="jwt")):
                await harness.send(Post("bo"))
            await until(lambda: len(seen) == 1)
            assert signer.kid is not None  # started with the service, and stopped with it
        assert signer.kid is None
    [identity] = seen
    assert (identity.subject, identity.issuer, identity.scheme) == ("ada", "runs", "signed-message")


async def test_a_service_requiring_signatures_dead_letters_what_an_unsigned_outbox_sent(clock):
    seen: list[atoll.Identity] = []
    async with token_service(clock) as (auth, _):
        verifier = KeyVerifier(JWKS, http=auth.client, refresh=0.0)
        async with atoll.testing.run(
            post_service(seen),
            argv=["--db-url", "memory://"],
            overrides={Signatures: Signatures(None, verifier)},
        ) as harness:
            await harness.send(Post("bo"))
            broker = await harness.container.aget(atoll.messaging.broker.Broker)
            dead = await broker.dead_letters("post")
    assert seen == []
    assert [letter.error for letter in dead] == [
        (
            "its signature was refused: it is not signed, and this service takes signed "
            "messages only (--messages-require-signed): have its sender publish with "
            "--messages-sign"
        )
    ]


async def test_signing_and_checking_log_no_client_secret_nor_private_key(clock, caplog):
    caplog.set_level(logging.DEBUG)
    async with token_service(clock) as (harness, secret):
        refused = KeySigner(
            ENDPOINT, "runs", Secret(secret + "x"), http=harness.client, clock=clock
        )
        with pytest.raises(CredentialsRefusedError) as wrong:
            await refused.start()
        async with signer_of(harness, secret) as signer, verifier_of(harness) as verifier:
            signed = signer.sign(event())
            await verifier.verify(signed)
            with pytest.raises(UnverifiedMessageError):
                await verifier.verify(dataclasses.replace(signed, payload=b"{}"))
            key, _ = signer._signing
            private = key.private_bytes_raw()
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert "registered message key" in logged  # the registration was logged
    for hidden in (secret, secret + "x", base64.urlsafe_b64encode(private).decode().rstrip("=")):
        assert hidden not in logged
        assert hidden not in str(wrong.value)


async def test_the_graphql_event_feed_of_a_process_requiring_signatures_offers_signed_events_only(
    clock, caplog
):
    broker = MemoryBroker()
    await broker.start()
    async with signing(clock) as (_, signer, verifier):
        feed = EventFeed(broker, [Shipped], verifier)
        await feed.start()
        try:
            async with feed.events(Shipped) as queue:
                await broker.publish(event())  # unsigned: dropped
                forged = dataclasses.replace(signer.sign(event()), payload=b'{"order":8}')
                await broker.publish(forged)  # altered after signing: dropped
                await broker.publish(signer.sign(event()))
                offered = await asyncio.wait_for(queue.get(), 10)
                assert queue.empty()
        finally:
            await feed.stop()
            await broker.stop()
    assert offered == Shipped(7)
    assert feed.offered == 1
    assert caplog.text.count("the GraphQL event feed drops event") == 2


async def test_the_graphql_event_feed_without_a_verifier_offers_every_event():
    broker = MemoryBroker()
    await broker.start()
    feed = EventFeed(broker, [Shipped])
    await feed.start()
    try:
        async with feed.events(Shipped) as queue:
            await broker.publish(event())
            offered = await asyncio.wait_for(queue.get(), 10)
    finally:
        await feed.stop()
        await broker.stop()
    assert offered == Shipped(7)
