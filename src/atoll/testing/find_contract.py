"""The database contract's finds by several values, as every adapter of the port must serve them.

:class:`FindContract` is part of :class:`~atoll.testing.database_contract.DatabaseContract`,
which mixes it in: it runs against every adapter the contract runs against. Its tests find
the contract's entries (``counter``, ``note``) by several counters at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from atoll.errors import PersistenceError

if TYPE_CHECKING:
    from atoll.persistence.ports import Database

__all__ = ["FindContract"]

ENTRIES = [(2, "a"), (1, "b"), (3, "c"), (2, "d"), (4, "e"), (1, "f")]
"""The entries each test adds, by (counter, note), in this order: ids ascending."""


class FindContract:
    """The tests of :meth:`~atoll.persistence.repository.Repository.find_in` on one adapter.

    The database contract gives what these ask: :meth:`uow`, and ``model`` with an ``Entry``
    and a ``Counter``.
    """

    model: ClassVar[Any]

    def uow(self, database: Database) -> Any:
        """A unit of work with ``counters`` and ``entries`` (the database contract's)."""
        raise NotImplementedError

    async def add_entries(self, database: Database) -> None:
        """The entries of :data:`ENTRIES`, added and committed."""
        async with self.uow(database) as uow:
            for counter, note in ENTRIES:
                await uow.entries.add(self.model.Entry(None, counter, note))
            await uow.commit()

    async def notes(self, database: Database, *values: object, **equals: object) -> str:
        """The notes of the entries whose counter is one of ``values``, in the order found."""
        async with self.uow(database) as uow:
            found = await uow.entries.find_in("counter", values, **equals)
        return "".join(entry.note for entry in found)

    async def test_find_in_finds_each_value_in_id_order(self, database: Database) -> None:
        await self.add_entries(database)
        assert await self.notes(database, 1, 2) == "abdf"
        assert await self.notes(database, 4, 3, 1) == "bcef"  # the ids' order, not the values'

    async def test_find_in_leaves_out_values_nothing_has(self, database: Database) -> None:
        await self.add_entries(database)
        assert await self.notes(database, 9, 99) == ""
        assert await self.notes(database, 9, 3, 99) == "c"

    async def test_find_in_finds_an_aggregate_once_for_a_repeated_value(
        self, database: Database
    ) -> None:
        await self.add_entries(database)
        assert await self.notes(database, 3, 1, 3, 3, 1) == "bcf"

    async def test_find_in_filters_by_the_equals_as_well(self, database: Database) -> None:
        await self.add_entries(database)
        assert await self.notes(database, 1, 2, note="d") == "d"
        assert await self.notes(database, 1, 2, note="c") == ""
        assert await self.notes(database, 1, 2, counter=1) == "bf"  # both hold

    async def test_find_in_of_no_value_finds_nothing(self, database: Database) -> None:
        await self.add_entries(database)
        assert await self.notes(database) == ""
        async with self.uow(database) as uow:
            assert await uow.entries.find_in("counter", iter(())) == []

    async def test_find_in_takes_any_iterable_of_values(self, database: Database) -> None:
        await self.add_entries(database)
        async with self.uow(database) as uow:
            found = await uow.entries.find_in("counter", (n for n in (3, 4)))
            assert [entry.note for entry in found] == ["c", "e"]

    async def test_find_in_sees_what_the_unit_added_before_it_commits(
        self, database: Database
    ) -> None:
        await self.add_entries(database)
        async with self.uow(database) as uow:
            await uow.entries.add(self.model.Entry(None, 3, "g"))
            found = await uow.entries.find_in("counter", [3])
            assert [entry.note for entry in found] == ["c", "g"]

    async def test_find_in_by_an_unmapped_attribute_is_refused_with_the_mapped_ones(
        self, database: Database
    ) -> None:
        async with self.uow(database) as uow:
            for values in ([1], []):  # no value to find is no excuse for a misspelt name
                with pytest.raises(PersistenceError, match="no attribute colour to find by; its"):
                    await uow.entries.find_in("colour", values)
                with pytest.raises(PersistenceError, match="no attribute colour to find by; its"):
                    await uow.entries.find_in("counter", values, colour="red")

    async def test_find_in_gives_the_units_objects_and_commit_writes_their_changes(
        self, database: Database
    ) -> None:
        async with self.uow(database) as uow:
            first = await uow.counters.add(self.model.Counter(None, "first"))
            second = await uow.counters.add(self.model.Counter(None, "second"))
            await uow.commit()
        async with self.uow(database) as uow:
            found = await uow.counters.find_in("id", [second.id, first.id])
            assert [counter.name for counter in found] == ["first", "second"]
            assert found[0] is await uow.counters.get(first.id)
            for counter in found:
                counter.count()
            await uow.commit()
        async with self.uow(database) as uow:
            counters = await uow.counters.find_in("name", ["first", "second"])
            assert [(counter.value, counter.version) for counter in counters] == [(1, 1), (1, 1)]
