"""What atoll.kernel.lifecycle does when a start fails, leaks a cancellation or is cancelled."""

import asyncio

import pytest

from atoll.errors import LifecycleError
from atoll.kernel.lifecycle import Lifecycle, State, Unit
from tests.kernel.lifecycle_doubles import (
    KillablePart,
    Part,
    messages,
    unit,
    within,
)

pytestmark = pytest.mark.usefixtures("lifecycle_logs")


async def test_a_failed_start_raises_the_original_exception():
    error = ConnectionError("refused")
    with pytest.raises(ConnectionError) as raised:
        await Lifecycle("app").start([unit(Part("db", [], start_error=error))])
    assert raised.value is error


async def test_a_failed_start_does_not_start_the_units_still_waiting():
    journal = []
    db = Part("db", journal, start_error=ConnectionError("refused"))
    with pytest.raises(ConnectionError):
        await Lifecycle("app").start([unit(db), unit(Part("server", journal), "db")])
    assert journal == ["start db"]


async def test_a_failed_start_lets_units_already_starting_finish_then_stops_them():
    journal = []
    failing = Part("failing", journal, start_error=ValueError("bad config"))
    sibling = Part("sibling", journal)
    failing.hold_start = sibling.starting
    sibling.hold_start = asyncio.Event()
    lifecycle = Lifecycle("app")
    starting = asyncio.create_task(lifecycle.start([unit(failing), unit(sibling)]))
    await within(lifecycle.wait_state(State.STOPPING))
    assert "stop sibling" not in journal
    sibling.hold_start.set()
    with pytest.raises(ValueError, match="bad config"):
        await within(starting)
    assert journal[-3:] == ["started sibling", "stop sibling", "stopped sibling"]
    assert "stop failing" not in journal


async def test_a_failed_start_stops_what_started_in_reverse_order():
    journal = []
    units = [
        unit(Part("db", journal)),
        unit(Part("cache", journal)),
        unit(Part("server", journal), "db", "cache"),
        unit(Part("worker", journal, start_error=RuntimeError("no queue")), "server"),
    ]
    with pytest.raises(RuntimeError, match="no queue"):
        await Lifecycle("app").start(units)
    assert journal.index("stopped server") < journal.index("stop db")
    assert journal.index("stopped server") < journal.index("stop cache")
    assert "stop worker" not in journal


async def test_a_failed_start_ends_stopped_with_exit_code_1(caplog):
    lifecycle = Lifecycle("app")
    with pytest.raises(ConnectionError):
        await lifecycle.start([unit(Part("db", [], start_error=ConnectionError("refused")))])
    assert lifecycle.state is State.STOPPED
    assert lifecycle.exit_code == 1
    assert "starting unit 'db' failed: ConnectionError: refused" in messages(caplog)


async def test_running_raises_the_error_of_a_failed_start():
    with pytest.raises(ConnectionError, match="refused"):
        async with Lifecycle("app").running(
            [unit(Part("db", [], start_error=ConnectionError("refused")))]
        ):
            pytest.fail("the block must not run")


async def test_run_raises_the_error_of_a_failed_start():
    with pytest.raises(ConnectionError, match="refused"):
        await within(
            Lifecycle("app").run([unit(Part("db", [], start_error=ConnectionError("refused")))])
        )


async def test_a_second_start_failure_is_logged_with_its_traceback(caplog):
    journal = []
    first = Part("first", journal, start_error=ValueError("first"))
    second = Part("second", journal, start_error=ValueError("second"))
    first.hold_start = second.starting
    second.hold_start = asyncio.Event()
    lifecycle = Lifecycle("app")
    starting = asyncio.create_task(lifecycle.start([unit(first), unit(second)]))
    await within(lifecycle.wait_state(State.STOPPING))
    second.hold_start.set()
    with pytest.raises(ValueError, match="first"):
        await within(starting)
    failures = {r.getMessage(): r.exc_info for r in caplog.records if "failed" in r.getMessage()}
    assert failures["starting unit 'first' failed: ValueError: first"] is None
    assert failures["starting unit 'second' failed: ValueError: second"][1].args == ("second",)


