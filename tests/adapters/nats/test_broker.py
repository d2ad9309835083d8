"""The NATS adapter passes the broker contract against a real nats-server, and keeps its streams.

The contract's tests run against the shared server on 127.0.0.1:4222; those that need a
server to go away, or one without JetStream, start a private nats-server on a free port.
"""

import asyncio
import logging
import shutil
import socket
import time
import uuid
from collections.abc import Mapping

import nats
import pytest
from nats.aio.msg import Msg

from atoll.adapters.nats import NatsBroker
from atoll.adapters.nats.broker import DEAD, EVENTS, SENDS, durable_name
from atoll.adapters.nats.delivery import _Received
from atoll.errors import BrokerError, BrokerUnavailableError, RemoteUnavailableError
from atoll.messaging.broker import Subscription, open_broker
from atoll.messaging.envelope import Envelope
from atoll.testing.broker_contract import BrokerContract, Names

URL = "nats://127.0.0.1:4222"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"

pytestmark = pytest.mark.services("nats")


class TestNats(BrokerContract):
    @pytest.fixture
    def broker_url(self):
        return URL

    @pytest.fixture
    def unreachable_url(self):
        return "nats://user:s3cret@127.0.0.1:1"

    @pytest.fixture
    async def names(self):
        made = Names()
        yield made
        await forget(made.run)


async def forget(run: str) -> None:
    """Delete the consumers, and purge the messages, whose subjects hold ``run``."""
    client = await nats.connect(URL)
    js = client.jetstream()
    for stream in (EVENTS, SENDS, DEAD):
        for info in await js.consumers_info(stream):
            subject = info.config.filter_subject or ""
            if run in subject:
                await js.delete_consumer(stream, info.name)
                await js.purge_stream(stream, subject=subject)
                if stream == SENDS:  # the service's dead letters too
                    service = subject.removeprefix("atoll.send.")
                    await js.purge_stream(DEAD, subject=f"atoll.dead.{service}")
    await client.close()


def _name(base: str = "svc") -> str:
    return f"{base}-{uuid.uuid4().hex[:10]}"


def _topic() -> str:
    return f"nats.t{uuid.uuid4().hex[:10]}.Happened"


def _envelope(topic: str, **headers: str) -> Envelope:
    return Envelope(uuid.uuid4().hex, topic, b'{"n":1}', "Run:1", headers)


async def _take(receiver, count: int, patience: float = 10.0):
    taken = []
    deadline = time.monotonic() + patience
    while len(taken) < count and time.monotonic() < deadline:
        taken += await receiver.receive(count - len(taken), 0.5)
    return taken


@pytest.fixture
async def broker():
    broker = NatsBroker(URL)
    await broker.start()
    yield broker
    await broker.stop()


