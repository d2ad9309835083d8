"""The broker contract: what every adapter of the broker port must do, as pytest tests.

Subclass :class:`BrokerContract` in a test module and give it a ``broker_url`` fixture (a URL
that two broker instances can share: they are two processes' connections) and an
``unreachable_url`` one (where no broker listens, with a password in it)::

    class TestMemory(BrokerContract):
        @pytest.fixture
        def broker_url(self) -> str:
            return f"memory://contract-{uuid.uuid4().hex}"

Every test uses service and topic names of its own, so that a real broker's leftovers from an
earlier run never reach it. The in-memory broker and the NATS, RabbitMQ and Redis adapters run
this same suite, against the real brokers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from atoll.errors import (
    BrokerError,
    BrokerUnavailableError,
    ConfigError,
    DeadlineExceededError,
    RemoteUnavailableError,
)
from atoll.messaging.broker import MAX_REQUEST_HEADERS, Subscription, open_broker
from atoll.messaging.envelope import Envelope

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Mapping

    from atoll.messaging.broker import Broker, Received, Receiver

__all__ = ["BrokerContract"]


def _envelope(topic: str, n: int = 0, **headers: str) -> Envelope:
    return Envelope(
        id=uuid.uuid4().hex,
        type=topic,
        payload=b'{"n":%d}' % n,
        stream=f"Counter:{n % 3}",
        headers=dict(headers),
    )


class BrokerContract:
    """The tests every broker adapter passes; subclasses give the URLs as fixtures."""

    ack_wait: ClassVar[float] = 1.0
    """The ack wait of the contract's subscriptions; an adapter may need a longer one."""

    patience: ClassVar[float] = 10.0
    """Seconds a test waits at the most for what it expects to arrive."""

    # -- fixtures and helpers ----------------------------------------------------------------

    @pytest.fixture
    async def broker(self, broker_url: str) -> AsyncIterator[Broker]:
        """A started broker."""
        async with _started(broker_url) as broker:
            yield broker

    @pytest.fixture
    async def other(self, broker_url: str) -> AsyncIterator[Broker]:
        """A second connection to the same broker: another process's."""
        async with _started(broker_url) as broker:
            yield broker

    @pytest.fixture
    def names(self) -> Names:
        """Service and topic names of this test's own."""
        return Names()

    def subscription(self, service: str, *topics: str, **settings: Any) -> Subscription:
        """A subscription with the contract's ack wait, unless ``settings`` says otherwise."""
        settings.setdefault("ack_wait", self.ack_wait)
        return Subscription(service, tuple(topics), **settings)

    async def take(
        self, receiver: Receiver, count: int, *, settle: str = "ack", wait: float = 1.0
    ) -> list[Received]:
        """``count`` messages from ``receiver``, acknowledged unless ``settle`` is ``"none"``.

        Fails if they are not there within :attr:`patience`. Each receive waits ``wait``.
        """
        taken: list[Received] = []
        deadline = time.monotonic() + self.patience
        while len(taken) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"{len(taken)} of {count} messages arrived"
            batch = await receiver.receive(count - len(taken), min(left, wait))
            for received in batch:
                if settle == "ack":
                    await received.ack()
            taken.extend(batch)
        return taken

    async def nothing(self, receiver: Receiver, wait: float = 0.3) -> None:
        """Fails if ``receiver`` gets a message within ``wait`` seconds."""
        extra = await receiver.receive(10, wait)
        assert extra == [], [r.envelope.id for r in extra]

    # -- events ------------------------------------------------------------------------------

    async def test_an_event_reaches_every_subscribed_service_intact(
        self, broker: Broker, names: Names
    ) -> None:
        topic = names.topic()
        stats = await broker.subscribe(self.subscription(names.service("stats"), topic))
        mail = await broker.subscribe(self.subscription(names.service("mail"), topic))
        sent = [_envelope(topic, n, correlation_id=f"c{n}", sender="runs") for n in range(3)]
        for envelope in sent:
            await broker.publish(envelope)
        for receiver in (stats, mail):
            got = [r.envelope for r in await self.take(receiver, 3)]
            assert sorted(got, key=lambda e: e.id) == sorted(sent, key=lambda e: e.id)
            await self.nothing(receiver)

    async def test_an_envelope_keeps_its_headers_payload_and_stream(
        self, broker: Broker, names: Names
    ) -> None:
        topic = names.topic()
        receiver = await broker.subscribe(self.subscription(names.service(), topic))
        payload = bytes(range(256)) * 256  # 64 KiB, every byte value
        sent = Envelope(
            uuid.uuid4().hex,
            topic,
            payload,
            "Run:42",
            {
                "correlation_id": "corr-1",
                "causation_id": "cause-1",
                "sender": "runs",
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            },
        )
        await broker.publish(sent)
        [received] = await self.take(receiver, 1)
        assert received.envelope == sent
        assert received.attempt == 1

    async def test_the_instances_of_a_service_compete(
        self, broker: Broker, other: Broker, names: Names
    ) -> None:
        topic, service = names.topic(), names.service()
        first = await broker.subscribe(self.subscription(service, topic))
        second = await other.subscribe(self.subscription(service, topic))
        envelopes = [_envelope(topic, n) for n in range(20)]
        for envelope in envelopes:
            await broker.publish(envelope)
        sent = {envelope.id for envelope in envelopes}
        got: list[str] = []
        deadline = time.monotonic() + self.patience
        while len(got) < len(sent) and time.monotonic() < deadline:
            for receiver in (first, second):
                for received in await receiver.receive(5, 0.1):
                    got.append(received.envelope.id)
                    await received.ack()
        assert sorted(got) == sorted(sent)  # each once, none twice
        await self.nothing(first)
        await self.nothing(second)

    async def test_an_event_of_a_topic_not_subscribed_is_not_received(
        self, broker: Broker, names: Names
    ) -> None:
        taken, other_topic = names.topic(), names.topic()
        receiver = await broker.subscribe(self.subscription(names.service(), taken))
        await broker.publish(_envelope(other_topic))
        await broker.publish(wanted := _envelope(taken))
        [received] = await self.take(receiver, 1)
        assert received.envelope.id == wanted.id
        await self.nothing(receiver)

    async def test_publishing_to_a_topic_nobody_takes_is_fine(
        self, broker: Broker, names: Names
    ) -> None:
        await broker.publish(_envelope(names.topic()))

    async def test_a_service_subscribed_to_two_topics_gets_both(
        self, broker: Broker, names: Names
    ) -> None:
        one, two = names.topic(), names.topic()
        receiver = await broker.subscribe(self.subscription(names.service(), one, two))
        await broker.publish(a := _envelope(one))
        await broker.publish(b := _envelope(two))
        got = {r.envelope.id for r in await self.take(receiver, 2)}
        assert got == {a.id, b.id}

    # -- broadcast ---------------------------------------------------------------------------

    async def test_every_broadcast_receiver_gets_each_event_published_after_it_was_made(
        self, broker: Broker, other: Broker, names: Names
    ) -> None:
        topic = names.topic()
        here = await broker.broadcast([topic])
        there = await other.broadcast([topic])
        sent = [_envelope(topic, n, correlation_id=f"c{n}") for n in range(3)]
        for envelope in sent:
            await broker.publish(envelope)
        for receiver in (here, there):
            got = await self.take(receiver, 3)
            assert sorted((r.envelope for r in got), key=lambda e: e.id) == sorted(
                sent, key=lambda e: e.id
            )
            assert {r.attempt for r in got} == {1}
            await self.nothing(receiver)

    async def test_a_broadcast_receiver_gets_nothing_published_before_it_was_made(
        self, broker: Broker, names: Names
    ) -> None:
        topic = names.topic()
        early = await broker.broadcast([topic])
        await broker.publish(before := _envelope(topic, 0))
        # Delivered to the receivers made before it: the broker has it, and is done with it.
        assert [r.envelope.id for r in await self.take(early, 1)] == [before.id]
        late = await broker.broadcast([topic])
        await broker.publish(after := _envelope(topic, 1))
        [received] = await self.take(late, 1)
        assert received.envelope.id == after.id
        await self.nothing(late)
        assert [r.envelope.id for r in await self.take(early, 1)] == [after.id]

    async def test_broadcast_receivers_take_nothing_from_a_services_queue(
        self, broker: Broker, other: Broker, names: Names
    ) -> None:
        topic, service = names.topic(), names.service()
        first = await broker.subscribe(self.subscription(service, topic))
        second = await other.subscribe(self.subscription(service, topic))
        listening = [await broker.broadcast([topic]), await other.broadcast([topic])]
        await broker.publish(sent := _envelope(topic))
        for receiver in listening:
            [copy] = await self.take(receiver, 1)
            assert copy.envelope == sent
        got: list[str] = []
        deadline = time.monotonic() + self.patience
        while not got and time.monotonic() < deadline:
            for receiver in (first, second):
                for received in await receiver.receive(10, 0.1):
                    got.append(received.envelope.id)
                    await received.ack()
        assert got == [sent.id]  # once, to one instance of the service
        await self.nothing(first)
        await self.nothing(second)

    async def test_settling_a_broadcast_copy_only_lets_it_go(
        self, broker: Broker, names: Names
    ) -> None:
        topic = names.topic()
        receiver = await broker.broadcast([topic])
        for n in range(4):
            await broker.publish(_envelope(topic, n))
        first, second, third, fourth = await self.take(receiver, 4, settle="none")
        await first.retry(0)
        await second.dead_letter("ValueError: stale")
        await third.in_progress()
        await third.ack()
        await fourth.retry(0.1)
        await self.nothing(receiver, 0.5)  # none comes back

    async def test_a_closed_broadcast_receiver_gets_nothing_more(
        self, broker: Broker, other: Broker, names: Names
    ) -> None:
        topic = names.topic()
        leaving = await broker.broadcast([topic])
        staying = await other.broadcast([topic])
        await broker.publish(_envelope(topic, 0))
        await self.take(staying, 1)
        await leaving.close()
        await broker.publish(after := _envelope(topic, 1))
        [received] = await self.take(staying, 1)
        assert received.envelope.id == after.id
        try:  # a closed receiver takes nothing more: it says so, or it finds nothing
            late = await leaving.receive(10, 0.3)
        except BrokerError:
            late = []
        assert late == []
        await leaving.close()  # closing twice is fine

    async def test_broadcast_receivers_get_only_the_events_of_their_topics(
        self, broker: Broker, names: Names
    ) -> None:
        one, two, three = names.topic(), names.topic(), names.topic()
        of_one = await broker.broadcast([one])
        of_two_and_three = await broker.broadcast([two, three])
        await broker.publish(a := _envelope(one, 0))
        await broker.publish(b := _envelope(two, 1))
        await broker.publish(c := _envelope(three, 2))
        assert [r.envelope.id for r in await self.take(of_one, 1)] == [a.id]
        assert {r.envelope.id for r in await self.take(of_two_and_three, 2)} == {b.id, c.id}
        await self.nothing(of_one)
        await self.nothing(of_two_and_three)

    async def test_a_broadcast_of_a_name_no_broker_carries_is_refused(self, broker: Broker) -> None:
        for topics in (["no spaces"], ["a..b"], [], "a.B"):
            with pytest.raises(ConfigError):
                await broker.broadcast(topics)

    # -- sending -----------------------------------------------------------------------------

    async def test_a_message_sent_before_the_service_subscribes_waits_for_it(
        self, broker: Broker, names: Names
    ) -> None:
        service = names.service()
        sent = [_envelope(names.topic(), n) for n in range(3)]
        for envelope in sent:
            await broker.send(envelope, service)
        receiver = await broker.subscribe(self.subscription(service))
        got = [r.envelope for r in await self.take(receiver, 3)]
        assert {e.id for e in got} == {e.id for e in sent}

    async def test_a_message_sent_goes_to_that_service_only(
        self, broker: Broker, names: Names
    ) -> None:
        topic, runs, stats = names.topic(), names.service("runs"), names.service("stats")
        to_runs = await broker.subscribe(self.subscription(runs, topic))
        to_stats = await broker.subscribe(self.subscription(stats, topic))
        await broker.send(sent := _envelope(topic), runs)
        [received] = await self.take(to_runs, 1)
        assert received.envelope.id == sent.id
        await self.nothing(to_stats)

    # -- settling ----------------------------------------------------------------------------

    async def test_an_acknowledged_message_is_not_delivered_again(
        self, broker: Broker, names: Names
    ) -> None:
        topic = names.topic()
        receiver = await broker.subscribe(self.subscription(names.service(), topic))
        await broker.publish(_envelope(topic))
        await self.take(receiver, 1)
        await self.nothing(receiver, self.ack_wait * 1.5)

    async def test_a_retried_message_comes_back_after_its_delay_as_the_next_attempt(
        self, broker: Broker, names: Names
    ) -> None:
        topic = names.topic()
        receiver = await broker.subscribe(self.subscription(names.service(), topic))
        await broker.publish(sent := _envelope(topic))
        [first] = await self.take(receiver, 1, settle="none")
        returned = time.monotonic()
        await first.retry(0.5)
        [second] = await self.take(receiver, 1)
        assert time.monotonic() - returned >= 0.45  # never sooner than asked
        assert (second.envelope, second.attempt) == (sent, 2)

    async def test_a_retried_message_does_not_hold_back_the_others(
        self, broker: Broker, names: Names
    ) -> None:
        topic = names.topic()
        receiver = await broker.subscribe(self.subscription(names.service(), topic))
        await broker.publish(stuck := _envelope(topic, 0))
        [first] = await self.take(receiver, 1, settle="none")
        await first.retry(5.0)
        later = [_envelope(topic, n) for n in range(1, 4)]
        for envelope in later:
            await broker.publish(envelope)
        got = {r.envelope.id for r in await self.take(receiver, 3)}
        assert got == {e.id for e in later}
        assert stuck.id not in got

    async def test_every_delivery_counts_as_an_attempt(self, broker: Broker, names: Names) -> None:
        topic = names.topic()
        receiver = await broker.subscribe(self.subscription(names.service(), topic, deliveries=3))
        await broker.publish(_envelope(topic))
        attempts = []
        for _ in range(4):  # the deliveries allowed, and one more for the consumer to refuse
            [received] = await self.take(receiver, 1, settle="none")
            attempts.append(received.attempt)
            await received.retry(0)
        assert attempts == [1, 2, 3, 4]

    async def test_a_message_left_unsettled_past_its_ack_wait_is_delivered_again(
        self, broker: Broker, other: Broker, names: Names
    ) -> None:
        topic, service = names.topic(), names.service()
        stuck = await broker.subscribe(self.subscription(service, topic))
        await broker.publish(sent := _envelope(topic))
        [held] = await self.take(stuck, 1, settle="none")  # its consumer hangs, or died
        assert held.attempt == 1
        rescuer = await other.subscribe(self.subscription(service, topic))
        # Its receives outlast the ack wait: nats-server 2.9 counts a redelivery once when it
        # meets the expiry of the pull request it was meant for (see docs/reference/brokers.md).
        [again] = await self.take(rescuer, 1, wait=self.ack_wait * 3)
        assert (again.envelope.id, again.attempt) == (sent.id, 2)

    async def test_a_message_kept_in_progress_is_not_delivered_again(
        self, broker: Broker, other: Broker, names: Names
    ) -> None:
        topic, service = names.topic(), names.service()
        slow = await broker.subscribe(self.subscription(service, topic))
        await broker.publish(sent := _envelope(topic))
        [held] = await self.take(slow, 1, settle="none")
        watcher = await other.subscribe(self.subscription(service, topic))
        for _ in range(4):  # twice its ack wait in all, kept alive at a third of it
            extra = await watcher.receive(10, self.ack_wait / 2)
            assert extra == [], "delivered again while in progress"
            await held.in_progress()
        await held.ack()
        await self.nothing(watcher, self.ack_wait * 1.5)
        assert held.envelope.id == sent.id

    async def test_a_receive_cancelled_while_waiting_loses_nothing(
        self, broker: Broker, names: Names
    ) -> None:
        topic = names.topic()
        receiver = await broker.subscribe(self.subscription(names.service(), topic))
        waiting = asyncio.ensure_future(receiver.receive(10, 5.0))
        await asyncio.sleep(0.2)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        await broker.publish(sent := _envelope(topic))
        [received] = await self.take(receiver, 1)  # at the latest once its ack wait passed
        assert received.envelope.id == sent.id

    async def test_a_closed_receiver_gives_back_what_it_had_not_settled(
        self, broker: Broker, other: Broker, names: Names
    ) -> None:
        topic, service = names.topic(), names.service()
        leaving = await broker.subscribe(self.subscription(service, topic, ack_wait=60.0))
        sent = [_envelope(topic, n) for n in range(3)]
        for envelope in sent:
            await broker.publish(envelope)
        taken = await self.take(leaving, 3, settle="none")
        await taken[0].ack()
        await leaving.close()
        staying = await other.subscribe(self.subscription(service, topic, ack_wait=60.0))
        got = {r.envelope.id for r in await self.take(staying, 2)}
        assert got == {taken[1].envelope.id, taken[2].envelope.id}
        try:  # a closed receiver takes nothing more: it says so, or it finds nothing
            late = await leaving.receive(10, 0.1)
        except BrokerError:
            late = []
        assert late == []

    # -- dead letters ------------------------------------------------------------------------

    async def test_a_dead_letter_keeps_the_message_and_the_error(
        self, broker: Broker, names: Names
    ) -> None:
        topic, service = names.topic(), names.service()
        receiver = await broker.subscribe(self.subscription(service, topic))
        await broker.publish(poison := _envelope(topic, 0, correlation_id="c-poison"))
        await broker.publish(fine := _envelope(topic, 1))
        got = await self.take(receiver, 2, settle="none")
        for received in got:
            if received.envelope.id == poison.id:
                await received.dead_letter("ValueError: no such user 7")
            else:
                await received.ack()
        [dead] = await _eventually(lambda: broker.dead_letters(service), self.patience)
        assert dead.envelope == poison
        assert (dead.service, dead.error, dead.deliveries) == (
            service,
            "ValueError: no such user 7",
            1,
        )
        assert dead.failed_at <= time.time() + 1
        assert fine.id in {r.envelope.id for r in got}
        await self.nothing(receiver, self.ack_wait * 1.5)  # not delivered again

    async def test_a_redriven_dead_letter_is_delivered_anew_to_its_service_only(
        self, broker: Broker, names: Names
    ) -> None:
        topic, service, bystander = names.topic(), names.service(), names.service("by")
        receiver = await broker.subscribe(self.subscription(service, topic))
        watcher = await broker.subscribe(self.subscription(bystander, topic))
        await broker.publish(poison := _envelope(topic))
        await self.take(watcher, 1)
        [received] = await self.take(receiver, 1, settle="none")
        await received.retry(0)
        [received] = await self.take(receiver, 1, settle="none")
        await received.dead_letter("boom")
        [dead] = await _eventually(lambda: broker.dead_letters(service), self.patience)
        assert dead.deliveries == 2
        assert await broker.redrive(service) == 1
        [again] = await self.take(receiver, 1)
        assert (again.envelope, again.attempt) == (poison, 1)
        assert await broker.dead_letters(service) == []
        await self.nothing(watcher)

    async def test_redrive_and_purge_take_the_dead_letters_named(
        self, broker: Broker, names: Names
    ) -> None:
        topic, service = names.topic(), names.service()
        receiver = await broker.subscribe(self.subscription(service, topic))
        sent = [_envelope(topic, n) for n in range(3)]
        for envelope in sent:
            await broker.publish(envelope)
        for received in await self.take(receiver, 3, settle="none"):
            await received.dead_letter(f"failed {received.envelope.id}")
        dead = await _eventually(lambda: broker.dead_letters(service), self.patience, count=3)
        assert await broker.dead_letter_count(service) == 3
        by_message = {d.envelope.id: d for d in dead}
        assert set(by_message) == {e.id for e in sent}
        assert by_message[sent[0].id].error == f"failed {sent[0].id}"
        assert await broker.purge(service, [by_message[sent[0].id].id]) == 1
        assert await broker.redrive(service, [by_message[sent[1].id].id]) == 1
        [again] = await self.take(receiver, 1)
        assert again.envelope.id == sent[1].id
        [left] = await broker.dead_letters(service)
        assert left.envelope.id == sent[2].id
        assert await broker.dead_letter_count(service) == 1
        assert await broker.purge(service) == 1
        assert await broker.dead_letters(service) == []
        assert await broker.dead_letter_count(service) == 0

    async def test_dead_letters_of_a_service_never_seen_are_none(
        self, broker: Broker, names: Names
    ) -> None:
        service = names.service()
        assert await broker.dead_letters(service) == []
        assert await broker.dead_letter_count(service) == 0
        assert await broker.redrive(service) == 0
        assert await broker.purge(service) == 0

    # -- requests ----------------------------------------------------------------------------

    async def test_a_request_is_answered_by_one_instance(
        self, broker: Broker, other: Broker, names: Names
    ) -> None:
        service = names.service()
        answered: list[str] = []

        def responder(name: str) -> Any:
            async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:  # noqa: ARG001
                answered.append(name)
                return b"re:" + body

            return respond

        await broker.serve(service, responder("first"))
        await other.serve(service, responder("second"))
        replies = await asyncio.gather(
            *(broker.request(service, b"%d" % n, 5.0) for n in range(50))
        )
        assert replies == [b"re:%d" % n for n in range(50)]  # each its own answer
        assert len(answered) == 50

    async def test_a_request_carries_its_headers_to_the_responder_exactly(
        self, broker: Broker, other: Broker, names: Names
    ) -> None:
        service = names.service()
        seen: list[dict[str, str]] = []

        async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:
            seen.append(dict(headers))
            return body

        await other.serve(service, respond)
        sent = {
            "authorization": "Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "x-spaced": 'a  b, c;d="e"',
            "x-empty": "",
            "x-punctuation": "!#$%&'*+-.^_`|~:/?@[]{}<>\\",
        }
        assert await broker.request(service, b"{}", 5.0, sent) == b"{}"
        assert seen == [sent]

    async def test_a_request_without_headers_gives_the_responder_an_empty_mapping(
        self, broker: Broker, other: Broker, names: Names
    ) -> None:
        service = names.service()
        seen: list[Mapping[str, str]] = []

        async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:
            seen.append(headers)
            return body

        await other.serve(service, respond)
        assert await broker.request(service, b"none", 5.0) == b"none"
        assert await broker.request(service, b"empty", 5.0, {}) == b"empty"
        assert [dict(headers) for headers in seen] == [{}, {}]

    async def test_headers_too_large_or_unfit_are_refused_before_the_request_is_sent(
        self, broker: Broker, other: Broker, names: Names
    ) -> None:
        service = names.service()
        seen: list[int] = []

        async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:
            seen.append(sum(len(name) + len(value) for name, value in headers.items()))
            return body

        await other.serve(service, respond)
        name = "authorization"
        at_the_limit = {name: "t" * (MAX_REQUEST_HEADERS - len(name))}
        assert await broker.request(service, b"{}", 5.0, at_the_limit) == b"{}"
        assert seen == [MAX_REQUEST_HEADERS]
        over = {name: "s3cret" + "t" * (MAX_REQUEST_HEADERS - len(name) - 5)}
        with pytest.raises(BrokerError, match=f"more than the {MAX_REQUEST_HEADERS}") as big:
            await broker.request(service, b"{}", 5.0, over)
        unfit = [
            ({"Authorization": "Bearer s3cret"}, "lower-case"),
            ({"x-line": "s3cret\r\nx-injected: 1"}, "printable ASCII"),
            ({"x-text": "s3cret caf\u00e9"}, "printable ASCII"),
            ({"x-padded": " s3cret "}, "spaces at either end"),
        ]
        for headers, why in unfit:
            with pytest.raises(BrokerError, match=why) as refused:
                await broker.request(service, b"{}", 5.0, headers)
            assert "s3cret" not in str(refused.value)  # a value may be a token: never shown
        assert "s3cret" not in str(big.value)
        assert seen == [MAX_REQUEST_HEADERS]  # nothing refused reached the responder

    async def test_a_request_nobody_serves_is_unavailable(
        self, broker: Broker, names: Names
    ) -> None:
        with pytest.raises(RemoteUnavailableError):
            await broker.request(names.service(), b"{}", 0.5)

    async def test_a_request_not_answered_in_time_is_past_its_deadline(
        self, broker: Broker, names: Names
    ) -> None:
        service = names.service()
        release = asyncio.Event()

        async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:  # noqa: ARG001
            await release.wait()
            return body

        await broker.serve(service, respond)
        try:
            with pytest.raises(DeadlineExceededError, match=service):
                await broker.request(service, b"slow", 0.3)
        finally:
            release.set()

    async def test_a_request_through_a_stopped_broker_is_unavailable(
        self, broker_url: str, names: Names
    ) -> None:
        stopped = open_broker(broker_url)
        await stopped.start()
        await stopped.stop()
        with pytest.raises((BrokerUnavailableError, RemoteUnavailableError)):
            await stopped.request(names.service(), b"{}", 0.5)

    async def test_a_closed_serving_answers_the_request_in_progress_first(
        self, broker: Broker, other: Broker, names: Names
    ) -> None:
        service = names.service()
        started, release = asyncio.Event(), asyncio.Event()

        async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:  # noqa: ARG001
            started.set()
            await release.wait()
            return b"done:" + body

        serving = await broker.serve(service, respond)
        call = asyncio.ensure_future(other.request(service, b"{}", 10.0))
        async with asyncio.timeout(10):
            await started.wait()
        closing = asyncio.ensure_future(serving.close())
        await asyncio.sleep(0.1)
        assert not closing.done()  # it waits for the answer in progress
        release.set()
        await closing
        assert await call == b"done:{}"

    async def test_a_closed_serving_takes_no_more_requests(
        self, broker: Broker, names: Names
    ) -> None:
        service = names.service()

        async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:  # noqa: ARG001
            return body

        serving = await broker.serve(service, respond)
        assert await broker.request(service, b"ping", 5.0) == b"ping"
        await serving.close()
        with pytest.raises(RemoteUnavailableError):
            await broker.request(service, b"ping", 0.5)

    # -- connection --------------------------------------------------------------------------

    async def test_a_started_broker_answers_ping(self, broker: Broker) -> None:
        await broker.ping()

    async def test_an_unreachable_broker_is_named_without_its_password(
        self, unreachable_url: str
    ) -> None:
        broker = open_broker(unreachable_url)
        with pytest.raises(BrokerUnavailableError) as caught:
            await broker.start()
        message = str(caught.value)
        assert "s3cret" not in message
        assert "s3cret" not in broker.describe()
        assert broker.describe() in message
        await broker.stop()  # stopping what never connected is fine


class Names:
    """Fresh service and topic names for one test."""

    def __init__(self) -> None:
        self.run = uuid.uuid4().hex[:10]
        self.count = 0

    def service(self, base: str = "svc") -> str:
        """A service name no other test uses."""
        self.count += 1
        return f"{base}-{self.run}-{self.count}"

    def topic(self) -> str:
        """An event type name no other test uses."""
        self.count += 1
        return f"contract.t{self.run}.Ticked{self.count}"


@contextlib.asynccontextmanager
async def _started(url: str) -> AsyncIterator[Broker]:
    broker = open_broker(url)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


async def _eventually(read: Any, patience: float, *, count: int = 1) -> list[Any]:
    """What ``read()`` returns once it holds ``count`` items, or the patience is out.

    Dead letters settle asynchronously on some brokers.
    """
    deadline = time.monotonic() + patience
    while True:
        found: Iterable[Any] = await read()
        found = list(found)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)