async def test_a_unit_still_starting_at_the_grace_deadline_is_killed(caplog):
    journal = []
    failing = Part("failing", journal, start_error=ValueError("bad config"))
    stuck = KillablePart("stuck", journal)
    failing.hold_start = stuck.starting
    stuck.hold_start = asyncio.Event()  # never set
    lifecycle = Lifecycle("app", grace=0.05)
    with pytest.raises(ValueError, match="bad config"):
        await within(lifecycle.start([unit(failing), unit(stuck)]))
    assert "kill stuck" in journal
    assert "killing unit 'stuck': the grace period of 0.05s ran out" in messages(caplog)
    assert lifecycle.state is State.STOPPED


class Halt(BaseException):
    """A BaseException that asyncio neither re-raises from the loop nor treats as a cancel."""


def cancelled_future():
    future = asyncio.get_running_loop().create_future()
    future.cancel()
    return future


async def test_a_cancellation_leaked_by_a_start_fails_the_start_as_a_lifecycle_error(caplog):
    journal = []
    db, server = Part("db", journal), Part("server", journal)
    cache = Part("cache", journal)

    async def leaky_start():
        journal.append("start cache")
        await cancelled_future()  # cancelled by something else, not by the lifecycle

    cache.start = leaky_start
    lifecycle = Lifecycle("app")
    with pytest.raises(LifecycleError) as raised:
        await within(lifecycle.start([unit(db), unit(cache, "db"), unit(server, "cache")]))
    assert str(raised.value).startswith(
        "unit 'cache' did not start: its start() raised CancelledError, but nothing cancelled "
        "the start"
    )
    assert isinstance(raised.value.__cause__, asyncio.CancelledError)
    assert journal == ["start db", "started db", "start cache", "stop db", "stopped db"]
    assert lifecycle.state is State.STOPPED
    assert lifecycle.exit_code == 1
    assert any(
        m.startswith("starting unit 'cache' failed: LifecycleError") for m in messages(caplog)
    )


async def test_run_raises_the_lifecycle_error_of_a_start_that_leaked_a_cancellation():
    class Leaky:
        async def start(self):
            raise asyncio.CancelledError

        async def stop(self):
            pytest.fail("a unit that did not start must not be stopped")

    with pytest.raises(LifecycleError, match="unit 'leaky' did not start"):
        await within(Lifecycle("app").run([Unit("leaky", Leaky())]))


async def test_a_unit_that_never_started_fails_the_start_instead_of_making_it_ready():
    journal = []
    db, server = Part("db", journal), Part("server", journal)
    halting = Part("halting", journal, start_error=Halt("stop everything"))
    lifecycle = Lifecycle("app")
    with pytest.raises(LifecycleError) as raised:
        await within(lifecycle.start([unit(db), unit(halting, "db"), unit(server, "halting")]))
    assert str(raised.value).startswith(
        "'app' did not start: 'halting', 'server' never started, yet no start() raised an Exception"
    )
    assert journal == ["start db", "started db", "start halting", "stop db", "stopped db"]
    assert lifecycle.state is State.STOPPED
    assert lifecycle.exit_code == 1


async def test_cancelling_start_stops_what_had_started():
    journal = []
    db, server = Part("db", journal), Part("server", journal)
    server.hold_start = asyncio.Event()
    lifecycle = Lifecycle("app")
    starting = asyncio.create_task(lifecycle.start([unit(db), unit(server, "db")]))
    await within(server.starting.wait())
    starting.cancel()
    await within(lifecycle.wait_state(State.STOPPING))
    server.hold_start.set()
    with pytest.raises(asyncio.CancelledError):
        await within(starting)
    assert journal[-4:] == ["stop server", "stopped server", "stop db", "stopped db"]
    assert lifecycle.state is State.STOPPED


async def test_cancelling_start_again_while_it_stops_kills_what_has_not_stopped(caplog):
    journal = []
    db, server = KillablePart("db", journal), Part("server", journal, start_error=OSError("port"))
    db.hold_stop = asyncio.Event()  # never set
    lifecycle = Lifecycle("app")
    starting = asyncio.create_task(lifecycle.start([unit(db), unit(server, "db")]))
    await within(db.stopping.wait())
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await within(starting)
    assert journal[-2:] == ["kill db", "stop db cancelled"]
    assert "killing unit 'db': the stop was cancelled" in messages(caplog)
    assert lifecycle.state is State.STOPPED