async def _until(condition, patience: float = 15.0) -> None:
    for _ in range(int(patience / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    pytest.fail("the connection did not change state in time")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_listening(port: int, patience: float = 10.0) -> None:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"the private nats-server did not listen on {port}")


def test_nothing_connects_until_start():
    broker = open_broker("nats://u:pw@127.0.0.1:4222")
    assert isinstance(broker, NatsBroker)
    assert broker._nc is None
    assert broker.describe() == "nats://u:********@127.0.0.1:4222"
    assert "pw" not in repr(broker)


def test_durable_names_are_valid_and_keep_similar_names_apart():
    dotted = durable_name("event", "a.b", "x.Y")
    assert "." not in dotted
    assert dotted != durable_name("event", "a_b", "x.Y")
    assert durable_name("send", "a") != durable_name("event", "a")
    assert durable_name("send", "a") == durable_name("send", "a")


async def test_the_streams_and_consumers_are_made_once_and_kept_across_restarts():
    service, topic = _name(), _topic()
    first = NatsBroker(URL)
    await first.start()
    js = first.jetstream()
    for stream, subject in (
        (EVENTS, "atoll.event.>"),
        (SENDS, "atoll.send.>"),
        (DEAD, "atoll.dead.>"),
    ):
        info = await js.stream_info(stream)
        assert info.config.subjects == [subject]
    receiver = await first.subscribe(Subscription(service, (topic,), ack_wait=5.0))
    await first.publish(kept := _envelope(topic))
    await receiver.close()
    created = (await js.consumer_info(EVENTS, durable_name("event", service, topic))).created
    await first.stop()

    again = NatsBroker(URL)
    await again.start()  # the streams exist: fine
    try:
        receiver = await again.subscribe(Subscription(service, (topic,), ack_wait=7.0))
        info = await again.jetstream().consumer_info(EVENTS, durable_name("event", service, topic))
        assert info.created == created  # the same consumer, updated in place
        assert info.config.ack_wait == 7.0
        [received] = await _take(receiver, 1)  # published while nobody received: kept
        assert received.envelope == kept
        await received.ack()
    finally:
        await again.stop()


async def test_a_publish_repeated_with_the_same_envelope_id_is_delivered_once(broker):
    service, topic = _name(), _topic()
    receiver = await broker.subscribe(Subscription(service, (topic,), ack_wait=5.0))
    envelope = _envelope(topic)
    await broker.publish(envelope)
    await broker.publish(envelope)  # the relay's retry after a lost acknowledgement
    await broker.send(sent := _envelope(topic), service)
    await broker.send(sent, service)
    got = await _take(receiver, 2)
    assert sorted(r.envelope.id for r in got) == sorted([envelope.id, sent.id])
    for received in got:
        await received.ack()
    assert await receiver.receive(10, 0.3) == []


async def test_a_foreign_message_is_terminated_and_logged_and_the_receiver_goes_on(broker, caplog):
    service, topic = _name(), _topic()
    receiver = await broker.subscribe(Subscription(service, (topic,), ack_wait=1.0))
    js = broker.jetstream()
    await js.publish(f"atoll.event.{topic}", b"not an envelope", headers={"foo": "bar"})
    await js.publish(f"atoll.event.{topic}", b"no headers at all")
    await broker.publish(fine := _envelope(topic))
    with caplog.at_level(logging.ERROR, logger="atoll.broker"):
        [received] = await _take(receiver, 1)
    assert received.envelope == fine
    await received.ack()
    refused = [r for r in caplog.records if "terminated, it stays in the stream" in r.message]
    assert len(refused) == 2
    assert await receiver.receive(10, 1.5) == []  # terminated: not delivered again


async def test_a_redriven_dead_letter_is_not_taken_for_a_duplicate(broker):
    service = _name()
    receiver = await broker.subscribe(Subscription(service, ack_wait=5.0))
    await broker.send(poison := _envelope("x.Y", sender="runs"), service)
    for round_trip in range(2):  # redriven within the de-duplication window, twice
        [received] = await _take(receiver, 1)
        assert (received.envelope, received.attempt) == (poison, 1)
        await received.dead_letter(f"Traceback:\n  line {round_trip}\nValueError: \\n")
        [dead] = await broker.dead_letters(service)
        assert dead.error == f"Traceback:\n  line {round_trip}\nValueError: \\n"
        assert await broker.redrive(service, [dead.id]) == 1
    [received] = await _take(receiver, 1)
    assert received.envelope == poison
    await received.ack()
    assert await broker.dead_letters(service) == []


async def test_dead_letters_are_listed_oldest_first_up_to_the_limit(broker):
    service = _name()
    receiver = await broker.subscribe(Subscription(service, ack_wait=5.0))
    sent = [_envelope("x.Y") for _ in range(4)]
    for envelope in sent:
        await broker.send(envelope, service)
    for received in await _take(receiver, 4):
        await received.dead_letter("boom")
    oldest = await broker.dead_letters(service, limit=2)
    assert [d.envelope.id for d in oldest] == [e.id for e in sent[:2]]
    assert int(oldest[0].id) < int(oldest[1].id)
    assert await broker.purge(service, ["1", oldest[0].id]) == 1  # "1" is another's
    assert await broker.purge(service) == 3


async def test_a_foreign_message_among_the_dead_letters_is_skipped(broker, caplog):
    service = _name()
    await broker.jetstream().publish(f"atoll.dead.{service}", b"junk")
    with caplog.at_level(logging.WARNING, logger="atoll.broker"):
        assert await broker.dead_letters(service) == []
    assert "no atoll dead letter" in caplog.text
    assert await broker.purge(service) == 1


async def test_a_receiver_of_several_topics_takes_from_each_as_it_comes(broker):
    service, topics = _name(), [_topic() for _ in range(3)]
    receiver = await broker.subscribe(Subscription(service, tuple(topics), ack_wait=5.0))
    assert await receiver.receive(10, 0.2) == []
    for topic in topics:
        await broker.publish(_envelope(topic))
        [received] = await _take(receiver, 1)
        assert received.envelope.type == topic
        await received.ack()
    for _ in range(5):
        for topic in topics:
            await broker.publish(_envelope(topic))
    got = []
    while len(got) < 15:
        batch = await receiver.receive(4, 2.0)
        assert batch, f"{len(got)} of 15 arrived"
        assert len(batch) <= 4
        got += batch
    assert sorted(r.envelope.type for r in got) == sorted(topics * 5)
    for received in got:
        await received.ack()
        await received.ack()  # settling twice is a no-op
        await received.retry(0)
    await receiver.close()
    await receiver.close()
    assert await receiver.receive(1, 0.1) == []


async def test_a_serving_answers_many_requests_at_once(broker):
    service = _name()
    started = asyncio.Event()
    inflight = 0

    async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:
        nonlocal inflight
        inflight += 1
        if inflight == 20:
            started.set()
        await started.wait()
        return body

    serving = await broker.serve(service, respond)
    replies = await asyncio.gather(*(broker.request(service, b"%d" % n, 5.0) for n in range(20)))
    assert replies == [b"%d" % n for n in range(20)]
    await serving.close()
    await serving.close()


async def test_a_failing_responder_leaves_the_caller_to_its_timeout(broker, caplog):
    service = _name()

    async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:
        raise RuntimeError("engine broke")

    await broker.serve(service, respond)
    with (
        caplog.at_level(logging.ERROR, logger="atoll.broker"),
        pytest.raises(RemoteUnavailableError, match="may have run"),
    ):
        await broker.request(service, b"{}", 0.3)
    assert "engine broke" in caplog.text


async def test_a_broker_never_started_refuses_with_the_url():
    broker = NatsBroker("nats://user:s3cret@127.0.0.1:4222")
    with pytest.raises(BrokerUnavailableError, match=r"\*\*\*\*.*not connected") as caught:
        await broker.ping()
    assert "s3cret" not in str(caught.value)
    with pytest.raises(BrokerUnavailableError):
        await broker.publish(_envelope("x.Y"))
    with pytest.raises(RemoteUnavailableError, match="did not run"):
        await broker.request("svc", b"{}", 1.0)
    await broker.stop()


async def test_an_unreachable_broker_says_what_to_check():
    broker = NatsBroker("nats://user:s3cret@127.0.0.1:1")
    with pytest.raises(BrokerUnavailableError) as caught:
        await broker.start()
    message = str(caught.value)
    assert "cannot reach the broker at nats://user:********@127.0.0.1:1" in message
    assert "JetStream" in message
    assert "--broker-url" in message
    assert "s3cret" not in message


async def test_a_server_without_jetstream_is_named_as_such(spawn):
    port = _free_port()
    spawn(NATS_SERVER, "-a", "127.0.0.1", "-p", str(port))
    _wait_listening(port)
    broker = NatsBroker(f"nats://127.0.0.1:{port}")
    with pytest.raises(BrokerUnavailableError, match="JetStream is not enabled") as caught:
        await broker.start()
    assert "-js" in str(caught.value)
    assert broker._nc is None  # the connection was closed
    await broker.stop()


async def test_a_lost_server_is_reported_and_the_connection_comes_back(spawn, tmp_path, caplog):
    port = _free_port()
    argv = (NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path))
    server = spawn(*argv)
    _wait_listening(port)
    broker = NatsBroker(f"nats://127.0.0.1:{port}")
    await broker.start()
    try:
        service = _name()
        receiver = await broker.subscribe(Subscription(service, ack_wait=5.0))
        with caplog.at_level(logging.INFO, logger="atoll.broker"):
            server.popen.kill()
            server.popen.wait()
            await _until(lambda: not broker._nc.is_connected)
            with pytest.raises(BrokerUnavailableError, match="reconnecting"):
                await broker.ping()
            with pytest.raises(BrokerUnavailableError):
                await receiver.receive(1, 0.1)
            with pytest.raises(RemoteUnavailableError, match="out of reach"):
                await broker.request(service, b"{}", 0.5)
            spawn(*argv)
            _wait_listening(port)
            await _until(lambda: broker._nc.is_connected)
            await broker.ping()
        assert "lost the connection to the broker" in caplog.text
        assert "reconnected to the broker" in caplog.text
        await broker.send(sent := _envelope("x.Y"), service)  # the stream was kept on disk
        [received] = await _take(receiver, 1)
        assert received.envelope == sent
        await received.ack()
    finally:
        await broker.stop()


