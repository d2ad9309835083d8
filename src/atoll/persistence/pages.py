"""Pages of aggregates, by key (keyset pagination), and the opaque cursors between them.

A page is the run of aggregates that follows (or precedes) a position in a total order: the
attributes of ``order_by``, then the id as the tie-breaker. Its cursors hold the key values of
one aggregate, so that the next page starts right after it whatever was added or removed
meanwhile, where an offset would shift. The rules are Relay's ("Pagination algorithm" of
https://relay.dev/graphql/connections.htm)::

    page = await uow.runs.page(first=20, order_by="-meters")
    more = await uow.runs.page(first=20, after=page.end_cursor, order_by="-meters")

:class:`Paging` reads a repository's arguments into the :class:`Keyset` the database port
serves (:meth:`~atoll.persistence.ports.Transaction.page`), and what it serves into a
:class:`Page`. A cursor is url-safe base64 of msgspec JSON: the aggregate, the order and the
key values. It is opaque to a caller, not secret: one made up by hand only moves where a page
starts, within the filters the repository applies anyway.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from atoll.errors import InvalidPageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from atoll.persistence.schema import Mapping

__all__ = ["MOST_PER_PAGE", "Key", "Keyset", "Page", "Paging"]

A = TypeVar("A")

MOST_PER_PAGE = 1000
"""The most aggregates a page holds unless a repository says otherwise (``most_per_page``)."""


@dataclass(frozen=True, slots=True)
class Key:
    """One attribute of a page's order, and its direction."""

    name: str
    descending: bool = False

    def __str__(self) -> str:
        return f"-{self.name}" if self.descending else self.name


@dataclass(frozen=True, slots=True)
class Keyset:
    """What a database serves of a page: up to ``limit`` aggregates between two keys.

    Attributes:
        order: the attributes the aggregates are ordered by; the last is the id, so that the
            order is total.
        limit: the most aggregates to serve.
        after: serve only the aggregates whose key comes after this one (``None``: from the
            first).
        before: serve only those whose key comes before this one (``None``: to the last).
        backward: serve the last ``limit`` of those aggregates, not the first ``limit``.
    """

    order: tuple[Key, ...]
    limit: int
    after: tuple[object, ...] | None = None
    before: tuple[object, ...] | None = None
    backward: bool = False

    def key(self, aggregate: object) -> tuple[object, ...]:
        """The values of ``aggregate`` this order compares."""
        return _key(self.order, aggregate)

    def compare(self, left: Sequence[Any], right: Sequence[Any]) -> int:
        """Below 0 when key ``left`` comes first in the order, 0 when equal, above 0 else."""
        for key, one, other in zip(self.order, left, right, strict=True):
            if one is None or other is None:
                raise InvalidPageError(_none_in_order(key.name, "an aggregate"))
            if one != other:
                earlier = one < other
                return -1 if earlier != key.descending else 1
        return 0

    def compare_aggregates(self, left: object, right: object) -> int:
        """:meth:`compare` of the keys of two aggregates."""
        return self.compare(self.key(left), self.key(right))


@dataclass(frozen=True, slots=True)
class Page(Generic[A]):
    """Aggregates in the ascending order of their key, and a cursor for each.

    Attributes:
        items: the aggregates, in order, whichever way the page was asked for.
        cursors: each aggregate's cursor: where a page after (or before) it starts.
        has_next: there are aggregates after the last one (see :meth:`Paging.page`).
        has_previous: there are aggregates before the first one.
    """

    items: list[A]
    cursors: list[str]
    has_next: bool
    has_previous: bool

    @property
    def edges(self) -> list[tuple[str, A]]:
        """Each aggregate with its cursor: a Relay connection's edges."""
        return list(zip(self.cursors, self.items, strict=True))

    @property
    def start_cursor(self) -> str | None:
        """The cursor of the first aggregate; ``None`` for an empty page."""
        return self.cursors[0] if self.cursors else None

    @property
    def end_cursor(self) -> str | None:
        """The cursor of the last aggregate; ``None`` for an empty page."""
        return self.cursors[-1] if self.cursors else None

    def __len__(self) -> int:
        return len(self.items)


