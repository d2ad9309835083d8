"""The database contract's pages: paging by key, as every adapter of the port must serve it.

:class:`PageContract` is part of :class:`~atoll.testing.database_contract.DatabaseContract`,
which mixes it in: it runs against every adapter the contract runs against. Its tests page
through the contract's counters (``name``, ``value``, shared by many) and entries.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from atoll.errors import InvalidPageError, PersistenceError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from atoll.persistence.pages import Page
    from atoll.persistence.ports import Database

__all__ = ["PageContract"]

ROWS = [("d", 2), ("b", 1), ("a", 2), ("c", 1), ("b", 2), ("a", 1), ("b", 1)]
"""The counters each test adds, by (name, value): ids 1 to 7 in this order."""


class PageContract:
    """The tests of :meth:`~atoll.persistence.repository.Repository.page` on one adapter.

    The database contract gives what these ask: :meth:`uow`, and ``model`` with a
    ``Counter`` and an ``Entry``.
    """

    model: ClassVar[Any]

    def uow(self, database: Database) -> Any:
        """A unit of work with ``counters`` and ``entries`` (the database contract's)."""
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------------

    async def add_rows(self, database: Database) -> list[int]:
        """The ids of the counters of :data:`ROWS`, added and committed."""
        async with self.uow(database) as uow:
            added = [await uow.counters.add(self.model.Counter(None, n, v)) for n, v in ROWS]
            await uow.commit()
        return [counter.id for counter in added]

    async def page(self, database: Database, **asked: Any) -> Page[Any]:
        """One page of counters, in a unit of work of its own."""
        async with self.uow(database) as uow:
            page: Page[Any] = await uow.counters.page(**asked)
        return page

    async def walk(self, database: Database, size: int, **asked: Any) -> list[Page[Any]]:
        """Every page of counters, first to last (or last to first, ``backward``)."""
        backward = asked.pop("backward", False)
        pages: list[Page[Any]] = []
        cursor: str | None = None
        while not pages or (pages[-1].has_previous if backward else pages[-1].has_next):
            if backward:
                pages.append(await self.page(database, last=size, before=cursor, **asked))
                cursor = pages[-1].start_cursor
            else:
                pages.append(await self.page(database, first=size, after=cursor, **asked))
                cursor = pages[-1].end_cursor
            assert len(pages) <= len(ROWS) + 1, "the pages never end"
        return pages

    @staticmethod
    def ids(pages: Sequence[Page[Any]]) -> list[list[int]]:
        """The ids on each page."""
        return [[counter.id for counter in page.items] for page in pages]

    @staticmethod
    def joined(pages: Sequence[Page[Any]]) -> list[int]:
        """The ids of the pages, one after the other."""
        return list(itertools.chain.from_iterable(PageContract.ids(pages)))

    # -- paging through --------------------------------------------------------------------

    async def test_pages_forward_through_every_aggregate_by_id(self, database: Database) -> None:
        ids = await self.add_rows(database)
        pages = await self.walk(database, 3)
        assert self.ids(pages) == [ids[0:3], ids[3:6], ids[6:7]]
        assert [page.has_next for page in pages] == [True, True, False]
        assert [page.has_previous for page in pages] == [False, True, True]

    async def test_pages_backward_give_each_page_in_ascending_order(
        self, database: Database
    ) -> None:
        ids = await self.add_rows(database)
        pages = await self.walk(database, 3, backward=True)
        assert self.ids(pages) == [ids[4:7], ids[1:4], ids[0:1]]
        assert [page.has_previous for page in pages] == [True, True, False]
        assert [page.has_next for page in pages] == [False, True, True]

    @pytest.mark.parametrize("size", [1, 2, 3, 4, 6, 7, 8])
    async def test_pages_of_every_size_hold_every_aggregate_once(
        self, database: Database, size: int
    ) -> None:
        ids = await self.add_rows(database)
        forward = await self.walk(database, size, order_by="-value")
        backward = await self.walk(database, size, order_by="-value", backward=True)
        by_value = [ids[i] for i in sorted(range(len(ROWS)), key=lambda i: (-ROWS[i][1], ids[i]))]
        assert self.joined(forward) == self.joined(backward[::-1]) == by_value
        assert all(len(page) == size for page in forward[:-1])
        assert all(len(page) == size for page in backward[:-1])

    async def test_each_item_has_its_cursor_and_the_page_its_ends(self, database: Database) -> None:
        await self.add_rows(database)
        page = await self.page(database, first=3)
        assert len(page.cursors) == len(set(page.cursors)) == 3
        assert page.edges == list(zip(page.cursors, page.items, strict=True))
        assert (page.start_cursor, page.end_cursor) == (page.cursors[0], page.cursors[-1])
        following = await self.page(database, first=1, after=page.cursors[0])
        assert following.items == page.items[1:2]

    async def test_a_shared_value_is_ordered_by_id_within_it(self, database: Database) -> None:
        ids = await self.add_rows(database)
        by_name = sorted(range(len(ROWS)), key=lambda i: (ROWS[i][0], ids[i]))
        pages = await self.walk(database, 2, order_by="name")
        assert self.joined(pages) == [ids[i] for i in by_name]
        backward = await self.walk(database, 2, order_by="name", backward=True)
        assert self.joined(backward[::-1]) == [ids[i] for i in by_name]

    async def test_an_order_descending_or_of_several_attributes_is_kept(
        self, database: Database
    ) -> None:
        ids = await self.add_rows(database)
        orders: dict[tuple[str, ...], Any] = {
            ("-name",): lambda i: (-ord(ROWS[i][0]), ids[i]),
            ("-name", "-id"): lambda i: (-ord(ROWS[i][0]), -ids[i]),
            ("value", "-name"): lambda i: (ROWS[i][1], -ord(ROWS[i][0]), ids[i]),
            ("-value", "name", "id"): lambda i: (-ROWS[i][1], ROWS[i][0], ids[i]),
        }
        for order_by, key in orders.items():
            expected = [ids[i] for i in sorted(range(len(ROWS)), key=key)]
            forward = await self.walk(database, 3, order_by=order_by)
            assert self.joined(forward) == expected, order_by
            backward = await self.walk(database, 3, order_by=order_by, backward=True)
            assert self.joined(backward[::-1]) == expected, order_by

    async def test_a_page_holds_only_what_equals_the_filters(self, database: Database) -> None:
        ids = await self.add_rows(database)
        ones = [ids[i] for i, (_, value) in enumerate(ROWS) if value == 1]
        pages = await self.walk(database, 2, value=1)
        assert self.ids(pages) == [ones[0:2], ones[2:4]]
        assert (pages[0].has_next, pages[-1].has_next) == (True, False)
        page = await self.page(database, last=5, order_by="-id", value=1, name="b")
        assert [c.id for c in page.items] == [ids[6], ids[1]]
        assert not page.has_previous

    async def test_an_empty_page_has_no_cursor_and_nothing_either_side(
        self, database: Database
    ) -> None:
        for asked in ({"first": 3}, {"last": 3}, {"first": 0}):
            page = await self.page(database, **asked)
            assert (page.items, page.cursors, page.start_cursor, page.end_cursor) == (
                [],
                [],
                None,
                None,
            )
            assert not page.has_next
            assert not page.has_previous
        await self.add_rows(database)
        assert (await self.page(database, first=3, name="z")).items == []

    async def test_a_page_of_none_says_whether_there_is_more(self, database: Database) -> None:
        await self.add_rows(database)
        page = await self.page(database, first=0)
        assert (page.items, page.has_next, page.has_previous) == ([], True, False)
        page = await self.page(database, last=0)
        assert (page.items, page.has_next, page.has_previous) == ([], False, True)

    async def test_both_ends_are_told_exactly(self, database: Database) -> None:
        ids = await self.add_rows(database)
        whole = await self.page(database, first=len(ROWS))
        assert [c.id for c in whole.items] == ids
        assert not whole.has_next
        assert not whole.has_previous
        past = await self.page(database, first=3, after=whole.end_cursor)
        assert (past.items, past.has_next, past.has_previous) == ([], False, True)
        ahead = await self.page(database, last=3, before=whole.start_cursor)
        assert (ahead.items, ahead.has_next, ahead.has_previous) == ([], True, False)
        last = await self.page(database, first=1, after=whole.cursors[-2])
        assert ([c.id for c in last.items], last.has_next, last.has_previous) == (
            ids[-1:],
            False,
            True,
        )

    async def test_after_and_before_together_bound_the_page(self, database: Database) -> None:
        ids = await self.add_rows(database)
        whole = await self.page(database, first=len(ROWS))
        after, before = whole.cursors[1], whole.cursors[5]
        first = await self.page(database, first=2, after=after, before=before)
        assert ([c.id for c in first.items], first.has_next) == (ids[2:4], True)
        last = await self.page(database, last=2, after=after, before=before)
        assert ([c.id for c in last.items], last.has_previous) == (ids[3:5], True)
        every = await self.page(database, first=9, after=after, before=before)
        assert ([c.id for c in every.items], every.has_next) == (ids[2:5], False)

    # -- stable under changes ----------------------------------------------------------------

    async def test_an_addition_before_the_cursor_does_not_shift_the_next_page(
        self, database: Database
    ) -> None:
        await self.add_rows(database)
        first = await self.page(database, first=3, order_by="name")
        expected = await self.page(database, first=3, after=first.end_cursor, order_by="name")
        async with self.uow(database) as uow:
            await uow.counters.add(self.model.Counter(None, "a", 9))  # before the cursor
            await uow.commit()
        then = await self.page(database, first=3, after=first.end_cursor, order_by="name")
        assert [c.id for c in then.items] == [c.id for c in expected.items]
        assert then.cursors == expected.cursors

    async def test_an_addition_after_the_cursor_is_on_the_next_page(
        self, database: Database
    ) -> None:
        await self.add_rows(database)
        first = await self.page(database, first=3, order_by="name")  # a, a, b
        async with self.uow(database) as uow:
            added = await uow.counters.add(self.model.Counter(None, "bb", 9))  # after b, b
            await uow.commit()
        then = await self.page(database, first=3, after=first.end_cursor, order_by="name")
        assert [c.name for c in then.items] == ["b", "b", "bb"]
        assert then.items[-1].id == added.id

    async def test_a_cursor_outlives_the_removal_of_its_aggregate(self, database: Database) -> None:
        ids = await self.add_rows(database)
        first = await self.page(database, first=3)
        async with self.uow(database) as uow:
            await uow.counters.remove(await uow.counters.get(ids[2]))
            await uow.commit()
        then = await self.page(database, first=3, after=first.end_cursor)
        assert ([c.id for c in then.items], then.has_previous) == (ids[3:6], True)

    async def test_a_page_s_aggregates_are_tracked_by_the_unit_of_work(
        self, database: Database
    ) -> None:
        ids = await self.add_rows(database)
        async with self.uow(database) as uow:
            (counter,) = (await uow.counters.page(first=1)).items
            assert counter is await uow.counters.get(ids[0])
            counter.count()
            await uow.commit()
        async with self.uow(database) as uow:
            assert (await uow.counters.get(ids[0])).value == ROWS[0][1] + 1

    async def test_a_unit_pages_through_what_it_added_and_not_what_it_removed(
        self, database: Database
    ) -> None:
        ids = await self.add_rows(database)
        async with self.uow(database) as uow:
            await uow.counters.remove(await uow.counters.get(ids[0]))
            added = await uow.counters.add(self.model.Counter(None, "e", 1))
            page = await uow.counters.page(last=2)
            assert [c.id for c in page.items] == [ids[-1], added.id]
            page = await uow.counters.page(first=1)
            assert [c.id for c in page.items] == [ids[1]]

    # -- refused -----------------------------------------------------------------------------

    async def test_a_cursor_that_does_not_decode_is_refused_with_the_fix(
        self, database: Database
    ) -> None:
        await self.add_rows(database)
        good = (await self.page(database, first=1)).end_cursor
        assert good is not None
        for bad in ("nonsense!", "", good[:-3], "W10", good.upper()):
            with pytest.raises(InvalidPageError, match="does not decode") as refused:
                await self.page(database, first=2, after=bad)
            assert "Pass a cursor of a page as it was given" in str(refused.value)
        with pytest.raises(ValueError, match=r"before=.*does not decode.*no before"):
            await self.page(database, last=2, before="nonsense")

    async def test_a_cursor_of_another_order_or_aggregate_is_refused(
        self, database: Database
    ) -> None:
        await self.add_rows(database)
        by_name = (await self.page(database, first=1, order_by="name")).end_cursor
        with pytest.raises(InvalidPageError, match=r"ordered by name, id, and this page") as no:
            await self.page(database, first=2, after=by_name, order_by="-name")
        assert "pass the order_by the cursor came with" in str(no.value)
        async with self.uow(database) as uow:
            await uow.entries.add(self.model.Entry(None, 1))
            entries = await uow.entries.page(first=1)
            with pytest.raises(InvalidPageError, match="belongs to pages of Entry"):
                await uow.counters.page(first=1, after=entries.end_cursor)

    @pytest.mark.parametrize(
        ("asked", "told"),
        [
            ({"first": -1}, r"first=-1 is no page size: pass a whole number from 0 to 1000"),
            ({"last": -2}, r"last=-2 is no page size"),
            ({"first": 1001}, r"first=1001 is more than the 1000 aggregates a page holds"),
            ({"first": 2.5}, r"first=2.5 is no page size"),
            ({"first": 1, "last": 1}, r"takes first=1 or last=1, not both"),
            ({}, r"needs its size: pass first=N .* or last=N"),
            ({"first": 1, "order_by": "colour"}, r"no attribute 'colour' to order a page by"),
            ({"first": 1, "order_by": ["name", "-name"]}, r"names an attribute twice"),
        ],
    )
    async def test_bad_arguments_are_refused_with_the_fix(
        self, database: Database, asked: dict[str, Any], told: str
    ) -> None:
        with pytest.raises(InvalidPageError, match=told):
            await self.page(database, **asked)

    async def test_a_filter_by_an_unknown_attribute_is_refused(self, database: Database) -> None:
        with pytest.raises(PersistenceError, match="no attribute colour to find by"):
            await self.page(database, first=1, colour="red")