async def test_a_stream_of_another_shape_is_refused_with_the_fix(spawn, tmp_path):
    port = _free_port()
    spawn(NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path))
    _wait_listening(port)
    url = f"nats://127.0.0.1:{port}"
    broker = NatsBroker(url)
    await broker.start()
    js = broker.jetstream()
    await js.delete_stream(SENDS)
    await js.add_stream(name=SENDS, subjects=["elsewhere.>"])
    await broker.stop()
    with pytest.raises(BrokerError, match=f"nats stream edit {SENDS}"):
        await NatsBroker(url).start()
    await js_delete(url, SENDS)
    await (other := NatsBroker(url)).start()  # made anew: fine
    await other.jetstream().delete_stream(SENDS)
    await other.jetstream().add_stream(name="THIEF", subjects=["atoll.send.x"])
    await other.stop()
    with pytest.raises(BrokerError, match="another name may capture"):
        await NatsBroker(url).start()
    await js_delete(url, "THIEF")
    await (last := NatsBroker(url)).start()
    await js_delete(url, EVENTS)
    with pytest.raises(BrokerError, match=r"no stream keeps atoll\.event\.x\.Y"):
        await last.publish(_envelope("x.Y"))
    await last.stop()


async def js_delete(url: str, stream: str) -> None:
    nc = await nats.connect(url)
    await nc.jetstream().delete_stream(stream)
    await nc.close()


