"""Repositories: the aggregates of one type, as a collection the domain can reason about.

``Repository[Run]`` gets, adds, removes, finds and pages through runs with the unit of work
it belongs to, which tracks every aggregate it hands out and collects their events on commit.
A service with queries of its own subclasses it::

    class RunRepository(Repository[Run]):
        async def of_user(self, user_id: int) -> list[Run]:
            return await self.find(user_id=user_id)

It works the same over every database adapter, since it asks only the database port.
"""

from __future__ import annotations

import types
import typing
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from atoll.errors import ConfigError
from atoll.persistence.pages import MOST_PER_PAGE, Paging

if TYPE_CHECKING:
    from collections.abc import Awaitable, Iterable, Sequence

    from atoll.persistence.pages import Page
    from atoll.persistence.ports import Transaction
    from atoll.persistence.schema import Mapping

__all__ = ["Repository", "Tracking", "repository_for"]

A = TypeVar("A")
T = TypeVar("T")


class Tracking(Protocol):
    """What a repository asks of its unit of work (:class:`~atoll.UnitOfWork` is one)."""

    def mapping(self, aggregate: type) -> Mapping:
        """How ``aggregate`` is kept in the unit of work's database."""
        ...

    def transaction(self, what: str) -> Transaction:
        """The open transaction, for a repository's own queries."""
        ...

    def track(self, mapping: Mapping, aggregate: object) -> None:
        """Collect the events ``aggregate`` raises, on commit."""
        ...

    async def run(self, operation: Awaitable[T]) -> T:
        """Await ``operation`` on the transaction, with its conflicts told how to retry."""
        ...


class Repository(Generic[A]):
    """The aggregates of one type, inside one unit of work.

    Args:
        uow: the unit of work it belongs to.
    """

    aggregate: ClassVar[type[Any]]
    """The aggregate type; set for each subclass of ``Repository[Run]``."""

    most_per_page: ClassVar[int] = MOST_PER_PAGE
    """The most aggregates :meth:`page` serves at once; a subclass may set its own."""

    def __init__(self, uow: Tracking) -> None:
        aggregate = getattr(type(self), "aggregate", None)
        if aggregate is None:
            raise ConfigError(
                f"{type(self).__qualname__} does not say which aggregate it keeps; "
                "subclass Repository[YourAggregate]"
            )
        self.uow = uow
        self.mapping = uow.mapping(aggregate)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            (argument, *_) = typing.get_args(base) or (None,)
            if isinstance(argument, type):
                cls.aggregate = argument

    async def get(self, identity: object) -> A | None:
        """The aggregate with this id, or ``None``; the same object each time in this unit."""
        found = await self.uow.run(self.uow.transaction("get").get(self.mapping, identity))
        if found is not None:
            self.uow.track(self.mapping, found)
        return typing.cast("A | None", found)

    async def add(self, aggregate: A) -> A:
        """Keep a new aggregate; an id of ``None`` is assigned by the time this returns."""
        await self.uow.run(self.uow.transaction("add").add(self.mapping, aggregate))
        self.uow.track(self.mapping, aggregate)
        return aggregate

    async def remove(self, aggregate: A) -> None:
        """Delete an aggregate this unit of work got or added."""
        await self.uow.run(self.uow.transaction("remove").remove(self.mapping, aggregate))
        self.uow.track(self.mapping, aggregate)

    async def find(self, **equals: object) -> list[A]:
        """The aggregates whose attributes equal the arguments, in the order of their ids."""
        found = await self.uow.run(self.uow.transaction("find").find(self.mapping, equals))
        for aggregate in found:
            self.uow.track(self.mapping, aggregate)
        return typing.cast("list[A]", found)

    async def find_in(
        self, attribute: str, values: Iterable[object], /, **equals: object
    ) -> list[A]:
        """The aggregates whose ``attribute`` is any of ``values``, in the order of their ids.

        What a batched handler asks for the children of several parents at once: the runs of
        every runner of a list, ``await uow.runs.find_in("runner_id", ids)``, is one query
        where :meth:`find` would be one per runner.

        Args:
            attribute: the attribute to match.
            values: what it may be; each aggregate is found once, however many times its
                value is given, and none at all (with no query) when ``values`` is empty.
            equals: further attributes to filter by, as for :meth:`find`.

        Raises:
            PersistenceError: ``attribute`` or ``equals`` names an attribute the aggregate
                does not map.
        """
        unique = list(dict.fromkeys(values))
        transaction = self.uow.transaction("find_in")
        found = await self.uow.run(transaction.find_in(self.mapping, attribute, unique, equals))
        for aggregate in found:
            self.uow.track(self.mapping, aggregate)
        return typing.cast("list[A]", found)

    async def page(
        self,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: str | Sequence[str] = "id",
        **equals: object,
    ) -> Page[A]:
        """A page of the aggregates whose attributes equal ``equals``, by key, as Relay pages.

        The order is ``order_by``'s attributes (a leading ``-``: descending), then the id, so
        that it is total; the page holds the aggregates in that order whichever way it was
        asked for, each with its cursor. What is added or removed before a cursor does not
        move the page that follows it; what is added after it is on it.

        Args:
            first: page forward: the first ``first`` aggregates (after ``after``).
            after: a cursor of an earlier page; the page starts after it.
            last: page backward: the last ``last`` aggregates (before ``before``).
            before: a cursor of a later page; the page ends before it.
            order_by: the attribute or attributes to order by.
            equals: the attributes to filter by, as for :meth:`find`.

        Returns:
            The page. Paging forward, ``has_next`` says there is more after it, and
            ``has_previous`` that there is something before its first aggregate (asked only
            when ``after`` was given: without it the page starts at the first); backward,
            the other way round.

        Raises:
            InvalidPageError: a cursor does not decode or belongs to another order or
                aggregate; ``first`` and ``last`` are both given or neither, or one is
                negative or above :attr:`most_per_page`; ``order_by`` names no attribute.
        """
        paging = Paging(
            self.mapping,
            order_by,
            first=first,
            after=after,
            last=last,
            before=before,
            most=self.most_per_page,
        )
        transaction = self.uow.transaction("page")
        found = await self.uow.run(transaction.page(self.mapping, equals, paging.keyset))
        for aggregate in found:
            self.uow.track(self.mapping, aggregate)
        beyond = paging.beyond(found)
        behind = beyond is not None and bool(
            await self.uow.run(transaction.page(self.mapping, equals, beyond))
        )
        return paging.page(typing.cast("list[A]", found), behind=behind)


_MADE: dict[tuple[type[Repository[Any]], type], type[Repository[Any]]] = {}


def repository_for(base: type[Repository[Any]], aggregate: type) -> type[Repository[Any]]:
    """The subclass of ``base`` keeping ``aggregate``: what ``Repository[Run]`` stands for."""
    made = _MADE.get((base, aggregate))
    if made is None:
        made = types.new_class(
            f"{base.__name__}[{aggregate.__name__}]",
            (base[aggregate],),  # type: ignore[index]
        )
        _MADE[base, aggregate] = made
    return made
