import asyncio

import pytest

from atoll.errors import LifecycleError, ShuttingDownError
from atoll.kernel.inflight import InFlight

LIMIT = 10.0


async def within(awaitable):
    async with asyncio.timeout(LIMIT):
        return await awaitable


def test_track_counts_work_while_a_with_block_runs():
    gate = InFlight("runs")
    with gate.track():
        assert gate.count == 1
    assert gate.count == 0


async def test_track_counts_work_while_an_async_with_block_runs():
    gate = InFlight("runs")
    async with gate.track():
        assert gate.count == 1
    assert gate.count == 0


def test_track_returns_the_same_object_every_time():
    gate = InFlight("runs")
    assert gate.track() is gate.track()


async def test_nested_and_concurrent_work_adds_up():
    gate = InFlight("runs")
    inside = asyncio.Event()
    release = asyncio.Event()

    async def work():
        async with gate.track():
            inside.set()
            await release.wait()

    worker = asyncio.create_task(work())
    await within(inside.wait())
    with gate.track(), gate.track():
        assert gate.count == 3
    release.set()
    await within(worker)
    assert gate.count == 0


def test_work_that_raises_is_no_longer_counted():
    gate = InFlight("runs")
    with pytest.raises(ValueError, match="boom"), gate.track():
        raise ValueError("boom")
    assert gate.count == 0


def test_a_closed_gate_refuses_new_work():
    gate = InFlight("runs")
    gate.close()
    with (
        pytest.raises(ShuttingDownError, match="'runs' is stopping; new work is refused"),
        gate.track(),
    ):
        pytest.fail("the block must not run")
    assert gate.count == 0


async def test_a_closed_gate_refuses_new_async_work():
    gate = InFlight("runs")
    gate.close()
    with pytest.raises(ShuttingDownError):
        async with gate.track():
            pytest.fail("the block must not run")
    assert gate.count == 0


def test_the_refusal_is_a_lifecycle_error():
    gate = InFlight("runs")
    gate.close()
    with pytest.raises(LifecycleError), gate.track():
        pass


def test_closing_lets_work_in_progress_finish():
    gate = InFlight("runs")
    with gate.track():
        gate.close()
        assert gate.closed
        assert gate.count == 1
    assert gate.count == 0


def test_a_new_gate_is_open_and_idle():
    gate = InFlight("runs")
    assert not gate.closed
    assert gate.count == 0


async def test_wait_idle_returns_true_at_once_when_nothing_is_in_flight():
    assert await within(InFlight("runs").wait_idle(0)) is True


async def test_wait_idle_returns_true_when_the_last_work_finishes():
    gate = InFlight("runs")
    with gate.track():
        waiter = asyncio.create_task(gate.wait_idle())
        await asyncio.sleep(0)
        assert not waiter.done()
    assert await within(waiter) is True


async def test_wait_idle_returns_false_when_the_timeout_passes_first():
    gate = InFlight("runs")
    with gate.track():
        assert await within(gate.wait_idle(0.01)) is False


async def test_wait_idle_wakes_every_waiter():
    gate = InFlight("runs")
    with gate.track():
        waiters = [asyncio.create_task(gate.wait_idle()) for _ in range(3)]
        await asyncio.sleep(0)
    assert await within(asyncio.gather(*waiters)) == [True, True, True]


async def test_a_waiter_that_timed_out_is_not_woken_again():
    gate = InFlight("runs")
    with gate.track():
        assert await within(gate.wait_idle(0.01)) is False
        patient = asyncio.create_task(gate.wait_idle())
        await asyncio.sleep(0)
    assert await within(patient) is True
    assert gate._waiters == set()


async def test_a_waiter_whose_timeout_fired_as_the_work_ended_is_skipped():
    gate = InFlight("runs")
    loop = asyncio.get_running_loop()
    expired = loop.create_future()
    expired.cancel()
    gate._waiters.add(expired)
    with gate.track():
        pass
    assert expired.cancelled()


async def test_a_cancelled_wait_idle_forgets_its_waiter():
    gate = InFlight("runs")
    with gate.track():
        waiter = asyncio.create_task(gate.wait_idle())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await within(waiter)
    assert gate._waiters == set()


def test_repr_shows_the_name_the_state_and_the_count():
    gate = InFlight("runs")
    with gate.track():
        assert repr(gate) == "<InFlight 'runs' open count=1>"
    gate.close()
    assert repr(gate) == "<InFlight 'runs' closed count=0>"