async def test_a_consumer_whose_settings_cannot_change_is_refused_with_the_fix(broker):
    service, topic = _name(), _topic()
    name = durable_name("event", service, topic)
    await broker.jetstream().add_consumer(
        EVENTS, durable_name=name, filter_subject=f"atoll.event.{topic}", deliver_policy="all"
    )
    with pytest.raises(BrokerError, match=f"nats consumer rm {EVENTS} {name}"):
        await broker.subscribe(Subscription(service, (topic,)))
    await broker.jetstream().delete_consumer(EVENTS, name)


async def test_a_consumer_deleted_under_a_receiver_is_named(broker, monkeypatch):
    service = _name()
    receiver = await broker.subscribe(Subscription(service))
    monkeypatch.setattr(receiver, "check_every", 0.0)
    assert await receiver.receive(1, 0.2) == []  # checked: there
    await broker.jetstream().delete_consumer(SENDS, durable_name("send", service))
    with pytest.raises(BrokerError, match=f"{durable_name('send', service)} is gone"):
        await receiver.receive(1, 0.2)


async def test_a_closed_receiver_gives_back_what_it_fetched_and_had_not_handed_out(broker):
    service, topics = _name(), [_topic() for _ in range(2)]
    subscription = Subscription(service, tuple(topics), ack_wait=30.0)
    leaving = await broker.subscribe(subscription)
    for topic in topics:
        for _ in range(3):
            await broker.publish(_envelope(topic))
    [handed] = await leaving.receive(1, 2.0)  # the others fetched with it wait in the receiver
    await leaving.close()
    staying = await broker.subscribe(subscription)
    got = await _take(staying, 6)
    assert len(got) == 6
    assert {r.envelope.id for r in got} >= {handed.envelope.id}
    assert all(r.attempt == 2 for r in got if r.envelope.id == handed.envelope.id)
    for received in got:
        await received.ack()


async def test_a_fetch_that_got_messages_as_its_receiver_closed_gives_them_back(broker):
    first, second = _topic(), _topic()
    subscription = Subscription(_name(), (first, second), ack_wait=30.0)
    leaving = await broker.subscribe(subscription)
    await broker.publish(_envelope(first))
    [handed] = await leaving.receive(1, 2.0)  # the fetches of the others go on waiting
    await handed.ack()
    still = leaving._fetching[2]  # the consumers: the service's sends, then each topic's
    late = _envelope(second)
    await broker.publish(late)
    for _ in range(500):  # the fetch gets it, and ends, before anything asks it for it
        if still.done():
            break
        await asyncio.sleep(0.01)
    assert still.done()
    await leaving.close()
    staying = await broker.subscribe(subscription)
    # Back at once, not after the 30 s ack wait: the closing receiver gave it back.
    [again] = await _take(staying, 1)
    assert again.envelope.id == late.id
    await again.ack()