class _Cursor(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    aggregate: str
    order: list[str]
    key: list[Any]


_SHOWN = 40
"""The characters of a cursor a message shows."""

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(_Cursor)


class Paging:
    """One page asked of a repository: its order, its bounds and its size, checked.

    Args:
        mapping: how the aggregate is kept: its class and its id attribute.
        order_by: the attributes to order by, each ascending or, with a leading ``-``,
            descending; the id follows unless it is one of them.
        first: page forward: the first ``first`` aggregates after ``after``.
        after: a cursor; the page holds only aggregates after it.
        last: page backward: the last ``last`` aggregates before ``before``.
        before: a cursor; the page holds only aggregates before it.
        most: the most aggregates a page may hold.

    Raises:
        InvalidPageError: a cursor does not decode or belongs to another order, ``first`` and
            ``last`` are both given or neither, one is negative or above ``most``, or
            ``order_by`` names an attribute the aggregate does not have.
    """

    def __init__(
        self,
        mapping: Mapping,
        order_by: str | Sequence[str],
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        most: int = MOST_PER_PAGE,
    ) -> None:
        self.aggregate = mapping.aggregate
        if first is not None and last is not None:
            raise InvalidPageError(
                f"a page of {self._named} takes first={first} or last={last}, not both: pass "
                "first (with after) to page forward, or last (with before) to page backward"
            )
        if first is None and last is None:
            raise InvalidPageError(
                f"a page of {self._named} needs its size: pass first=N (with after) to page "
                "forward, or last=N (with before) to page backward"
            )
        self.backward = last is not None
        self.size = _size(
            "last" if self.backward else "first", last if self.backward else first, most
        )
        self.order = _order(mapping, order_by)
        self.after = self._read("after", after)
        self.before = self._read("before", before)

    @property
    def keyset(self) -> Keyset:
        """What to ask the database: one more than the size, to know if there are more."""
        return Keyset(self.order, self.size + 1, self.after, self.before, self.backward)

    def beyond(self, found: Sequence[object]) -> Keyset | None:
        """What to ask the database to know if there is any aggregate behind the page.

        Behind is before the page when paging forward, after it when paging backward; only
        asked when the page started at a cursor (else it started at an end, with nothing
        behind). The page is bounded by its own first (last) aggregate, or by the cursor when
        it is empty: it is what paging the other way from there would find.

        Args:
            found: what the database served for :attr:`keyset`.
        """
        items = self._items(found)
        if self.backward:
            if self.before is None:
                return None
            end = _key(self.order, items[-1]) if items else self.before
            return Keyset(self.order, 1, after=end)
        if self.after is None:
            return None
        start = _key(self.order, items[0]) if items else self.after
        return Keyset(self.order, 1, before=start, backward=True)

    def page(self, found: Sequence[A], *, behind: bool) -> Page[A]:
        """The page of what the database served for :attr:`keyset`.

        Has a next page when paging forward served more than the size, or when paging backward
        there is something after the last aggregate (``behind``); has a previous page the
        other way round. Relay leaves the direction not travelled to the server: atoll looks.

        Raises:
            InvalidPageError: an aggregate of the page has ``None`` in an attribute of the
                order, which no cursor can hold a position by.
        """
        items = self._items(found)
        more = len(found) > self.size
        cursors = [self._cursor(item) for item in items]
        if self.backward:
            return Page(items, cursors, has_next=behind, has_previous=more)
        return Page(items, cursors, has_next=more, has_previous=behind)

    # -- inside ------------------------------------------------------------------------------

    @property
    def _named(self) -> str:
        return self.aggregate.__name__

    def _items(self, found: Sequence[A]) -> list[A]:
        if self.backward:
            return list(found[max(len(found) - self.size, 0) :])
        return list(found[: self.size])

    def _cursor(self, aggregate: object) -> str:
        key = _key(self.order, aggregate)
        for part, value in zip(self.order, key, strict=True):
            if value is None:
                which = f"{self._named} {key[-1]!r}"
                raise InvalidPageError(_none_in_order(part.name, which))
        made = _Cursor(self._named, [str(part) for part in self.order], list(key))
        return base64.urlsafe_b64encode(_ENCODER.encode(made)).rstrip(b"=").decode("ascii")

    def _read(self, argument: str, cursor: str | None) -> tuple[object, ...] | None:
        """The key a cursor holds, each value of its attribute's type."""
        if cursor is None:
            return None
        order = [str(part) for part in self.order]
        unreadable = InvalidPageError(
            f"the cursor {argument}={_shown(cursor)} is not one a page of {self._named} gave: "
            "it does not decode. Pass a cursor of a page as it was given (start_cursor, "
            f"end_cursor or an item's), or no {argument} to start from the "
            f"{'last' if argument == 'before' else 'first'} page"
        )
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            read = _DECODER.decode(raw)
        except (binascii.Error, ValueError, msgspec.DecodeError):  # ValueError: non-ASCII
            raise unreadable from None
        if read.aggregate != self._named or read.order != order:
            raise InvalidPageError(
                f"the cursor {argument}={_shown(cursor)} belongs to pages of {read.aggregate} "
                f"ordered by {', '.join(read.order) or 'nothing'}, and this page is of "
                f"{self._named} ordered by {', '.join(order)}: pass the order_by the cursor "
                f"came with, or no {argument} to start again in this order"
            )
        if len(read.key) != len(self.order):
            raise unreadable
        hints = _hints(self.aggregate)
        try:
            return tuple(
                msgspec.convert(value, hints.get(part.name, Any))
                for part, value in zip(self.order, read.key, strict=True)
            )
        except msgspec.ValidationError:
            raise unreadable from None


def _none_in_order(name: str, which: str) -> str:
    return (
        f"cannot page by {name}: {which} has None there, which no cursor can hold a "
        "position by (and SQL orders apart); order by attributes that are never None"
    )


def _shown(cursor: str) -> str:
    """A cursor for a message: its beginning when it is long."""
    return repr(cursor if len(cursor) <= _SHOWN else f"{cursor[:_SHOWN]}...")


def _key(order: Sequence[Key], aggregate: object) -> tuple[object, ...]:
    return tuple(getattr(aggregate, key.name) for key in order)


def _size(argument: str, size: int | None, most: int) -> int:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidPageError(
            f"{argument}={size!r} is no page size: pass a whole number from 0 to {most}"
        )
    if size > most:
        raise InvalidPageError(
            f"{argument}={size} is more than the {most} aggregates a page holds at most: "
            f"ask for {most} or fewer, and for the rest with the page's cursor"
        )
    return size


def _order(mapping: Mapping, order_by: str | Sequence[str]) -> tuple[Key, ...]:
    """The keys of ``order_by``, then the id: a total order."""
    named = [order_by] if isinstance(order_by, str) else list(order_by)
    keys = [Key(name.removeprefix("-"), name.startswith("-")) for name in named]
    fields = {field.name for field in dataclasses.fields(mapping.aggregate)}
    for key in keys:
        if key.name not in fields:
            raise InvalidPageError(
                f"{mapping.aggregate.__name__} has no attribute {key.name!r} to order a "
                f"page by; its attributes are {', '.join(sorted(fields))}"
            )
    names = [key.name for key in keys]
    if len(set(names)) != len(names):
        raise InvalidPageError(
            f"order_by={named!r} names an attribute twice; name each once, with a leading "
            "'-' for a descending one"
        )
    if mapping.id not in names:
        keys.append(Key(mapping.id))
    else:
        # The id is unique: what would follow it never decides the order.
        keys = keys[: names.index(mapping.id) + 1]
    return tuple(keys)


@functools.cache
def _hints(aggregate: type) -> dict[str, Any]:
    """The types of the aggregate's fields, for a cursor's values; none that do not resolve."""
    try:
        return typing.get_type_hints(aggregate)
    except (NameError, TypeError):
        return {}
