"""The outbox relay: committed events reach the publisher once, in order; failures are retried."""

import asyncio
import logging
from dataclasses import dataclass

import pytest

from atoll.errors import BrokerUnavailableError, DatabaseUnavailableError, DeliveryError
from atoll.messaging.envelope import seal
from atoll.persistence.memory import MemoryDatabase
from atoll.persistence.options import DatabaseOptions
from atoll.persistence.relay import OutboxRelay
from atoll.persistence.schema import Schema


@dataclass(frozen=True)
class Noted:
    n: int


class Recorder:
    def __init__(self, fail_on=(), *, always=False, error=None):
        self.published = []
        self.fail_on = set(fail_on)
        self.always = always
        self.error = error or ConnectionError("broker away")

    async def publish(self, envelope):
        if envelope.payload in self.fail_on:
            if not self.always:
                self.fail_on.discard(envelope.payload)
            raise self.error
        self.published.append(envelope.payload)


async def commit(database, *events, stream=""):
    transaction = await database.begin()
    await transaction.commit([seal(e, stream=stream) for e in events], None)
    database.outbox_signal.notify()


@pytest.fixture
def database():
    return MemoryDatabase(DatabaseOptions(url="memory://"), Schema(), "relayed")


async def test_flush_publishes_every_committed_event_in_order_and_marks_it_sent(database):
    await commit(database, Noted(1), Noted(2), stream="s")
    await commit(database, Noted(3))
    recorder = Recorder()
    relay = OutboxRelay(database, recorder, batch=2)
    assert await relay.flush() == 3
    assert recorder.published == [b'{"n":1}', b'{"n":2}', b'{"n":3}']
    assert database.unsent() == []
    assert await relay.flush() == 0
    assert relay.published == 3


async def test_a_failed_publish_holds_back_its_stream_and_lets_the_others_go_on(database):
    await commit(database, Noted(1), Noted(2), Noted(3), stream="s")
    await commit(database, Noted(4), stream="t")
    await commit(database, Noted(5))
    recorder = Recorder(fail_on={b'{"n":2}'})
    relay = OutboxRelay(database, recorder)
    assert await relay.relay_once() == 3
    assert recorder.published == [b'{"n":1}', b'{"n":4}', b'{"n":5}']
    assert [r.envelope.payload for r in database.unsent()] == [b'{"n":2}', b'{"n":3}']
    assert await relay.relay_once() == 0  # its backoff has not run out
    assert await relay.flush() == 2  # a flush tries it at once
    assert recorder.published[3:] == [b'{"n":2}', b'{"n":3}']


async def test_a_record_that_fails_once_in_a_flush_is_published_by_it(database):
    await commit(database, Noted(1), stream="a")
    await commit(database, Noted(2), stream="b")
    relay = OutboxRelay(database, Recorder(fail_on={b'{"n":1}'}))
    assert await relay.flush() == 2


async def test_a_record_of_no_stream_that_fails_holds_back_nothing(database):
    await commit(database, Noted(1), Noted(2))
    recorder = Recorder(fail_on={b'{"n":1}'})
    relay = OutboxRelay(database, recorder)
    assert await relay.relay_once() == 1
    assert recorder.published == [b'{"n":2}']


async def test_flush_raises_what_failed_once_the_rest_is_relayed(database):
    await commit(database, Noted(1), stream="a")
    await commit(database, Noted(2), stream="b")
    recorder = Recorder(fail_on={b'{"n":1}'}, always=True)
    relay = OutboxRelay(database, recorder)
    with pytest.raises(ConnectionError, match="broker away"):
        await relay.flush()
    assert recorder.published == [b'{"n":2}']
    recorder.fail_on.clear()
    assert await relay.flush() == 1


async def test_the_background_relay_wakes_on_a_commit(database):
    recorder = Recorder()
    relay = OutboxRelay(database, recorder, interval=60)
    await relay.start()
    try:
        await commit(database, Noted(7))
        for _ in range(200):
            if recorder.published:
                break
            await asyncio.sleep(0.01)
        assert recorder.published == [b'{"n":7}']
    finally:
        await relay.stop()


