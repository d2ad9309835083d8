"""Paging by key: the order, the cursors and the checks, apart from any database."""

import base64
import datetime as dt
import uuid
from dataclasses import dataclass

import pytest

import atoll
import atoll.testing
from atoll.errors import InvalidPageError, RemoteError
from atoll.persistence.pages import Key, Keyset, Page, Paging
from atoll.persistence.schema import Mapping, Schema
from atoll.service.definition import INVALID_PAGE_CODE


@dataclass
class Lap:
    id: int | None
    at: dt.datetime
    runner: uuid.UUID
    name: str | None = "lap"


LAPS = Mapping(Lap)
AT = dt.datetime(2026, 12, 4, 22, 30, tzinfo=dt.UTC)
RUNNER = uuid.UUID("12345678-1234-5678-1234-567812345678")


def cursor_of(lap, order_by="id"):
    (made,) = Paging(LAPS, order_by, first=1).page([lap], behind=False).cursors
    return made


def test_the_id_ends_the_order_unless_named_and_a_dash_makes_a_key_descending():
    assert Paging(LAPS, "id", first=1).order == (Key("id"),)
    assert Paging(LAPS, ["-at", "name"], first=1).order == (
        Key("at", descending=True),
        Key("name"),
        Key("id"),
    )
    # The id is unique: an attribute after it would never decide anything.
    assert Paging(LAPS, ["-id", "name"], first=1).order == (Key("id", descending=True),)


def test_a_cursor_gives_back_its_values_with_their_types():
    lap = Lap(7, AT, RUNNER)
    cursor = cursor_of(lap, ["at", "runner"])
    assert cursor.isascii()
    assert "=" not in cursor  # url-safe base64 without padding
    read = Paging(LAPS, ["at", "runner"], first=1, after=cursor)
    assert read.after == (AT, RUNNER, 7)
    assert read.keyset == Keyset(read.order, 2, after=(AT, RUNNER, 7))


def test_a_cursor_is_the_same_for_the_same_key():
    assert cursor_of(Lap(7, AT, RUNNER), "at") == cursor_of(Lap(7, AT, uuid.uuid4()), "at")
    assert cursor_of(Lap(7, AT, RUNNER), "at") != cursor_of(Lap(8, AT, RUNNER), "at")


def test_a_cursor_whose_values_do_not_fit_the_attributes_does_not_decode():
    forged = base64.urlsafe_b64encode(b'["Lap",["at","id"],["tomorrow",7]]').decode()
    with pytest.raises(InvalidPageError, match="does not decode"):
        Paging(LAPS, "at", first=1, after=forged)


def test_a_cursor_with_more_or_fewer_values_than_its_order_does_not_decode():
    forged = base64.urlsafe_b64encode(b'["Lap",["at","id"],[7]]').decode()
    with pytest.raises(InvalidPageError, match="does not decode"):
        Paging(LAPS, "at", first=1, after=forged)


@dataclass
class Split:
    id: int | None
    mark: "Undeclared"  # noqa: F821 - a hint that does not resolve


def test_values_of_attributes_whose_types_do_not_resolve_are_kept_as_json_gives_them():
    splits = Mapping(Split)
    cursor = Paging(splits, "mark", first=1).page([Split(3, 1.5)], behind=False).end_cursor
    assert Paging(splits, "mark", first=1, after=cursor).after == (1.5, 3)


def test_a_cursor_of_another_order_names_both_orders():
    by_name = cursor_of(Lap(7, AT, RUNNER), "name")
    with pytest.raises(InvalidPageError, match="belongs to pages of Lap ordered by name, id, "):
        Paging(LAPS, "at", first=1, after=by_name)


def test_a_long_cursor_is_cut_short_in_the_message():
    with pytest.raises(InvalidPageError) as refused:
        Paging(LAPS, "id", first=1, after="x" * 500)
    assert f"after='{'x' * 40}...'" in str(refused.value)
    assert "x" * 41 not in str(refused.value)


