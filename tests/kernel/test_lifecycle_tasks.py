"""The background tasks of atoll.kernel.lifecycle: when they start, end, fail and are cancelled."""

import asyncio
import logging

import pytest

from atoll.errors import TaskFailedError
from atoll.kernel.lifecycle import BackgroundTask, Lifecycle, State
from tests.kernel.lifecycle_doubles import (
    Part,
    forever,
    messages,
    stopper,
    unit,
    within,
)

pytestmark = pytest.mark.usefixtures("lifecycle_logs")


async def test_background_tasks_are_cancelled_before_units_stop():
    journal = []

    async def relay():
        try:
            await forever()
        except asyncio.CancelledError:
            journal.append("relay cancelled")
            raise

    async with Lifecycle("app").running(
        [unit(Part("db", journal))], [BackgroundTask("relay", relay)]
    ):
        await asyncio.sleep(0)
    assert journal[-3:] == ["relay cancelled", "stop db", "stopped db"]


async def test_background_tasks_start_once_every_unit_has_started():
    journal = []

    async def relay():
        journal.append("relay runs")

    async with Lifecycle("app").running(
        [unit(Part("db", journal)), unit(Part("cache", journal))], [BackgroundTask("relay", relay)]
    ):
        await asyncio.sleep(0)
    assert journal.index("relay runs") > max(
        journal.index("started db"), journal.index("started cache")
    )


async def test_a_failing_background_task_stops_the_application_and_run_returns_1(caplog):
    journal = []
    error = ValueError("lost connection")

    async def relay():
        raise error

    lifecycle = Lifecycle("app")
    code = await within(
        lifecycle.run([unit(Part("db", journal))], [BackgroundTask("relay", relay)])
    )
    assert code == 1
    assert journal[-1] == "stopped db"
    record = next(r for r in caplog.records if "relay" in r.getMessage())
    assert record.getMessage() == "background task 'relay' failed: ValueError: lost connection"
    assert record.levelno == logging.ERROR
    assert record.exc_info[1] is error


async def test_a_background_task_that_returns_is_logged_and_the_application_goes_on(caplog):
    done = asyncio.Event()

    async def migrate():
        done.set()

    lifecycle = Lifecycle("app")
    async with lifecycle.running([], [BackgroundTask("migrate", migrate)]):
        await within(done.wait())
        await asyncio.sleep(0)
        assert lifecycle.state is State.READY
    assert "background task 'migrate' finished" in messages(caplog)
    assert lifecycle.exit_code == 0


async def test_running_raises_task_failed_error_when_a_background_task_failed():
    error = ValueError("lost connection")

    async def relay():
        raise error

    lifecycle = Lifecycle("app")
    with pytest.raises(TaskFailedError, match="background task 'relay' failed") as raised:
        async with lifecycle.running([], [BackgroundTask("relay", relay)]):
            await within(lifecycle.wait_state(State.STOPPED))
    assert raised.value.task == "relay"
    assert raised.value.__cause__ is error


async def test_a_task_that_fails_as_it_is_cancelled_makes_the_exit_code_1(caplog):
    async def relay():
        try:
            await forever()
        finally:
            raise RuntimeError("could not flush")

    lifecycle = Lifecycle("app")
    code = await within(lifecycle.run([], [BackgroundTask("relay", relay), stopper(lifecycle)]))
    assert code == 1
    assert "background task 'relay' failed: RuntimeError: could not flush" in messages(caplog)


async def test_only_the_first_task_failure_is_raised_but_every_one_is_logged(caplog):
    async def first():
        raise ValueError("first")

    async def second():
        raise ValueError("second")

    lifecycle = Lifecycle("app")
    with pytest.raises(TaskFailedError, match="first"):
        async with lifecycle.running(
            [], [BackgroundTask("first", first), BackgroundTask("second", second)]
        ):
            await within(lifecycle.wait_state(State.STOPPED))
    assert "background task 'second' failed: ValueError: second" in messages(caplog)
