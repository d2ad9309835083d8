"""The in-memory database passes the database contract."""

import pytest

from atoll.errors import AlreadyExistsError, PersistenceError
from atoll.kernel.logs import log_context
from atoll.messaging.envelope import CREATED_AT, Delivery
from atoll.persistence.declaration import open_database
from atoll.persistence.memory import MemoryDatabase
from atoll.persistence.options import DatabaseOptions
from atoll.persistence.schema import Schema
from atoll.persistence.unit_of_work import UnitOfWork
from atoll.testing.database_contract import DatabaseContract


class TestMemoryDatabase(DatabaseContract):
    pooled = False

    @pytest.fixture
    def database_url(self):
        return "memory://"


@pytest.fixture
async def memory():
    contract = TestMemoryDatabase()
    database = open_database(
        DatabaseOptions(url="memory://"), TestMemoryDatabase.model.schema(), "memory"
    )
    await database.start()
    yield contract, database
    await database.stop()


async def test_what_a_unit_adds_it_gets_back_and_may_remove_before_commit(memory):
    contract, database = memory
    async with contract.uow(database) as uow:
        counter = await uow.counters.add(contract.model.Counter(None, "new"))
        assert await uow.counters.get(counter.id) is counter
        await uow.counters.remove(counter)
        await uow.commit()
    async with contract.uow(database) as uow:
        assert await uow.counters.find() == []


async def test_a_removed_aggregate_is_gone_within_the_unit(memory):
    contract, database = memory
    identity = await contract.add_counter(database)
    async with contract.uow(database) as uow:
        await uow.counters.remove(await uow.counters.get(identity))
        assert await uow.counters.get(identity) is None


async def test_removing_what_the_unit_did_not_get_is_refused(memory):
    contract, database = memory
    identity = await contract.add_counter(database)
    async with contract.uow(database) as uow:
        stranger = contract.model.Counter(identity)
        with pytest.raises(PersistenceError, match="this unit of work did not get it"):
            await uow.counters.remove(stranger)


async def test_find_by_an_unknown_attribute_names_the_known_ones(memory):
    contract, database = memory
    async with contract.uow(database) as uow:
        with pytest.raises(PersistenceError, match="no attribute colour to find by"):
            await uow.counters.find(colour="red")


async def test_find_in_finds_none_among_the_values_as_find_does(memory):
    contract, database = memory
    async with contract.uow(database) as uow:
        unnamed = await uow.counters.add(contract.model.Counter(None, None))
        named = await uow.counters.add(contract.model.Counter(None, "a"))
        assert await uow.counters.find_in("name", [None]) == await uow.counters.find(name=None)
        assert await uow.counters.find_in("name", [None]) == [unnamed]
        assert await uow.counters.find_in("name", ["a", None]) == [unnamed, named]


async def test_two_units_adding_one_id_conflict(memory):
    contract, database = memory
    first, second = contract.uow(database), contract.uow(database)
    async with first, second:
        await first.entries.add(contract.model.Entry(5, 1))
        await second.entries.add(contract.model.Entry(5, 2))
        await first.commit()
        with pytest.raises(AlreadyExistsError, match="exists already") as refused:
            await second.commit()
    assert refused.value.constraint.endswith("Entry.id")


async def test_a_transaction_is_over_after_its_commit(memory):
    _, database = memory
    transaction = await database.begin()
    await transaction.commit([], None)
    with pytest.raises(PersistenceError, match="this transaction is over"):
        await transaction.seen("a", "b")
    await transaction.rollback()  # never raises once over


async def test_a_unit_whose_entering_fails_ends_its_transaction(memory):
    contract, database = memory
    ended = []

    class Broken:
        async def seen(self, consumer, message_id):
            raise RuntimeError("inbox unreadable")

        async def rollback(self):
            ended.append("rollback")

    async def begin():
        return Broken()

    database.begin = begin
    with pytest.raises(RuntimeError, match="inbox unreadable"):
        async with contract.uow(database, Delivery("m", "c.h", {})):
            pytest.fail("the block must not run")
    assert ended == ["rollback"]


async def test_events_carry_their_sender_correlation_causation_and_trace_context():
    database = MemoryDatabase(DatabaseOptions(url="memory://"), Schema(), "runs")
    await database.start()
    async with UnitOfWork(database) as first:
        first.publish("a", "b")
        await first.commit()
    delivery = Delivery(
        "m-1", "stats.tally", {"correlation_id": "c-9", "traceparent": "00-ab-cd-01", "x": "y"}
    )
    async with UnitOfWork(database, delivery) as second:
        second.publish("c")
        await second.commit()
    async with UnitOfWork(database, Delivery("m-2", "stats.tally")) as third:
        third.publish("d")
        await third.commit()
    claim = await database.claim_outbox(10)
    sealed = [dict(record.envelope.headers) for record in claim.records]
    times = [float(headers.pop(CREATED_AT)) for headers in sealed]  # each its own
    assert times == sorted(times)
    a, b, c, d = sealed
    assert a == b  # one unit of work: one set of headers
    assert set(a) == {"sender", "correlation_id"}
    assert a["sender"] == "runs"
    assert len(a["correlation_id"]) == 32
    assert c == {
        "sender": "runs",
        "causation_id": "m-1",
        "correlation_id": "c-9",
        "traceparent": "00-ab-cd-01",
    }
    assert d == {"sender": "runs", "causation_id": "m-2", "correlation_id": "m-2"}


async def test_events_of_an_outside_call_carry_the_correlation_id_its_edge_gave():
    database = MemoryDatabase(DatabaseOptions(url="memory://"), Schema(), "runs")
    await database.start()
    with log_context(correlation_id="req-42"):
        async with UnitOfWork(database) as uow:
            uow.publish("a")
            await uow.commit()
    (record,) = (await database.claim_outbox(10)).records
    assert record.envelope.headers.items() >= {"sender": "runs", "correlation_id": "req-42"}.items()
    assert set(record.envelope.headers) == {"sender", "correlation_id", CREATED_AT}