def test_a_none_in_the_order_is_refused_with_the_fix():
    with pytest.raises(InvalidPageError, match=r"by name: .*has None there.*never None"):
        cursor_of(Lap(7, AT, RUNNER, None), "name")


@pytest.mark.parametrize("size", [True, "3", -5, 2.5])
def test_a_size_that_is_no_whole_number_from_0_is_refused(size):
    with pytest.raises(InvalidPageError, match=f"first={size!r} is no page size"):
        Paging(LAPS, "id", first=size)


def test_the_most_per_page_is_the_caller_s_to_set():
    assert Paging(LAPS, "id", first=5, most=5).size == 5
    with pytest.raises(InvalidPageError, match="more than the 5 aggregates a page holds"):
        Paging(LAPS, "id", first=6, most=5)


def test_compare_follows_each_key_s_direction():
    keyset = Keyset((Key("at", descending=True), Key("id")), 3)
    later = AT + dt.timedelta(seconds=1)
    assert keyset.compare((later, 9), (AT, 1)) < 0  # descending: later first
    assert keyset.compare((AT, 1), (AT, 2)) < 0
    assert keyset.compare((AT, 2), (AT, 2)) == 0
    with pytest.raises(InvalidPageError, match=r"cannot page by at: .* has None there"):
        keyset.compare((None, 2), (AT, 2))


def test_what_lies_behind_a_page_is_asked_only_from_a_cursor():
    forward = Paging(LAPS, "id", first=2)
    assert forward.beyond([]) is None  # it started at the first
    after = Paging(LAPS, "id", first=2, after=cursor_of(Lap(3, AT, RUNNER)))
    laps = [Lap(5, AT, RUNNER), Lap(6, AT, RUNNER), Lap(7, AT, RUNNER)]
    assert after.beyond(laps) == Keyset(after.order, 1, before=(5,), backward=True)
    assert after.beyond([]) == Keyset(after.order, 1, before=(3,), backward=True)
    before = Paging(LAPS, "id", last=2, before=cursor_of(Lap(9, AT, RUNNER)))
    assert before.beyond(laps) == Keyset(before.order, 1, after=(7,))
    assert before.beyond([]) == Keyset(before.order, 1, after=(9,))


def test_a_page_backward_keeps_the_last_of_what_was_served():
    laps = [Lap(n, AT, RUNNER) for n in (4, 5, 6)]
    page = Paging(LAPS, "id", last=2).page(laps, behind=True)
    assert [lap.id for lap in page.items] == [5, 6]
    assert (page.has_previous, page.has_next) == (True, True)
    assert len(page) == 2


def test_an_empty_page_has_no_ends():
    page = Page([], [], has_next=False, has_previous=False)
    assert (page.start_cursor, page.end_cursor, page.edges) == (None, None, [])


@dataclass
class Member:
    id: int | None
    name: str


@dataclass(frozen=True)
class Members:
    names: list[str]
    cursor: str | None


def club():
    schema = Schema()
    schema.map(Member)

    class Units(atoll.UnitOfWork):
        members: atoll.Repository[Member]

    service = atoll.Service("club")
    service.database(schema, Units)

    @service.rpc
    @service.get("/members")
    async def members(uow: Units, after: str | None = None) -> Members:
        async with uow:
            page = await uow.members.page(first=2, after=after, order_by="name")
        return Members([member.name for member in page.items], page.end_cursor)

    return service


async def test_a_bad_cursor_is_the_caller_s_422_over_rest_and_json_rpc():
    async with atoll.testing.run(club(), argv=["--db-url", "memory://"]) as harness:
        answer = await harness.client.get("/members", params={"after": "nonsense"})
        with pytest.raises(RemoteError) as refused:
            await harness.rpc.methods.members(after="nonsense")
    assert answer.status_code == 422
    assert "does not decode" in answer.json()["detail"]
    assert refused.value.code == INVALID_PAGE_CODE
    assert "does not decode" in str(refused.value)
