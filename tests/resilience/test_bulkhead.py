"""Bulkhead: how many calls it lets in, who gets a freed slot, and what it says when full."""

import asyncio

import pytest

from atoll.errors import BulkheadFullError, RemoteUnavailableError
from atoll.resilience import Bulkhead

LIMIT = 10.0
"""The most seconds a test waits for an event: a bound on a hang, never a timing."""

TURNS = 100
"""The turns of the event loop the tasks of a test are given to start waiting."""


async def within(awaitable):
    async with asyncio.timeout(LIMIT):
        return await awaitable


async def settled(bulkhead, *, waiting):
    """Let the other tasks run, a turn of the loop at a time, until ``waiting`` calls wait."""
    for _ in range(TURNS):
        if bulkhead.waiting == waiting:
            return
        await asyncio.sleep(0)
    pytest.fail(f"{bulkhead!r} has not {waiting} waiting after {TURNS} turns of the loop")


def entering(bulkhead, name, entered, timeout=None):
    """A task that enters ``bulkhead``, then appends ``name`` to ``entered``."""

    async def enter():
        await bulkhead.enter(timeout)
        entered.append(name)

    return asyncio.create_task(enter(), name=name)


def test_a_limit_below_one_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="the bulkhead of users: limit=0 lets no call through"):
        Bulkhead("users", 0)


async def test_it_admits_limit_calls_at_once_without_waiting():
    bulkhead = Bulkhead("users", 3)
    for _ in range(3):
        await bulkhead.enter(0)
    assert (bulkhead.in_flight, bulkhead.waiting) == (3, 0)
    bulkhead.leave()
    assert bulkhead.in_flight == 2


async def test_a_call_past_the_limit_waits_and_takes_the_freed_slot():
    bulkhead = Bulkhead("users", 1)
    await bulkhead.enter(None)
    entered = []
    task = entering(bulkhead, "second", entered)
    await settled(bulkhead, waiting=1)
    assert entered == []
    bulkhead.leave()
    await within(task)
    assert entered == ["second"]
    assert (bulkhead.in_flight, bulkhead.waiting) == (1, 0)


async def test_freed_slots_go_to_the_waiters_in_the_order_they_came():
    bulkhead = Bulkhead("users", 1)
    await bulkhead.enter(None)
    entered = []
    tasks = [entering(bulkhead, name, entered) for name in ("b", "c", "d")]
    await settled(bulkhead, waiting=3)
    for expected in (["b"], ["b", "c"], ["b", "c", "d"]):
        bulkhead.leave()
        await settled(bulkhead, waiting=3 - len(expected))
        await within(tasks[len(expected) - 1])
        assert entered == expected
    assert bulkhead.in_flight == 1


async def test_a_freed_slot_is_not_taken_by_a_call_arriving_before_the_waiter_runs():
    bulkhead = Bulkhead("users", 1)
    await bulkhead.enter(None)
    entered = []
    waiter = entering(bulkhead, "waiter", entered)
    await settled(bulkhead, waiting=1)
    bulkhead.leave()
    assert bulkhead.in_flight == 1  # handed to the waiter, not given back
    with pytest.raises(BulkheadFullError):
        await bulkhead.enter(0)
    await within(waiter)
    assert entered == ["waiter"]
    assert (bulkhead.in_flight, bulkhead.waiting) == (1, 0)


async def test_a_call_that_finds_no_room_in_time_is_refused_with_the_limit_and_the_wait():
    bulkhead = Bulkhead("users", 10)
    for _ in range(10):
        await bulkhead.enter(None)
    with pytest.raises(BulkheadFullError) as refused:
        await bulkhead.enter(0)
    assert str(refused.value) == (
        "users has 10 calls in flight, as many as its bulkhead holds (--clients-concurrency);"
        " no room came within 0.0 s"
    )
    assert (refused.value.service, refused.value.limit) == ("users", 10)
    assert isinstance(refused.value, RemoteUnavailableError)
    assert (bulkhead.in_flight, bulkhead.waiting) == (10, 0)


async def test_the_refusal_gives_the_timeout_to_one_decimal():
    bulkhead = Bulkhead("users", 1)
    await bulkhead.enter(None)
    with pytest.raises(BulkheadFullError, match=r"has 1 call in flight, .*within -1.0 s"):
        await bulkhead.enter(-1)  # a timeout already past: no waiting in a test


async def test_a_waiter_that_times_out_keeps_its_place_for_no_one_and_the_next_gets_the_slot():
    bulkhead = Bulkhead("users", 1)
    await bulkhead.enter(None)
    entered = []
    first = entering(bulkhead, "first", entered, timeout=0)
    second = entering(bulkhead, "second", entered)
    with pytest.raises(BulkheadFullError):
        await within(first)
    await settled(bulkhead, waiting=1)
    bulkhead.leave()
    await within(second)
    assert entered == ["second"]
    assert (bulkhead.in_flight, bulkhead.waiting) == (1, 0)