async def test_the_background_relay_logs_a_failure_and_tries_again(database, caplog):
    await commit(database, Noted(1))
    recorder = Recorder(fail_on={b'{"n":1}'}, error=RuntimeError("refused"))
    relay = OutboxRelay(database, recorder, interval=0.01)
    with caplog.at_level(logging.ERROR, "atoll.outbox"):
        await relay.start()
        try:
            for _ in range(300):
                if recorder.published:
                    break
                await asyncio.sleep(0.01)
        finally:
            await relay.stop()
    assert recorder.published == [b'{"n":1}']
    assert (
        f"the outbox relay of memory:// (relayed) could not publish {__name__}.Noted (message "
    ) in caplog.text
    assert "(RuntimeError: refused)" in caplog.text


async def test_handlers_here_that_met_an_outage_are_told_once_not_per_record(database, caplog):
    await commit(database, Noted(1), Noted(2))
    away = DatabaseUnavailableError("cannot reach PostgreSQL")
    failure = DeliveryError("1 handler(s) failed", failed=("shop.book",), causes=(away,))
    recorder = Recorder({b'{"n":1}', b'{"n":2}'}, error=failure)
    relay = OutboxRelay(database, recorder, interval=0.01)
    with caplog.at_level(logging.INFO, "atoll.outbox"):
        await relay.start()
        try:
            for _ in range(500):
                if len(recorder.published) == 2:
                    break
                await asyncio.sleep(0.01)
        finally:
            await relay.stop()
    told = [r.getMessage() for r in caplog.records if r.name == "atoll.outbox"]
    assert len(told) == 2
    assert "cannot reach its database" in told[0]
    assert "reaches its database again" in told[1]


async def test_a_broker_outage_is_told_once_when_it_begins_and_once_when_it_ends(database, caplog):
    caplog.set_level(logging.INFO, "atoll.outbox")
    numbers = range(20)
    await commit(database, *(Noted(n) for n in numbers))
    payloads = {b'{"n":%d}' % n for n in numbers}
    recorder = Recorder(payloads, always=True, error=BrokerUnavailableError("nats:// away"))
    relay = OutboxRelay(database, recorder, interval=0.01)
    await relay.start()
    try:
        for _ in range(300):
            if relay.outage.failures >= 60:  # every record failed, many times over
                break
            await asyncio.sleep(0.01)
        recorder.fail_on.clear()  # the broker is back
        for _ in range(1000):
            if len(recorder.published) == len(numbers):
                break
            await asyncio.sleep(0.01)
    finally:
        await relay.stop()
    assert len(recorder.published) == len(numbers)
    told = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "atoll.outbox"]
    assert [level for level, _ in told] == ["WARNING", "INFO"]
    assert "cannot reach its broker (BrokerUnavailableError: nats:// away)" in told[0][1]
    assert "its events wait in the outbox" in told[0][1]
    assert "reaches its broker again" in told[1][1]
    assert not [r for r in caplog.records if r.exc_info]


