"""The Redis Streams adapter passes the broker contract against a real Redis, and keeps its own
promises: entries trimmed or foreign, the delay set, heartbeats, and a Redis out of reach."""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Mapping

import pytest
import redis.asyncio as aioredis

from atoll.adapters.redis import RedisBroker
from atoll.errors import BrokerError, BrokerUnavailableError, ConfigError, RemoteUnavailableError
from atoll.messaging.broker import Subscription, open_broker
from atoll.messaging.envelope import Envelope
from atoll.testing.broker_contract import BrokerContract, Names

pytestmark = pytest.mark.services("redis")

URL = "redis://127.0.0.1:6379/5"
"""A database of these tests' own; each test deletes the keys named after its run."""


async def _names():
    names = Names()
    yield names
    client = aioredis.from_url(URL)
    keys = [key async for key in client.scan_iter(match=f"atoll:*{names.run}*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


class TestRedis(BrokerContract):
    @pytest.fixture
    def broker_url(self):
        return URL

    @pytest.fixture
    def unreachable_url(self):
        return "redis://:s3cret@127.0.0.1:1/0"

    @pytest.fixture
    async def names(self):
        async for names in _names():
            yield names


@pytest.fixture
async def names():
    async for names in _names():
        yield names


@pytest.fixture
async def raw():
    client = aioredis.from_url(URL)
    yield client
    await client.aclose()


@pytest.fixture
async def brokers():
    started: list[RedisBroker] = []

    async def start(url: str = URL) -> RedisBroker:
        broker = RedisBroker(url)
        await broker.start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        await broker.stop()


def _envelope(topic: str, n: int = 0) -> Envelope:
    return Envelope(uuid.uuid4().hex, topic, b'{"n":%d}' % n, f"Counter:{n}", {"sender": "t"})


async def _take(receiver, count: int, patience: float = 10.0):
    taken = []
    deadline = time.monotonic() + patience
    while len(taken) < count and time.monotonic() < deadline:
        taken.extend(await receiver.receive(count - len(taken), 0.5))
    assert len(taken) == count, f"{len(taken)} of {count} arrived"
    return taken


@pytest.fixture
async def proxy():
    """A :class:`Proxy`, open; closed at the end of the test, whatever the test left."""
    made = Proxy()
    await made.open()
    yield made
    await made.cut()


class Proxy:
    """A TCP relay to the real Redis, which a test can cut (and restore) under a broker."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._relays: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/5"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, reader, writer) -> None:
        self._relays.add(asyncio.current_task())
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 6379)
        self._writers |= {writer, up_writer}

        async def pipe(source, sink) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        await asyncio.gather(*self._relays, return_exceptions=True)
        self._relays.clear()


# -- what the stream holds ---------------------------------------------------------------------


async def test_an_entry_trimmed_while_pending_is_dropped_and_the_others_go_on(
    brokers, names, raw, caplog
):
    service = names.service()
    broker, other = await brokers(), await brokers()
    stuck = await broker.subscribe(Subscription(service, ack_wait=0.3))
    await broker.send(lost := _envelope("a.B", 1), service)
    [held] = await _take(stuck, 1)
    assert held.envelope.id == lost.id
    await raw.xdel(f"atoll:send:{service}", held._id)  # trimmed under its consumer
    await broker.send(kept := _envelope("a.B", 2), service)
    rescuer = await other.subscribe(Subscription(service, ack_wait=0.3))
    with caplog.at_level(logging.WARNING, "atoll.broker"):
        [received] = await _take(rescuer, 1)
        await received.ack()
        await asyncio.sleep(0.35)
        assert await rescuer.receive(10, 0.4) == []
    assert received.envelope.id == kept.id
    assert "were trimmed before" in caplog.text
    pending = await raw.xpending(f"atoll:send:{service}", service)
    assert pending["pending"] == 0


async def test_a_foreign_entry_is_dead_lettered_and_logged_and_the_receiver_goes_on(
    brokers, names, raw, caplog
):
    service = names.service()
    broker = await brokers()
    receiver = await broker.subscribe(Subscription(service))
    await raw.xadd(f"atoll:send:{service}", {"foo": "bar"})
    await raw.xadd(f"atoll:send:{service}", {"p": b"{}", "h": b"not json"})
    await broker.send(fine := _envelope("a.B"), service)
    with caplog.at_level(logging.WARNING, "atoll.broker"):
        [received] = await _take(receiver, 1)
    assert received.envelope == fine
    assert caplog.text.count("is no atoll envelope") == 2
    dead = await broker.dead_letters(service)
    assert [d.envelope.type for d in dead] == ["atoll.adapters.redis.ForeignEntry"] * 2
    assert dead[0].envelope.payload == b'{"foo":"bar"}'
    assert "no atoll envelope" in dead[0].error
    assert (await raw.xpending(f"atoll:send:{service}", service))["pending"] == 1  # the fine one


async def test_a_foreign_entry_a_dead_consumer_held_is_dead_lettered_when_claimed(
    brokers, names, raw
):
    service = names.service()
    broker = await brokers()
    await broker.create_groups(service, [f"atoll:send:{service}"])
    await raw.xadd(f"atoll:send:{service}", {"foo": "bar"})
    await raw.xreadgroup(service, "ghost", {f"atoll:send:{service}": ">"})
    receiver = await broker.subscribe(Subscription(service, ack_wait=0.2))
    await asyncio.sleep(0.25)
    assert await receiver.receive(10, 0.3) == []
    [dead] = await broker.dead_letters(service)
    assert "no atoll envelope" in dead.error


async def test_an_unreadable_dead_letter_is_skipped(brokers, names, raw):
    service = names.service()
    broker = await brokers()
    await raw.xadd(f"atoll:dead:{service}", {"x": "y"})
    assert await broker.dead_letters(service) == []


# -- settling --------------------------------------------------------------------------------


async def test_the_delay_set_returns_an_entry_when_due_to_that_service_only(brokers, names, raw):
    topic, service, bystander = names.topic(), names.service(), names.service("by")
    broker = await brokers()
    receiver = await broker.subscribe(Subscription(service, (topic,)))
    watcher = await broker.subscribe(Subscription(bystander, (topic,)))
    await broker.publish(sent := _envelope(topic))
    [seen] = await _take(watcher, 1)
    await seen.ack()
    [first] = await _take(receiver, 1)
    await first.retry(0.8)
    await first.retry(0.0)  # settled already: nothing more
    assert await raw.zcard(f"atoll:delay:{service}") == 1
    assert await receiver.receive(10, 0.4) == []  # not due yet
    [again] = await _take(receiver, 1)
    assert (again.envelope, again.attempt) == (sent, 2)
    assert await raw.zcard(f"atoll:delay:{service}") == 0
    assert await watcher.receive(10, 0.2) == []


async def test_another_instance_finds_what_one_retried_once_due(brokers, names):
    service = names.service()
    broker, other = await brokers(), await brokers()
    retrying = await broker.subscribe(Subscription(service))
    await broker.send(sent := _envelope("a.B"), service)
    [first] = await _take(retrying, 1)
    await first.retry(0.2)
    await retrying.close()
    rescuer = await other.subscribe(Subscription(service))
    [again] = await _take(rescuer, 1)
    assert (again.envelope.id, again.attempt) == (sent.id, 2)


async def test_settling_what_another_consumer_claimed_since_is_a_no_op(brokers, names, raw):
    service = names.service()
    broker, other = await brokers(), await brokers()
    slow = await broker.subscribe(Subscription(service, ack_wait=0.2))
    await broker.send(_envelope("a.B"), service)
    [held] = await _take(slow, 1)
    rescuer = await other.subscribe(Subscription(service, ack_wait=0.2))
    await asyncio.sleep(0.25)
    [claimed] = await _take(rescuer, 1)
    assert claimed.attempt == 2
    await held.retry(0)
    await held.dead_letter("late")
    await claimed.ack()
    assert await rescuer.receive(10, 0.3) == []
    assert await broker.dead_letters(service) == []
    assert await raw.xlen(f"atoll:send:{service}") == 1  # nothing was re-sent


async def test_acks_of_two_streams_made_together_are_all_acknowledged(brokers, names, raw):
    topic, service = names.topic(), names.service()
    broker = await brokers()
    receiver = await broker.subscribe(Subscription(service, (topic,)))
    await broker.publish(_envelope(topic))
    await broker.send(_envelope(topic), service)
    taken = await _take(receiver, 2)
    await asyncio.gather(*(r.ack() for r in taken), *(r.ack() for r in taken))
    for stream in (f"atoll:send:{service}", f"atoll:event:{topic}"):
        assert (await raw.xpending(stream, service))["pending"] == 0


async def test_a_receive_of_fewer_than_arrived_keeps_the_rest_for_the_next(brokers, names):
    one, two, service = names.topic(), names.topic(), names.service()
    broker = await brokers()
    receiver = await broker.subscribe(Subscription(service, (one, two)))
    sent = [_envelope(t, n) for n, t in enumerate((one, one, two, two))]
    for envelope in sent:
        await broker.publish(envelope)
    got = []
    for _ in range(4):
        batch = await receiver.receive(1, 1.0)
        assert len(batch) == 1
        got.extend(batch)
    assert {r.envelope.id for r in got} == {e.id for e in sent}
    assert await receiver.receive(0, 0.1) == []
    assert await receiver.receive(10, 0) == []  # no wait: one look


async def test_a_closed_receiver_stops_a_receive_that_waits(brokers, names):
    service = names.service()
    broker = await brokers()
    receiver = await broker.subscribe(Subscription(service))
    waiting = asyncio.create_task(receiver.receive(10, 30.0))
    await asyncio.sleep(0.2)
    await receiver.close()
    assert await asyncio.wait_for(waiting, 5.0) == []
    await receiver.close()  # twice is fine


async def test_a_deleted_stream_gets_its_group_again(brokers, names, raw):
    service = names.service()
    broker = await brokers()
    receiver = await broker.subscribe(Subscription(service))
    await raw.delete(f"atoll:send:{service}")
    assert await receiver.receive(10, 0.1) == []
    await broker.send(sent := _envelope("a.B"), service)
    [received] = await _take(receiver, 1)
    assert received.envelope.id == sent.id


# -- dead letters ----------------------------------------------------------------------------


async def test_ids_that_are_no_entry_ids_redrive_and_purge_nothing(brokers, names):
    service = names.service()
    broker = await brokers()
    receiver = await broker.subscribe(Subscription(service))
    await broker.send(_envelope("a.B"), service)
    [received] = await _take(receiver, 1)
    await received.dead_letter("boom")
    assert await broker.redrive(service, ["nope", "1-1"]) == 0
    assert await broker.purge(service, ["nope"]) == 0
    assert await broker.purge(service, ["1-1"]) == 0
    assert len(await broker.dead_letters(service)) == 1


# -- requests --------------------------------------------------------------------------------


async def test_the_heartbeat_tells_that_nobody_serves_rather_than_waiting(brokers, names, raw):
    service = names.service()
    broker = await brokers()
    await raw.zadd(f"atoll:rpc-servers:{service}", {"long-dead": 1})  # a beat of 1970
    with pytest.raises(RemoteUnavailableError, match=r"no instance of .* serves requests"):
        await broker.request(service, b"{}", 30.0)
    assert await raw.zcard(f"atoll:rpc-servers:{service}") == 0  # the dead one is forgotten
    assert await raw.llen(f"atoll:rpc:{service}") == 0  # nothing was left to wait


async def test_a_request_taken_after_its_deadline_is_not_answered(brokers, names, raw):
    service = names.service()
    broker = await brokers()
    called = []

    async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:
        called.append(body)
        return body

    pubsub = raw.pubsub()
    await pubsub.subscribe("atoll:reply:late")
    await raw.lpush(f"atoll:rpc:{service}", b"1|atoll:reply:late|7|too late")
    serving = await broker.serve(service, respond)
    assert await broker.request(service, b"in time", 5.0) == b"in time"
    await serving.close()
    assert called == [b"in time"]
    await pubsub.aclose()


async def test_a_responder_that_raises_makes_the_request_unavailable(brokers, names, caplog):
    service = names.service()
    broker = await brokers()

    async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:
        raise RuntimeError("engine broke")

    await broker.serve(service, respond)
    with (
        caplog.at_level(logging.ERROR, "atoll.broker"),
        pytest.raises(RemoteUnavailableError, match=r"failed to answer.*engine broke"),
    ):
        await broker.request(service, b"{}", 5.0)
    assert "a request to" in caplog.text


async def test_stopping_fails_the_requests_waiting_for_a_reply(names):
    service = names.service()
    server, asking = RedisBroker(URL), RedisBroker(URL)
    await server.start()
    await asking.start()
    release = asyncio.Event()

    async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:
        await release.wait()
        return body

    await server.serve(service, respond)
    call = asyncio.create_task(asking.request(service, b"{}", 10.0))
    await asyncio.sleep(0.3)
    await asking.stop()
    with pytest.raises(RemoteUnavailableError, match="stopped before the reply"):
        await call
    release.set()
    await server.stop()


# -- connection ------------------------------------------------------------------------------


async def test_an_unreachable_redis_is_named_with_what_to_check():
    broker = open_broker("redis://:s3cret@127.0.0.1:1/0")
    assert isinstance(broker, RedisBroker)
    assert repr(broker) == "RedisBroker('redis://:********@127.0.0.1:1/0')"
    with pytest.raises(BrokerUnavailableError) as caught:
        await broker.start()
    message = str(caught.value)
    assert message.startswith("cannot reach the broker at redis://:********@127.0.0.1:1/0: ")
    assert message.endswith("is Redis running there? check --broker-url")
    with pytest.raises(BrokerUnavailableError, match="is not started"):
        await broker.publish(_envelope("a.B"))
    with pytest.raises(BrokerUnavailableError, match="is not started"):
        await broker.ping()
    with pytest.raises(BrokerUnavailableError, match="is not started"):
        _ = broker.scripts


async def test_refused_credentials_are_named_without_the_password():
    broker = RedisBroker("redis://nobody:s3cret@127.0.0.1:6379/5")
    with pytest.raises(BrokerUnavailableError) as caught:
        await broker.start()
    message = str(caught.value)
    assert "s3cret" not in message
    assert "the broker at redis://nobody:********@127.0.0.1:6379/5 refused the credentials" in (
        message
    )
    assert "check the user and password in --broker-url" in message


async def test_a_database_redis_does_not_have_is_unavailable():
    with pytest.raises(BrokerUnavailableError, match="DB index is out of range"):
        await RedisBroker("redis://127.0.0.1:6379/999").start()


async def test_a_url_redis_py_cannot_read_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot be read"):
        await RedisBroker("redis://127.0.0.1:notaport/0").start()


async def test_a_command_redis_refuses_is_a_broker_error(brokers, names, raw):
    service = names.service()
    broker = await brokers()
    await raw.set(f"atoll:send:{service}", "not a stream")
    with pytest.raises(BrokerError, match="refused a command: WRONGTYPE"):
        await broker.send(_envelope("a.B"), service)
    with pytest.raises(BrokerError, match="WRONGTYPE"):
        await broker.subscribe(Subscription(service))


async def test_a_receive_while_redis_is_out_of_reach_raises_and_the_next_reconnects(names, proxy):
    service = names.service()
    broker = RedisBroker(proxy.url)
    await broker.start()
    await broker.start()  # started already: nothing more
    receiver = await broker.subscribe(Subscription(service))
    await proxy.cut()
    with pytest.raises(BrokerUnavailableError, match="cannot reach the broker"):
        await receiver.receive(10, 0.5)
    with pytest.raises(BrokerUnavailableError):
        await broker.ping()
    with pytest.raises(BrokerUnavailableError):
        await broker.send(_envelope("a.B"), service)
    with pytest.raises(BrokerUnavailableError):
        await broker.dead_letters(service)
    with pytest.raises(BrokerUnavailableError):
        await broker.redrive(service)
    with pytest.raises(BrokerUnavailableError):
        await broker.purge(service)
    with pytest.raises(RemoteUnavailableError, match="cannot be asked"):
        await broker.request(service, b"{}", 1.0)
    with pytest.raises(BrokerUnavailableError):
        await broker.serve(service, _echo)
    with pytest.raises(BrokerUnavailableError):
        await broker.subscribe(Subscription(names.service()))
    await proxy.open()
    await broker.send(sent := _envelope("a.B"), service)
    [received] = await _take(receiver, 1)
    assert received.envelope.id == sent.id
    await proxy.cut()
    with pytest.raises(BrokerUnavailableError):
        await received.retry(1.0)
    await receiver.close()  # what it held waits for its ack wait
    await broker.stop()


async def test_an_ack_redis_never_got_is_logged_and_its_message_comes_again(names, proxy, caplog):
    service = names.service()
    broker = RedisBroker(proxy.url)
    await broker.start()
    receiver = await broker.subscribe(Subscription(service, ack_wait=0.3))
    await broker.send(sent := _envelope("a.B"), service)
    [received] = await _take(receiver, 1)
    await proxy.cut()
    with caplog.at_level(logging.WARNING, "atoll.broker"):
        await received.ack()  # sent, not waited for: it returns
        await receiver.close()  # waits for the acks sent
    assert "1 acknowledgements of" in caplog.text
    assert "delivered again once their ack wait has passed" in caplog.text
    await proxy.open()
    again = await broker.subscribe(Subscription(service, ack_wait=0.3))
    [redelivered] = await _take(again, 1)
    assert redelivered.envelope.id == sent.id
    assert redelivered.attempt == 2
    await redelivered.ack()
    await again.close()
    await broker.stop()


async def _echo(body: bytes, headers: Mapping[str, str]) -> bytes:
    return body


async def test_a_serving_and_its_requester_come_back_after_redis_was_out_of_reach(
    names, proxy, caplog
):
    service = names.service()
    broker = RedisBroker(proxy.url)
    await broker.start()
    await broker.serve(service, _echo)
    assert await broker.request(service, b"before", 5.0) == b"before"
    with caplog.at_level(logging.WARNING, "atoll.broker"):
        await proxy.cut()
        await asyncio.sleep(1.5)
        await proxy.open()
        deadline, reply = time.monotonic() + 15, None
        while reply is None and time.monotonic() < deadline:
            with contextlib.suppress(RemoteUnavailableError):
                reply = await broker.request(service, b"after", 1.0)
    assert reply == b"after"
    assert "cannot take requests" in caplog.text
    assert "the replies on" in caplog.text
    await broker.stop()


# -- broadcast --------------------------------------------------------------------------------


async def test_a_broadcast_receiver_reads_on_from_its_last_entry_missing_none(brokers, names):
    one, two = names.topic(), names.topic()
    broker = await brokers()
    await broker.publish(_envelope(one, 99))  # in the stream before: never read
    listening = await broker.broadcast([one, two])
    sent = [_envelope(one if n % 2 else two, n) for n in range(7)]
    for envelope in sent[:3]:
        await broker.publish(envelope)
    got = [r.envelope for r in await _take(listening, 1)]  # the first read: holds the rest
    for envelope in sent[3:]:  # added between reads
        await broker.publish(envelope)
    while len(got) < len(sent):
        got += [r.envelope for r in await listening.receive(2, 1.0)]
    assert sorted(got, key=lambda e: e.id) == sorted(sent, key=lambda e: e.id)
    assert await listening.receive(10, 0.2) == []


async def test_a_foreign_entry_of_a_broadcast_topic_is_skipped_and_logged(
    brokers, names, raw, caplog
):
    topic = names.topic()
    broker = await brokers()
    listening = await broker.broadcast([topic])
    await raw.xadd(f"atoll:event:{topic}", {"foo": "bar"})
    await broker.publish(fine := _envelope(topic))
    with caplog.at_level(logging.WARNING, "atoll.broker"):
        [received] = await _take(listening, 1)
    assert received.envelope == fine
    assert "is no atoll envelope; skipped" in caplog.text


async def test_a_closed_broadcast_receiver_stops_a_receive_that_waits(brokers, names):
    broker = await brokers()
    listening = await broker.broadcast([names.topic()])
    waiting = asyncio.create_task(listening.receive(10, 30.0))
    await asyncio.sleep(0.2)
    await listening.close()
    assert await asyncio.wait_for(waiting, 5.0) == []
    await listening.close()  # twice is fine


async def test_a_broadcast_receive_while_redis_is_out_of_reach_raises_then_reads_on(names, proxy):
    topic = names.topic()
    broker = RedisBroker(proxy.url)
    await broker.start()
    listening = await broker.broadcast([topic])
    await proxy.cut()
    with pytest.raises(BrokerUnavailableError, match="cannot reach the broker"):
        await listening.receive(10, 0.5)
    with pytest.raises(BrokerUnavailableError):
        await broker.broadcast([topic])
    await proxy.open()
    await broker.publish(sent := _envelope(topic))
    [received] = await _take(listening, 1)
    assert received.envelope.id == sent.id
    await broker.stop()