async def test_a_slot_that_comes_as_the_time_runs_out_is_taken():
    bulkhead = Bulkhead("users", 1)
    await bulkhead.enter(None)
    entered = []
    # A timeout of 0 expires on the loop's next turn: the slot is handed over before that,
    # and the waiter wakes to both.
    waiter = entering(bulkhead, "waiter", entered, timeout=0)
    await settled(bulkhead, waiting=1)
    bulkhead.leave()
    await within(waiter)
    assert entered == ["waiter"]
    assert (bulkhead.in_flight, bulkhead.waiting) == (1, 0)


async def test_a_bulkhead_that_does_not_wait_refuses_at_once():
    bulkhead = Bulkhead("users", 2, wait=False)
    await bulkhead.enter(None)
    await bulkhead.enter(None)
    with pytest.raises(BulkheadFullError) as refused:
        await bulkhead.enter(None)
    assert str(refused.value) == (
        "users has 2 calls in flight, as many as its bulkhead holds (--clients-concurrency);"
        " it does not wait for room (--clients-concurrency-wait off)"
    )
    assert (bulkhead.in_flight, bulkhead.waiting) == (2, 0)


async def test_a_cancelled_waiter_leaks_no_slot():
    bulkhead = Bulkhead("users", 1)
    await bulkhead.enter(None)
    task = entering(bulkhead, "cancelled", [])
    await settled(bulkhead, waiting=1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await within(task)
    assert (bulkhead.in_flight, bulkhead.waiting) == (1, 0)
    bulkhead.leave()
    assert bulkhead.in_flight == 0
    await bulkhead.enter(0)
    assert bulkhead.in_flight == 1


async def test_a_waiter_cancelled_as_its_slot_came_hands_the_slot_to_the_next():
    bulkhead = Bulkhead("users", 1)
    await bulkhead.enter(None)
    entered = []
    cancelled = entering(bulkhead, "cancelled", entered)
    next_one = entering(bulkhead, "next", entered)
    await settled(bulkhead, waiting=2)
    bulkhead.leave()  # the slot goes to the first waiter...
    cancelled.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await within(cancelled)
    await within(next_one)
    assert entered == ["next"]
    assert (bulkhead.in_flight, bulkhead.waiting) == (1, 0)


async def test_a_waiter_cancelled_as_its_slot_came_frees_it_when_no_one_waits():
    bulkhead = Bulkhead("users", 1)
    await bulkhead.enter(None)
    cancelled = entering(bulkhead, "cancelled", [])
    await settled(bulkhead, waiting=1)
    bulkhead.leave()
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await within(cancelled)
    assert (bulkhead.in_flight, bulkhead.waiting) == (0, 0)


async def test_a_waiter_cancelled_and_dropped_by_leave_before_it_runs_leaks_nothing():
    bulkhead = Bulkhead("users", 2)
    await bulkhead.enter(None)
    await bulkhead.enter(None)
    cancelled = entering(bulkhead, "cancelled", [])
    await settled(bulkhead, waiting=1)
    cancelled.cancel()  # cancels the future it waits on, at once
    bulkhead.leave()  # drops that waiter, and frees the slot
    with pytest.raises(asyncio.CancelledError):
        await within(cancelled)
    assert (bulkhead.in_flight, bulkhead.waiting) == (1, 0)


def test_leaving_without_a_call_in_flight_is_refused_with_the_fix():
    bulkhead = Bulkhead("users", 1)
    with pytest.raises(RuntimeError, match="the bulkhead of users has no call in flight to leave"):
        bulkhead.leave()
    assert bulkhead.in_flight == 0


async def test_slot_holds_a_slot_while_its_block_runs_and_gives_it_back_on_error():
    bulkhead = Bulkhead("users", 1)
    async with bulkhead.slot(None):
        assert bulkhead.in_flight == 1
    assert bulkhead.in_flight == 0
    with pytest.raises(KeyError):
        async with bulkhead.slot(1.0):
            raise KeyError
    assert bulkhead.in_flight == 0


async def test_slot_refuses_on_entering_when_there_is_no_room():
    bulkhead = Bulkhead("users", 1, wait=False)
    async with bulkhead.slot(None):
        with pytest.raises(BulkheadFullError):
            async with bulkhead.slot(None):
                pass
        assert bulkhead.in_flight == 1
    assert bulkhead.in_flight == 0


def test_its_properties_and_repr_say_what_it_holds():
    bulkhead = Bulkhead("users", 4)
    assert (bulkhead.name, bulkhead.limit, bulkhead.in_flight, bulkhead.waiting) == (
        "users",
        4,
        0,
        0,
    )
    assert repr(bulkhead) == "<Bulkhead 'users' in_flight=0/4 waiting=0>"