async def test_settling_twice_and_dead_lettering_a_settled_message_do_nothing(broker):
    service = _name()
    receiver = await broker.subscribe(Subscription(service, ack_wait=5.0))
    await broker.send(_envelope("x.Y"), service)
    [received] = await _take(receiver, 1)
    await received.ack()
    await received.dead_letter("too late")
    await received.retry(1.0)
    assert await broker.dead_letters(service) == []
    assert await receiver.receive(1, 0.3) == []


async def test_settling_on_a_closed_connection_is_unavailable(broker):
    service = _name()
    receiver = await broker.subscribe(Subscription(service, ack_wait=5.0))
    await broker.send(_envelope("x.Y"), service)
    await broker.send(_envelope("x.Y"), service)
    first, second = await _take(receiver, 2)
    serving = await broker.serve(service, _echo)
    await broker._nc.close()
    with pytest.raises(BrokerUnavailableError, match="acknowledge a message"):
        await first.ack()
    with pytest.raises(BrokerUnavailableError, match="return a message"):
        await second.retry(1.0)
    await serving.close()  # nothing to drain on a closed connection: fine
    await receiver.close()


async def _echo(body: bytes, headers: Mapping[str, str]) -> bytes:
    return body


async def test_a_started_broker_starting_again_keeps_its_connection(broker):
    connection = broker._nc
    await broker.start()
    assert broker._nc is connection


@pytest.mark.parametrize(
    "reply",
    [
        "$JS.ACK.STREAM.consumer.3.10.7.1796185823076601499.0",
        "$JS.ACK.domain.ACCHASH.STREAM.consumer.3.10.7.1796185823076601499.0.token",
    ],
)
def test_the_attempt_is_the_delivery_count_of_either_ack_subject_form(reply):
    msg = Msg(_client=None, subject="atoll.send.x", reply=reply)
    received = _Received(msg, _envelope("x.Y"), receiver=None)
    assert received.attempt == msg.metadata.num_delivered == 3


# -- broadcast --------------------------------------------------------------------------------


async def test_a_broadcast_receiver_takes_events_again_once_the_server_is_back(spawn, tmp_path):
    port = _free_port()
    argv = (NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path))
    server = spawn(*argv)
    _wait_listening(port)
    broker = NatsBroker(f"nats://127.0.0.1:{port}")
    await broker.start()
    try:
        topic = _topic()
        listening = await broker.broadcast([topic])
        server.popen.kill()
        server.popen.wait()
        await _until(lambda: not broker._nc.is_connected)
        with pytest.raises(BrokerUnavailableError):
            await listening.receive(1, 0.1)
        spawn(*argv)
        _wait_listening(port)
        await _until(lambda: broker._nc.is_connected)
        await broker.ping()  # the subscription went with the reconnection's first PING
        await broker.publish(sent := _envelope(topic))
        [received] = await _take(listening, 1)
        assert (received.envelope, received.attempt) == (sent, 1)
    finally:
        await broker.stop()


async def test_a_foreign_message_on_a_broadcast_subject_is_dropped_and_logged(broker, caplog):
    topic = _topic()
    listening = await broker.broadcast([topic])
    client = await nats.connect(URL)
    await client.publish(f"atoll.event.{topic}", b"not atoll's")
    await client.close()
    await broker.publish(sent := _envelope(topic))
    with caplog.at_level(logging.WARNING, logger="atoll.broker"):
        [received] = await _take(listening, 1)
    assert received.envelope == sent
    assert "is no atoll envelope; dropped" in caplog.text


async def test_a_closed_broadcast_receiver_is_unsubscribed(broker):
    listening = await broker.broadcast([_topic(), _topic()])
    subscriptions = list(listening.subscriptions)
    assert len(subscriptions) == 2
    await listening.close()
    assert listening.subscriptions == []
    for subscription in subscriptions:  # the client and the server forget it
        assert subscription._id not in broker._nc._subs
