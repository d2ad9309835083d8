"""The database contract: what every adapter of the database port must do, as pytest tests.

Subclass :class:`DatabaseContract` in a test module and give it a ``database_url`` fixture;
every test of the contract then runs against that adapter::

    class TestMemory(DatabaseContract):
        @pytest.fixture
        def database_url(self) -> str:
            return "memory://"

An adapter that keeps tables overrides :meth:`DatabaseContract.tables` to build them for the
contract's aggregates, and :meth:`DatabaseContract.prepared` to create them. The in-memory
adapter and the SQL one (SQLite and PostgreSQL) run this same suite.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from atoll.errors import (
    AlreadyExistsError,
    ConflictError,
    DuplicateMessageError,
    IdempotencyKeyInUseError,
    PersistenceError,
)
from atoll.messaging.envelope import CREATED_AT, Delivery
from atoll.persistence.declaration import open_database
from atoll.persistence.idempotency import HOLD, KeyHold, KeyRecord, MemoryKeyStore
from atoll.persistence.options import DatabaseOptions
from atoll.persistence.ports import Database, OutboxBacklog
from atoll.persistence.repository import Repository
from atoll.persistence.schema import Schema
from atoll.persistence.unit_of_work import UnitOfWork
from atoll.testing.find_contract import FindContract
from atoll.testing.page_contract import PageContract

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["DatabaseContract", "Model"]


@dataclass(frozen=True)
class Counted:
    """The event the contract's counter raises."""

    counter: int
    value: int


@dataclass(frozen=True)
class Count:
    """The command of the contract's service: count once."""

    counter: int


class Model:
    """The contract's aggregates, made anew for each adapter so that mappings never mix."""

    def __init__(self, owner: str = "") -> None:
        @dataclass
        class Counter:
            id: int | None
            name: str = ""
            value: int = 0
            version: int = 0
            label: str = field(default="", compare=False)
            events: list[object] = field(default_factory=list, compare=False, repr=False)

            def count(self) -> None:
                self.value += 1
                self.events.append(Counted(self.id or 0, self.value))

        @dataclass(frozen=True)
        class Entry:
            id: int | None
            counter: int
            note: str = ""

        @dataclass
        class Tally:
            id: int | None
            value: int = 0

        # A module of their own for each adapter's classes: an ORM that looks classes up by
        # module and name must not take one adapter's Counter for another's.
        for made in (Counter, Entry, Tally):
            made.__module__ = f"{__name__}.{owner}" if owner else __name__
        self.Counter = Counter
        self.Entry = Entry
        self.Tally = Tally
        # Annotations given as objects: the class is made here, around this model's types.
        self.units = type(
            "ContractUnitOfWork",
            (UnitOfWork,),
            {
                "__annotations__": {
                    "counters": Repository[Counter],
                    "entries": Repository[Entry],
                    "tallies": Repository[Tally],
                }
            },
        )

    def schema(self, tables: dict[str, Any] | None = None, metadata: Any = None) -> Schema:
        """The contract's schema, with the adapter's tables if it keeps any."""
        tables = tables or {}
        schema = Schema(metadata)
        schema.map(self.Counter, tables.get("counter"), version="version")
        schema.map(self.Entry, tables.get("entry"))
        schema.map(self.Tally, tables.get("tally"))
        return schema