async def test_an_unreachable_database_is_a_warning_not_a_traceback(database, caplog):
    calls = []

    async def claim_outbox(limit):
        calls.append(limit)
        if len(calls) == 1:
            raise DatabaseUnavailableError("db away")
        return await MemoryDatabase.claim_outbox(database, limit)

    database.claim_outbox = claim_outbox
    relay = OutboxRelay(database, Recorder(), interval=0.01)
    with caplog.at_level(logging.WARNING, "atoll.outbox"):
        await relay.start()
        try:
            for _ in range(300):
                if len(calls) > 1:
                    break
                await asyncio.sleep(0.01)
        finally:
            await relay.stop()
    (record,) = [r for r in caplog.records if "db away" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert not record.exc_info


async def test_a_disabled_relay_does_not_start(database):
    await commit(database, Noted(1))
    relay = OutboxRelay(database, Recorder(), enabled=False)
    await relay.start()
    await relay.stop()
    assert len(database.unsent()) == 1


async def test_kill_cancels_the_background_relay(database):
    relay = OutboxRelay(database, Recorder(), interval=60)
    relay.kill()  # before start: nothing to cancel
    await relay.start()
    task = relay._task
    relay.kill()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert repr(relay) == "OutboxRelay(memory:// (relayed))"


async def test_two_claims_never_hold_one_stream_at_once(database):
    await commit(database, Noted(1), Noted(2), stream="a")
    await commit(database, Noted(3), stream="b")
    first = await database.claim_outbox(1)
    second = await database.claim_outbox(10)
    assert [r.envelope.payload for r in first.records] == [b'{"n":1}']
    assert [r.envelope.payload for r in second.records] == [b'{"n":3}']
    await first.settle([first.records[0].position])
    await second.settle([])
    third = await database.claim_outbox(10)
    assert [r.envelope.payload for r in third.records] == [b'{"n":2}', b'{"n":3}']


async def test_a_broker_out_of_reach_is_a_warning_not_a_traceback(database, caplog):
    class Away:
        async def publish(self, envelope):
            raise BrokerUnavailableError("no consumer takes it now")

    await commit(database, Noted(1))
    relay = OutboxRelay(database, Away())
    with caplog.at_level(logging.WARNING, "atoll.outbox"), pytest.raises(BrokerUnavailableError):
        await relay.flush()
    (record,) = [r for r in caplog.records if "no consumer takes it now" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert not record.exc_info
    assert len(database.unsent()) == 1


async def test_streams_are_published_side_by_side_each_in_its_order(database):
    await commit(database, Noted(1), Noted(2), stream="a")
    await commit(database, Noted(3), stream="b")
    b_published = asyncio.Event()
    published = []

    class HandledBeforeReturning:  # as memory:// is: a publish waits for its handling
        async def publish(self, envelope):
            if envelope.stream == "a" and not b_published.is_set():
                await asyncio.wait_for(b_published.wait(), 5.0)  # b is not held behind a
            published.append(envelope.payload)
            if envelope.stream == "b":
                b_published.set()

    assert await OutboxRelay(database, HandledBeforeReturning()).flush() == 3
    assert published == [b'{"n":3}', b'{"n":1}', b'{"n":2}']


class TakenWhenCalled:
    """A publisher whose publish takes the envelope when called and returns a future, as the
    memory broker's does; the futures are settled by the test."""

    def __init__(self):
        self.taken = []

    def publish(self, envelope):
        future = asyncio.get_running_loop().create_future()
        self.taken.append((envelope.payload, future))
        return future


async def test_a_publisher_that_takes_when_called_gets_every_record_at_once_in_order(database):
    await commit(database, Noted(1), Noted(2), Noted(3), stream="a")
    await commit(database, Noted(4), stream="b")
    publisher = TakenWhenCalled()
    relaying = asyncio.ensure_future(OutboxRelay(database, publisher).relay_once())
    for _ in range(100):  # the relay's claim, then its hand-over: a few turns of the loop
        if len(publisher.taken) == 4:
            break
        await asyncio.sleep(0)
    # All four handed over before any is settled: no wait between the records of a stream.
    assert [payload for payload, _ in publisher.taken] == [
        b'{"n":1}', b'{"n":2}', b'{"n":3}', b'{"n":4}'
    ]  # fmt: skip
    settle = dict(publisher.taken)
    settle[b'{"n":2}'].set_exception(BrokerUnavailableError("its consumers stopped"))
    for payload in (b'{"n":1}', b'{"n":3}', b'{"n":4}'):
        settle[payload].set_result(None)
    assert await asyncio.wait_for(relaying, 5) == 2
    # 3 went too, but behind 2, which failed: it stays, to go again after 2, in order.
    assert [r.envelope.payload for r in database.unsent()] == [b'{"n":2}', b'{"n":3}']