class DatabaseContract(FindContract, PageContract):
    """The tests every database adapter passes. Subclasses give a ``database_url`` fixture.

    Its tests of pages are :class:`~atoll.testing.page_contract.PageContract`'s, and of
    finds by several values :class:`~atoll.testing.find_contract.FindContract`'s.
    """

    model: ClassVar[Model]
    service: ClassVar[str] = "contract"
    pooled: ClassVar[bool] = True
    """Whether the database keeps a pool of connections (memory keeps none)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.model = Model(f"{cls.__module__}.{cls.__qualname__}")

    def tables(self) -> tuple[Any, dict[str, Any]]:
        """The adapter's metadata and its tables for :class:`Model`: counter, entry, tally."""
        return None, {}

    async def prepared(self, database: Database) -> None:
        """Make the database ready for a test: empty tables for the model."""

    # -- fixtures ----------------------------------------------------------------------------

    @pytest.fixture
    def database_options(self, database_url: str) -> DatabaseOptions:
        """The options the contract's database is opened with."""
        # migrate="never": each test makes its tables (prepared), so none are checked at start.
        return DatabaseOptions(
            url=database_url, conflict_retries=3, conflict_backoff=0.001, migrate="never"
        )

    @pytest.fixture
    async def database(self, database_options: DatabaseOptions) -> AsyncIterator[Database]:
        """A started database holding the contract's (empty) tables."""
        metadata, tables = self.tables()
        schema = self.model.schema(tables, metadata)
        database = open_database(database_options, schema, self.service)
        await database.start()
        try:
            await self.prepared(database)
            yield database
        finally:
            await database.stop()

    def uow(self, database: Database, delivery: Delivery | None = None) -> Any:
        """A unit of work with a ``counters`` and an ``entries`` repository."""
        return self.model.units(database, delivery or Delivery())

    async def add_counter(self, database: Database, name: str = "c") -> int:
        """A committed new counter's id."""
        async with self.uow(database) as uow:
            counter = await uow.counters.add(self.model.Counter(None, name))
            await uow.commit()
        identity: int = counter.id
        return identity

    # -- aggregates --------------------------------------------------------------------------

    async def test_add_assigns_an_id_and_commit_keeps_the_aggregate(
        self, database: Database
    ) -> None:
        first = await self.add_counter(database, "a")
        second = await self.add_counter(database, "b")
        assert first != second
        async with self.uow(database) as uow:
            counter = await uow.counters.get(second)
            assert (counter.id, counter.name, counter.value) == (second, "b", 0)

    async def test_an_id_given_is_kept(self, database: Database) -> None:
        async with self.uow(database) as uow:
            await uow.entries.add(self.model.Entry(40, 1, "forty"))
            await uow.commit()
        async with self.uow(database) as uow:
            assert (await uow.entries.get(40)).note == "forty"

    async def test_adding_an_id_that_exists_is_refused_not_a_conflict(
        self, database: Database
    ) -> None:
        async with self.uow(database) as uow:
            await uow.entries.add(self.model.Entry(41, 1, "first"))
            await uow.commit()
        with pytest.raises(AlreadyExistsError) as refused:  # on add, or on commit
            async with self.uow(database) as uow:
                await uow.entries.add(self.model.Entry(41, 2, "second"))
                await uow.commit()
        assert not isinstance(refused.value, ConflictError)  # never run again
        assert "exists already" in str(refused.value)
        async with self.uow(database) as uow:
            assert (await uow.entries.get(41)).note == "first"

    async def test_leaving_without_commit_rolls_back(self, database: Database) -> None:
        async with self.uow(database) as uow:
            counter = await uow.counters.add(self.model.Counter(None, "gone"))
        async with self.uow(database) as uow:
            assert await uow.counters.get(counter.id) is None
            assert await uow.counters.find(name="gone") == []

    async def test_an_error_in_the_block_rolls_back(self, database: Database) -> None:
        identity = await self.add_counter(database)
        with pytest.raises(ZeroDivisionError):
            async with self.uow(database) as uow:
                (await uow.counters.get(identity)).count()
                _ = 1 / 0
        async with self.uow(database) as uow:
            assert (await uow.counters.get(identity)).value == 0

    async def test_rollback_forgets_the_changes(self, database: Database) -> None:
        identity = await self.add_counter(database)
        async with self.uow(database) as uow:
            (await uow.counters.get(identity)).count()
            await uow.rollback()
        async with self.uow(database) as uow:
            assert (await uow.counters.get(identity)).value == 0

    async def test_uncommitted_changes_are_not_seen_by_another_unit(
        self, database: Database
    ) -> None:
        identity = await self.add_counter(database)
        async with self.uow(database) as writer:
            (await writer.counters.get(identity)).count()
            assert [c.value for c in await writer.counters.find()] == [1]  # written, uncommitted
            async with self.uow(database) as reader:
                assert (await reader.counters.get(identity)).value == 0
            await writer.commit()
        async with self.uow(database) as reader:
            assert (await reader.counters.get(identity)).value == 1

    async def test_get_gives_the_same_object_within_a_unit(self, database: Database) -> None:
        identity = await self.add_counter(database)
        async with self.uow(database) as uow:
            assert await uow.counters.get(identity) is await uow.counters.get(identity)

    async def test_get_of_an_unknown_id_is_none(self, database: Database) -> None:
        async with self.uow(database) as uow:
            assert await uow.counters.get(987654) is None

    async def test_find_filters_by_attributes_in_id_order(self, database: Database) -> None:
        async with self.uow(database) as uow:
            for note, counter in (("x", 2), ("y", 1), ("z", 2)):
                await uow.entries.add(self.model.Entry(None, counter, note))
            await uow.commit()
        async with self.uow(database) as uow:
            assert [e.note for e in await uow.entries.find(counter=2)] == ["x", "z"]
            assert [e.note for e in await uow.entries.find()] == ["x", "y", "z"]
            assert [e.note for e in await uow.entries.find(counter=2, note="z")] == ["z"]

    async def test_remove_deletes(self, database: Database) -> None:
        identity = await self.add_counter(database)
        async with self.uow(database) as uow:
            await uow.counters.remove(await uow.counters.get(identity))
            await uow.commit()
        async with self.uow(database) as uow:
            assert await uow.counters.get(identity) is None

    # -- concurrency -------------------------------------------------------------------------

    async def test_of_two_concurrent_changes_the_second_commit_is_a_conflict(
        self, database: Database
    ) -> None:
        identity = await self.add_counter(database)
        first, second = self.uow(database), self.uow(database)
        async with first, second:
            (await first.counters.get(identity)).count()
            (await second.counters.get(identity)).count()
            await first.commit()
            with pytest.raises(ConflictError) as conflict:
                await second.commit()
        assert conflict.value.retries == 3
        assert conflict.value.backoff == 0.001
        async with self.uow(database) as uow:
            counter = await uow.counters.get(identity)
            assert (counter.value, counter.version) == (1, 1)

    async def test_each_commit_adds_one_to_the_version(self, database: Database) -> None:
        identity = await self.add_counter(database)
        for expected in (1, 2):
            async with self.uow(database) as uow:
                counter = await uow.counters.get(identity)
                counter.count()
                await uow.commit()
            assert counter.version == expected

    async def test_a_commit_that_writes_twice_adds_one_to_the_version(
        self, database: Database
    ) -> None:
        identity = await self.add_counter(database)
        async with self.uow(database) as uow:
            counter = await uow.counters.get(identity)
            counter.count()
            await uow.counters.find()  # a query between two changes writes the first
            counter.count()
            await uow.commit()
        async with self.uow(database) as uow:
            counter = await uow.counters.get(identity)
            assert (counter.value, counter.version) == (2, 1)

    async def test_a_change_to_a_field_left_out_of_comparisons_is_kept(
        self, database: Database
    ) -> None:
        identity = await self.add_counter(database)
        async with self.uow(database) as uow:
            (await uow.counters.get(identity)).label = "kept"
            await uow.commit()
        async with self.uow(database) as uow:
            assert (await uow.counters.get(identity)).label == "kept"

    async def test_of_two_changes_to_an_unversioned_aggregate_the_last_commit_stays(
        self, database: Database
    ) -> None:
        async with self.uow(database) as uow:
            tally = await uow.tallies.add(self.model.Tally(None))
            await uow.commit()
        first, second = self.uow(database), self.uow(database)
        async with first:
            (await first.tallies.get(tally.id)).value = 1
            async with second:
                (await second.tallies.get(tally.id)).value = 2
                await second.commit()
            await first.commit()
        async with self.uow(database) as uow:
            assert (await uow.tallies.get(tally.id)).value == 1

    async def test_reading_what_another_changed_is_no_conflict(self, database: Database) -> None:
        identity = await self.add_counter(database)
        other = await self.add_counter(database)
        reader, writer = self.uow(database), self.uow(database)
        async with reader, writer:
            await reader.counters.get(identity)
            (await reader.counters.get(other)).count()
            (await writer.counters.get(identity)).count()
            await writer.commit()
            await reader.commit()
        async with self.uow(database) as uow:
            assert (await uow.counters.get(identity)).value == 1
            assert (await uow.counters.get(other)).value == 1

    # -- outbox ------------------------------------------------------------------------------

    async def unsent(self, database: Database) -> list[tuple[str, bytes]]:
        """The unsent envelopes' streams and payloads, in order; they stay unsent."""
        claim = await database.claim_outbox(1000)
        found = [(r.envelope.stream, r.envelope.payload) for r in claim.records]
        await claim.settle([])
        return found

    async def test_commit_writes_the_events_raised_to_the_outbox_in_order(
        self, database: Database
    ) -> None:
        identity = await self.add_counter(database)
        async with self.uow(database) as uow:
            counter = await uow.counters.get(identity)
            counter.count()
            counter.count()
            uow.publish(Counted(0, -1))
            await uow.commit()
        assert counter.events == []
        stream = f"Counter:{identity}"
        assert await self.unsent(database) == [
            (stream, b'{"counter":%d,"value":1}' % identity),
            (stream, b'{"counter":%d,"value":2}' % identity),
            ("", b'{"counter":0,"value":-1}'),
        ]

    async def test_nothing_reaches_the_outbox_without_a_commit(self, database: Database) -> None:
        identity = await self.add_counter(database)
        async with self.uow(database) as uow:
            (await uow.counters.get(identity)).count()
            uow.publish(Counted(0, 0))
        assert await self.unsent(database) == []

    async def test_events_of_a_new_aggregate_are_in_its_stream(self, database: Database) -> None:
        async with self.uow(database) as uow:
            counter = await uow.counters.add(self.model.Counter(None))
            counter.count()
            await uow.commit()
        assert [stream for stream, _ in await self.unsent(database)] == [f"Counter:{counter.id}"]

    async def test_a_conflict_writes_no_event(self, database: Database) -> None:
        identity = await self.add_counter(database)
        first, second = self.uow(database), self.uow(database)
        async with first, second:
            (await first.counters.get(identity)).count()
            (await second.counters.get(identity)).count()
            await first.commit()
            with pytest.raises(ConflictError):
                await second.commit()
        assert len(await self.unsent(database)) == 1

    async def test_settled_records_are_not_claimed_again(self, database: Database) -> None:
        async with self.uow(database) as uow:
            uow.publish(Counted(1, 1), Counted(2, 2), Counted(3, 3))
            await uow.commit()
        claim = await database.claim_outbox(2)
        assert len(claim.records) == 2
        await claim.settle([claim.records[0].position])
        rest = await database.claim_outbox(10)
        assert [r.envelope.payload for r in rest.records] == [
            b'{"counter":2,"value":2}',
            b'{"counter":3,"value":3}',
        ]
        await rest.settle([r.position for r in rest.records])
        empty = await database.claim_outbox(10)
        assert list(empty.records) == []
        await empty.settle([])

    async def test_the_backlog_counts_the_unsent_records_and_dates_the_oldest(
        self, database: Database
    ) -> None:
        assert await database.outbox_backlog() == OutboxBacklog(0, None)
        before = time.time()
        async with self.uow(database) as uow:
            uow.publish(Counted(1, 1), Counted(2, 2))
            await uow.commit()
        async with self.uow(database) as uow:
            uow.publish(Counted(3, 3))
            await uow.commit()
        backlog = await database.outbox_backlog()
        assert backlog.pending == 3
        assert backlog.oldest is not None
        # The database's clock dates a commit (PostgreSQL's now()): a second either side.
        assert before - 1 <= backlog.oldest <= time.time() + 1
        claim = await database.claim_outbox(2)  # the first commit's: the oldest go
        await claim.settle([record.position for record in claim.records])
        left = await database.outbox_backlog()
        assert left.pending == 1
        assert left.oldest is not None
        assert left.oldest >= backlog.oldest
        rest = await database.claim_outbox(10)
        await rest.settle([record.position for record in rest.records])
        assert await database.outbox_backlog() == OutboxBacklog(0, None)

    async def test_the_pool_counts_the_connection_a_transaction_holds(
        self, database: Database
    ) -> None:
        before = database.pool_usage()
        if not self.pooled:
            assert before is None
            return
        assert before is not None
        assert before.pending == 0
        assert before.max >= 1
        async with self.uow(database) as uow:
            await uow.counters.find()  # the transaction holds its connection
            during = database.pool_usage()
            assert during is not None
            assert during.used == before.used + 1
        after = database.pool_usage()
        assert after is not None
        assert after.used == before.used

    async def test_envelopes_keep_their_id_type_and_headers(self, database: Database) -> None:
        before = time.time()
        delivery = Delivery("cause", "contract.count", {"correlation_id": "corr"})
        async with self.uow(database, delivery) as uow:
            uow.publish(Counted(1, 1))
            await uow.commit()
        claim = await database.claim_outbox(10)
        (record,) = claim.records
        await claim.settle([record.position])
        envelope = record.envelope
        assert len(envelope.id) == 32
        assert envelope.type == "atoll.testing.database_contract.Counted"
        headers = dict(envelope.headers)
        assert before <= float(headers.pop(CREATED_AT)) <= time.time()  # when it was sealed
        assert headers == {
            "sender": self.service,
            "causation_id": "cause",
            "correlation_id": "corr",
        }

    # -- inbox -------------------------------------------------------------------------------

    async def test_a_delivery_seen_before_is_refused_on_entering(self, database: Database) -> None:
        delivery = Delivery("m-1", "contract.entries", {})
        async with self.uow(database, delivery) as uow:
            await uow.entries.add(self.model.Entry(None, 1))
            await uow.commit()
        with pytest.raises(DuplicateMessageError):
            async with self.uow(database, delivery):
                pytest.fail("the handler's block must not run")
        async with self.uow(database) as uow:
            assert len(await uow.entries.find()) == 1

    async def test_the_inbox_is_kept_per_consumer(self, database: Database) -> None:
        for consumer in ("contract.a", "contract.b"):
            async with self.uow(database, Delivery("m-2", consumer, {})) as uow:
                await uow.entries.add(self.model.Entry(None, 2))
                await uow.commit()
        async with self.uow(database) as uow:
            assert len(await uow.entries.find(counter=2)) == 2

    async def test_of_twin_deliveries_in_flight_one_commits(self, database: Database) -> None:
        delivery = Delivery("m-3", "contract.entries", {})
        first, second = self.uow(database, delivery), self.uow(database, delivery)
        async with second:  # entered while the message is still new to the inbox
            async with first:
                await first.entries.add(self.model.Entry(None, 3))
                await first.commit()
            await second.entries.add(self.model.Entry(None, 3))
            with pytest.raises(DuplicateMessageError):
                await second.commit()
        async with self.uow(database) as uow:
            assert len(await uow.entries.find(counter=3)) == 1

    async def test_a_rolled_back_delivery_is_not_in_the_inbox(self, database: Database) -> None:
        delivery = Delivery("m-4", "contract.entries", {})
        async with self.uow(database, delivery) as uow:
            await uow.entries.add(self.model.Entry(None, 4))
        async with self.uow(database, delivery) as uow:
            await uow.commit()

    # -- idempotency keys --------------------------------------------------------------------

    @staticmethod
    def key_record(key: str = "k", owner: str = "first", **changes: Any) -> KeyRecord:
        """A record of ``key``, held by ``owner``, locked for a minute, kept for a day."""
        values: dict[str, Any] = {
            "scope": "caller",
            "key": key,
            "fingerprint": "f" * 64,
            "owner": owner,
            "locked_until": 1_000_060.0,
            "expires_at": 1_086_400.0,
        }
        return KeyRecord(**{**values, **changes})

    async def test_a_key_is_reserved_by_one_request(self, database: Database) -> None:
        keys = database.keys
        assert await keys.get("caller", "k") is None
        assert await keys.put(self.key_record(owner="first"), None)
        assert not await keys.put(self.key_record(owner="second"), None)
        assert await keys.get("caller", "k") == self.key_record(owner="first")
        assert await keys.get("another caller", "k") is None

    async def test_a_key_is_taken_over_only_from_the_holder_seen(self, database: Database) -> None:
        keys = database.keys
        first = self.key_record(owner="first")
        await keys.put(first, None)
        second = self.key_record(owner="second", locked_until=1_000_120.0)
        assert await keys.put(second, first)
        assert not await keys.put(self.key_record(owner="third"), first)  # first's is gone
        assert await keys.get("caller", "k") == second

    async def test_a_holder_that_committed_or_answered_meanwhile_keeps_its_key(
        self, database: Database
    ) -> None:
        # A retry read the key as abandoned; before it took it over, the slow holder committed
        # (or answered): the take-over is refused, so that the effect is not run twice.
        keys = database.keys
        for key, done in (("committed", "commit"), ("answered", "answer")):
            read = self.key_record(key)
            await keys.put(read, None)
            if done == "commit":
                token = HOLD.set(KeyHold(keys, "caller", key, "first"))
                try:
                    async with self.uow(database) as uow:
                        await uow.entries.add(self.model.Entry(None, 54))
                        await uow.commit()
                finally:
                    HOLD.reset(token)
            else:
                await keys.answer("caller", key, "first", b"1")
            assert not await keys.put(self.key_record(key, owner="retry"), read)
            kept = await keys.get("caller", key)
            assert kept is not None
            assert kept.owner == "first"

    async def test_the_answer_is_kept_for_the_holder_only(self, database: Database) -> None:
        keys = database.keys
        await keys.put(self.key_record(owner="first"), None)
        assert not await keys.answer("caller", "k", "second", b"theirs")
        assert await keys.answer("caller", "k", "first", b'{"id":1}')
        kept = await keys.get("caller", "k")
        assert kept is not None
        assert (kept.response, kept.locked_until) == (b'{"id":1}', 0)

    async def test_a_released_key_is_forgotten_unless_committed(self, database: Database) -> None:
        keys = database.keys
        await keys.put(self.key_record("a"), None)
        await keys.put(self.key_record("b", committed=True), None)
        await keys.release("caller", "a", "another owner")
        assert await keys.get("caller", "a") is not None
        await keys.release("caller", "a", "first")
        await keys.release("caller", "b", "first")
        assert await keys.get("caller", "a") is None
        assert await keys.get("caller", "b") is not None

    async def test_expired_keys_are_purged(self, database: Database) -> None:
        keys = database.keys
        await keys.put(self.key_record("old", expires_at=10.0), None)
        await keys.put(self.key_record("new", expires_at=30.0), None)
        assert await keys.purge(20.0) == 1
        assert await keys.get("caller", "old") is None
        assert await keys.get("caller", "new") is not None

    async def test_a_commit_marks_the_key_it_holds_with_its_effect(
        self, database: Database
    ) -> None:
        keys = database.keys
        await keys.put(self.key_record(), None)
        hold = KeyHold(keys, "caller", "k", "first")
        token = HOLD.set(hold)
        try:
            async with self.uow(database) as uow:
                await uow.entries.add(self.model.Entry(None, 50))
                assert not (await keys.get("caller", "k")).committed  # type: ignore[union-attr]
                await uow.commit()
        finally:
            HOLD.reset(token)
        assert hold.committed
        assert (await keys.get("caller", "k")).committed  # type: ignore[union-attr]

    async def test_a_commit_whose_key_was_taken_over_writes_nothing(
        self, database: Database
    ) -> None:
        keys = database.keys
        first = self.key_record()
        await keys.put(first, None)
        await keys.put(self.key_record(owner="retry"), first)  # its lock ran out meanwhile
        hold = KeyHold(keys, "caller", "k", "first")
        token = HOLD.set(hold)
        try:
            with pytest.raises(IdempotencyKeyInUseError, match="taken over"):
                async with self.uow(database) as uow:
                    await uow.entries.add(self.model.Entry(None, 51))
                    await uow.commit()
        finally:
            HOLD.reset(token)
        assert not hold.committed
        async with self.uow(database) as uow:
            assert await uow.entries.find(counter=51) == []
        assert not (await keys.get("caller", "k")).committed  # type: ignore[union-attr]

    async def test_a_rolled_back_unit_leaves_its_key_uncommitted(self, database: Database) -> None:
        keys = database.keys
        await keys.put(self.key_record(), None)
        token = HOLD.set(KeyHold(keys, "caller", "k", "first"))
        try:
            async with self.uow(database) as uow:
                await uow.entries.add(self.model.Entry(None, 52))
        finally:
            HOLD.reset(token)
        assert not (await keys.get("caller", "k")).committed  # type: ignore[union-attr]

    async def test_a_key_kept_elsewhere_is_left_alone(self, database: Database) -> None:
        elsewhere = MemoryKeyStore()  # another service's database
        hold = KeyHold(elsewhere, "caller", "k", "first")
        token = HOLD.set(hold)
        try:
            async with self.uow(database) as uow:
                await uow.entries.add(self.model.Entry(None, 53))
                await uow.commit()
        finally:
            HOLD.reset(token)
        assert not hold.committed
        async with self.uow(database) as uow:
            assert len(await uow.entries.find(counter=53)) == 1

    # -- leases ------------------------------------------------------------------------------

    @staticmethod
    async def until_free(database: Database, name: str, within: float = 30.0) -> None:
        """Wait until the lease ``name`` runs out: poll its holder, for ``within`` at most."""
        async with asyncio.timeout(within):
            while await database.leases.holder(name) is not None:  # noqa: ASYNC110 - a row, not an event
                await asyncio.sleep(0.02)

    async def test_a_free_lease_is_taken_and_refused_to_another(self, database: Database) -> None:
        leases = database.leases
        assert await leases.holder("timers") is None
        assert await leases.acquire("timers", "a", 30)
        assert await leases.holder("timers") == "a"
        assert not await leases.acquire("timers", "b", 30)
        assert await leases.holder("timers") == "a"

    async def test_each_name_is_a_lease_of_its_own(self, database: Database) -> None:
        leases = database.leases
        assert await leases.acquire("timers", "a", 30)
        assert await leases.acquire("reports", "b", 30)
        assert (await leases.holder("timers"), await leases.holder("reports")) == ("a", "b")

    async def test_the_holder_renews_its_lease_for_a_new_ttl(self, database: Database) -> None:
        leases = database.leases
        assert await leases.acquire("timers", "a", 0.2)
        assert await leases.acquire("short", "a", 0.2)  # taken with it, left to run out
        assert await leases.acquire("timers", "a", 30)  # renewed
        await self.until_free(database, "short")
        assert await leases.holder("timers") == "a"  # its first ttl is past: renewed
        assert not await leases.acquire("timers", "b", 30)

    async def test_an_expired_lease_is_taken_by_another(self, database: Database) -> None:
        leases = database.leases
        assert await leases.acquire("timers", "a", 0.2)
        await self.until_free(database, "timers")
        assert await leases.acquire("timers", "b", 30)
        assert await leases.holder("timers") == "b"
        assert not await leases.acquire("timers", "a", 30)  # the old holder does not renew

    async def test_a_released_lease_is_free_for_another_at_once(self, database: Database) -> None:
        leases = database.leases
        assert await leases.acquire("timers", "a", 30)
        await leases.release("timers", "a")
        assert await leases.holder("timers") is None
        assert await leases.acquire("timers", "b", 30)
        assert await leases.holder("timers") == "b"

    async def test_a_release_by_another_than_the_holder_changes_nothing(
        self, database: Database
    ) -> None:
        leases = database.leases
        await leases.release("timers", "b")  # nobody holds it: nothing to do
        assert await leases.acquire("timers", "a", 30)
        await leases.release("timers", "b")
        assert await leases.holder("timers") == "a"
        assert not await leases.acquire("timers", "b", 30)

    async def test_of_holders_racing_for_a_lease_one_gets_it(self, database: Database) -> None:
        leases = database.leases
        holders = [f"instance-{n}" for n in range(8)]  # each call on a connection of its own
        taken = await asyncio.gather(*(leases.acquire("race", h, 30) for h in holders))
        assert taken.count(True) == 1
        assert await leases.holder("race") == holders[taken.index(True)]
        # Racing again for a lease that has a holder: none of the others gets it.
        again = await asyncio.gather(*(leases.acquire("race", h, 30) for h in holders))
        assert again == taken

    async def test_bad_lease_arguments_are_refused_with_the_fix(self, database: Database) -> None:
        leases = database.leases
        long = "x" * 201
        for call in (
            leases.acquire("", "a", 30),
            leases.acquire(long, "a", 30),
            leases.acquire("timers", "", 30),
            leases.acquire("timers", long, 30),
            leases.release("", "a"),
            leases.release("timers", ""),
            leases.holder(""),
            leases.holder(long),
        ):
            with pytest.raises(ValueError, match=r"1 to 200 characters; got .*: give one such as"):
                await call
        for ttl in (0, -1.0, float("nan"), float("inf")):
            with pytest.raises(ValueError, match=r"ttl is a finite number of seconds above 0"):
                await leases.acquire("timers", "a", ttl)
        assert await leases.holder("timers") is None  # nothing was taken

    # -- misuse ------------------------------------------------------------------------------

    async def test_a_unit_is_entered_once(self, database: Database) -> None:
        uow = self.uow(database)
        async with uow:
            await uow.commit()
        with pytest.raises(PersistenceError, match="entered once"):
            async with uow:
                pass

    async def test_a_repository_outside_the_block_says_how_to_use_it(
        self, database: Database
    ) -> None:
        uow = self.uow(database)
        with pytest.raises(PersistenceError, match="is not entered"):
            await uow.counters.get(1)
        async with uow:
            await uow.commit()
        with pytest.raises(PersistenceError, match="is over"):
            await uow.counters.get(1)

    # -- the whole path ----------------------------------------------------------------------

    async def test_concurrent_increments_of_one_aggregate_all_count(
        self, database_url: str
    ) -> None:
        """N handler calls changing one aggregate at once, retried on conflict, end at N."""
        from atoll.service.runnable import Service  # noqa: PLC0415 - the contract's own service
        from atoll.testing.harness import run  # noqa: PLC0415 - as above

        model = self.model
        metadata, tables = self.tables()
        schema = model.schema(tables, metadata)
        service = Service(self.service)

        units = model.units
        service.database(schema, units)

        async def count(command: Count, uow: UnitOfWork) -> None:
            async with uow:
                counter = await uow.counters.get(command.counter)  # type: ignore[attr-defined]
                counter.count()
                await asyncio.sleep(0)  # let the others read the same version
                await uow.commit()

        # The hints as objects: the unit-of-work class is this model's, made at run time.
        count.__annotations__ = {"command": Count, "uow": units, "return": None}
        service.command(Count)(count)

        calls = 20
        argv = ["--db-url", database_url, "--db-conflict-retries", "60", "--no-db-relay"]
        async with run(service, argv=argv) as harness:
            database: Database = harness.container.get(Database, self.service)
            await self.prepared(database)
            identity = await self.add_counter(database)
            await asyncio.gather(*(harness.send(Count(identity)) for _ in range(calls)))
            async with self.uow(database) as uow:
                counter = await uow.counters.get(identity)
                assert counter.value == calls
                assert counter.version == calls
            events = [e for _, e in await self.unsent(database)]
            expected = [b'{"counter":%d,"value":%d}' % (identity, n + 1) for n in range(calls)]
            assert events == expected
