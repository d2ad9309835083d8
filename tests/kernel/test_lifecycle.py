import asyncio
import logging
import math
import os
import re
import runpy
import signal
import sys
import threading
from pathlib import Path

import pytest

from atoll.errors import LifecycleError, ShuttingDownError, TaskFailedError
from atoll.kernel.lifecycle import BackgroundTask, Lifecycle, State, Unit

LIMIT = 10.0  # every wait is bounded, so a bug fails the test instead of hanging it
SCRIPT = Path(__file__).with_name("lifecycle_app.py")


async def within(awaitable, limit=LIMIT):
    async with asyncio.timeout(limit):
        return await awaitable


async def forever():
    await asyncio.Event().wait()


class Part:
    """A component that writes what happens to it in a shared journal.

    ``hold_start``/``hold_stop`` keep it inside start()/stop() until set; ``starting`` and
    ``stopping`` are set once it is inside.
    """

    def __init__(self, name, journal, *, start_error=None, stop_error=None):
        self.name = name
        self.journal = journal
        self.start_error = start_error
        self.stop_error = stop_error
        self.hold_start = None
        self.hold_stop = None
        self.starting = asyncio.Event()
        self.stopping = asyncio.Event()

    async def start(self):
        self.journal.append(f"start {self.name}")
        self.starting.set()
        if self.hold_start is not None:
            await self.hold_start.wait()
        if self.start_error is not None:
            raise self.start_error
        self.journal.append(f"started {self.name}")

    async def stop(self):
        self.journal.append(f"stop {self.name}")
        self.stopping.set()
        try:
            if self.hold_stop is not None:
                await self.hold_stop.wait()
        except asyncio.CancelledError:
            self.journal.append(f"stop {self.name} cancelled")
            raise
        if self.stop_error is not None:
            raise self.stop_error
        self.journal.append(f"stopped {self.name}")


class KillablePart(Part):
    def kill(self):
        self.journal.append(f"kill {self.name}")


def unit(part, *needs):
    return Unit(part.name, part, needs=frozenset(needs))


def stopper(lifecycle, code=0):
    async def run():
        lifecycle.request_stop(code)

    return BackgroundTask("stopper", run)


@pytest.fixture(autouse=True)
def _capture_lifecycle_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="atoll.lifecycle")


def messages(caplog, level=logging.DEBUG):
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


# --- units ---------------------------------------------------------------------------------


def test_a_unit_refuses_an_object_that_is_not_a_component():
    with pytest.raises(LifecycleError, match=r"unit 'db' was given object .* not a component"):
        Unit("db", object())


def test_a_unit_refuses_a_string_for_needs():
    with pytest.raises(LifecycleError, match=r"needs='db', a string.*frozenset\(\{'db'\}\)"):
        Unit("server", Part("server", []), needs="db")


def test_a_unit_keeps_its_needs_as_a_frozenset():
    assert Unit("server", Part("server", []), needs={"db"}).needs == frozenset({"db"})
    assert type(Unit("server", Part("server", []), needs=["db"]).needs) is frozenset


async def test_start_refuses_two_units_with_the_same_name():
    lifecycle = Lifecycle("app")
    units = [unit(Part("db", [])), unit(Part("db", []))]
    with pytest.raises(LifecycleError, match="more than one unit named 'db'"):
        await lifecycle.start(units)
    assert lifecycle.state is State.CREATED


async def test_start_refuses_a_need_that_names_no_unit():
    lifecycle = Lifecycle("app")
    units = [unit(Part("db", [])), unit(Part("server", []), "dbb")]
    message = "unit 'server' needs 'dbb', but there is no such unit among 'db', 'server'"
    with pytest.raises(LifecycleError, match=re.escape(message)):
        await lifecycle.start(units)


async def test_start_refuses_units_that_need_each_other_in_a_cycle():
    journal = []
    units = [
        unit(Part("a", journal), "c"),
        unit(Part("b", journal), "a"),
        unit(Part("c", journal), "b"),
        unit(Part("d", journal), "a"),
        unit(Part("e", journal)),
    ]
    with pytest.raises(LifecycleError, match="found 'a' -> 'c' -> 'b' -> 'a': remove one"):
        await Lifecycle("app").start(units)
    assert journal == []


async def test_start_refuses_a_unit_that_needs_itself():
    with pytest.raises(LifecycleError, match="found 'a' -> 'a'"):
        await Lifecycle("app").start([unit(Part("a", []), "a")])


async def test_start_refuses_two_background_tasks_with_the_same_name():
    lifecycle = Lifecycle("app")
    with pytest.raises(LifecycleError, match="more than one background task named 'stopper'"):
        await lifecycle.start([], [stopper(lifecycle), stopper(lifecycle)])
    assert lifecycle.state is State.CREATED


@pytest.mark.parametrize("grace", [-1.0, math.inf, math.nan])
def test_grace_must_be_a_finite_number_of_seconds(grace):
    with pytest.raises(LifecycleError, match="grace must be a finite number of seconds"):
        Lifecycle("app", grace=grace)


async def test_a_lifecycle_starts_only_once():
    lifecycle = Lifecycle("app")
    async with lifecycle.running([]):
        pass
    with pytest.raises(LifecycleError, match="'app' is stopped: a lifecycle starts only once"):
        await lifecycle.start([])


def test_states_are_lower_case_strings_in_life_order():
    assert list(State) == ["created", "starting", "ready", "stopping", "stopped"]


def test_repr_names_the_lifecycle_and_its_state():
    assert repr(Lifecycle("app")) == "<Lifecycle 'app' created>"


# --- start ---------------------------------------------------------------------------------


async def test_the_state_goes_from_created_through_ready_to_stopped():
    lifecycle = Lifecycle("app")
    seen = []

    class Probe:
        async def start(self):
            seen.append(lifecycle.state)

        async def stop(self):
            seen.append(lifecycle.state)

    assert lifecycle.state is State.CREATED
    assert lifecycle.exit_code is None
    async with lifecycle.running([Unit("probe", Probe())]) as running:
        assert running is lifecycle
        assert lifecycle.state is State.READY
    assert seen == [State.STARTING, State.STOPPING]
    assert lifecycle.state is State.STOPPED
    assert lifecycle.exit_code == 0


async def test_a_unit_starts_after_every_unit_it_needs():
    journal = []
    db, cache, server = Part("db", journal), Part("cache", journal), Part("server", journal)
    async with Lifecycle("app").running([unit(server, "db", "cache"), unit(db), unit(cache)]):
        pass
    assert journal.index("start server") > journal.index("started db")
    assert journal.index("start server") > journal.index("started cache")


async def test_units_that_need_nothing_of_each_other_start_at_the_same_time():
    journal = []
    left, right = Part("left", journal), Part("right", journal)
    # Each waits, inside start(), for the other to be inside start() too: in sequence, it hangs.
    left.hold_start, right.hold_start = right.starting, left.starting
    await within(Lifecycle("app").start([unit(left), unit(right)]))
    assert {"started left", "started right"} <= set(journal)


async def test_a_unit_starts_once_its_own_needs_have_started_without_waiting_for_others():
    journal = []
    slow, fast, follower = Part("slow", journal), Part("fast", journal), Part("follower", journal)
    slow.hold_start = asyncio.Event()
    lifecycle = Lifecycle("app")
    starting = asyncio.create_task(
        lifecycle.start([unit(slow), unit(fast), unit(follower, "fast")])
    )
    await within(follower.starting.wait())
    assert "started slow" not in journal
    slow.hold_start.set()
    await within(starting)
    assert lifecycle.state is State.READY


async def test_start_logs_each_unit_and_when_the_application_is_ready(caplog):
    await Lifecycle("app").start([unit(Part("db", []))])
    logged = messages(caplog)
    assert logged[0] == "starting app"
    assert re.fullmatch(r"started db in \d+\.\d{3}s", logged[1])
    assert re.fullmatch(r"app ready in \d+\.\d{3}s", logged[2])


# --- a failed start ------------------------------------------------------------------------


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


# --- stop ----------------------------------------------------------------------------------


async def test_a_unit_stops_only_after_every_unit_that_needs_it():
    journal = []
    units = [
        unit(Part("db", journal)),
        unit(Part("cache", journal)),
        unit(Part("server", journal), "db", "cache"),
    ]
    async with Lifecycle("app").running(units):
        pass
    assert journal.index("stop db") > journal.index("stopped server")
    assert journal.index("stop cache") > journal.index("stopped server")


async def test_units_that_need_nothing_of_each_other_stop_at_the_same_time():
    journal = []
    left, right = Part("left", journal), Part("right", journal)
    left.hold_stop, right.hold_stop = right.stopping, left.stopping
    lifecycle = Lifecycle("app")
    await lifecycle.start([unit(left), unit(right)])
    assert await within(lifecycle.stop()) == 0
    assert {"stopped left", "stopped right"} <= set(journal)


async def test_stop_logs_each_unit_and_when_the_application_has_stopped(caplog):
    lifecycle = Lifecycle("app")
    await lifecycle.start([unit(Part("db", []))])
    caplog.clear()
    await lifecycle.stop()
    logged = messages(caplog)
    assert logged[0] == "stopping app"
    assert re.fullmatch(r"stopped db in \d+\.\d{3}s", logged[1])
    assert re.fullmatch(r"app stopped in \d+\.\d{3}s", logged[2])


async def test_a_failing_stop_is_logged_and_the_other_units_still_stop(caplog):
    journal = []
    db, server = Part("db", journal), Part("server", journal, stop_error=RuntimeError("boom"))
    lifecycle = Lifecycle("app")
    async with lifecycle.running([unit(db), unit(server, "db")]):
        pass
    assert "stopped db" in journal
    failure = next(r for r in caplog.records if r.getMessage().startswith("stopping unit"))
    assert failure.getMessage() == "stopping unit 'server' failed: RuntimeError: boom"
    assert failure.exc_info[1] is server.stop_error
    assert re.fullmatch(r"app stopped in \d+\.\d{3}s with exit code 1", messages(caplog)[-1])
    assert lifecycle.exit_code == 1


async def test_run_returns_1_when_a_stop_fails():
    lifecycle = Lifecycle("app")
    server = Part("server", [], stop_error=RuntimeError("boom"))
    assert await within(lifecycle.run([unit(server)], [stopper(lifecycle)])) == 1


async def test_stop_waits_for_work_in_flight_before_stopping_units():
    journal = []
    db = Part("db", journal)
    lifecycle = Lifecycle("app")
    await lifecycle.start([unit(db)])
    with lifecycle.inflight.track():
        stopping = asyncio.create_task(lifecycle.stop())
        await within(lifecycle.wait_state(State.STOPPING))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(db.stopping.wait(), 0.05)
        assert "stop db" not in journal
    assert await within(stopping) == 0
    assert journal[-1] == "stopped db"


async def test_new_work_is_refused_once_the_stop_begins():
    lifecycle = Lifecycle("app")
    refused = []

    class Server:
        async def start(self):
            pass

        async def stop(self):
            try:
                with lifecycle.inflight.track():
                    pass
            except ShuttingDownError as error:
                refused.append(str(error))

    async with lifecycle.running([Unit("server", Server())]):
        with lifecycle.inflight.track():
            pass
    assert refused == ["'app' is stopping; new work is refused: send it to another instance"]


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


async def test_the_grace_deadline_kills_every_unit_that_has_not_stopped(caplog):
    journal = []
    db, cache = KillablePart("db", journal), KillablePart("cache", journal)
    server = KillablePart("server", journal)
    server.hold_stop = asyncio.Event()  # never set
    # db stops at once, but only a grace far longer than a stall of a loaded machine makes
    # sure it has stopped before the deadline.
    lifecycle = Lifecycle("app", grace=0.5)
    await lifecycle.start([unit(db), unit(cache), unit(server, "cache")])
    assert await within(lifecycle.stop()) == 1
    assert [entry for entry in journal if entry.startswith("kill")] == ["kill server", "kill cache"]
    assert "stop server cancelled" in journal
    assert "stopped db" in journal
    warnings = messages(caplog, logging.WARNING)
    assert "killing unit 'server': the grace period of 0.5s ran out" in warnings
    assert "killing unit 'cache': the grace period of 0.5s ran out" in warnings


async def test_the_grace_deadline_cancels_the_stop_of_a_unit_without_kill(caplog):
    journal = []
    server = Part("server", journal)
    server.hold_stop = asyncio.Event()  # never set
    lifecycle = Lifecycle("app", grace=0.05)
    await lifecycle.start([unit(server)])
    assert await within(lifecycle.stop()) == 1
    await asyncio.sleep(0)
    assert journal[-1] == "stop server cancelled"
    assert "killing unit 'server': the grace period of 0.05s ran out" in messages(caplog)


async def test_a_kill_that_raises_is_logged_and_the_other_units_are_still_killed(caplog):
    journal = []

    class Brittle(KillablePart):
        def kill(self):
            raise RuntimeError("socket already closed")

    db, server = KillablePart("db", journal), Brittle("server", journal)
    server.hold_stop = asyncio.Event()  # never set
    lifecycle = Lifecycle("app", grace=0.05)
    await lifecycle.start([unit(db), unit(server, "db")])
    assert await within(lifecycle.stop()) == 1
    assert "kill db" in journal
    record = next(r for r in caplog.records if r.getMessage().startswith("kill()"))
    assert record.getMessage() == "kill() of unit 'server' raised; ignored, but it must never raise"
    assert record.exc_info[1].args == ("socket already closed",)


async def test_one_grace_period_covers_draining_and_stopping(caplog):
    journal = []
    lifecycle = Lifecycle("app", grace=0.05)
    await lifecycle.start([unit(KillablePart("db", journal))])
    with lifecycle.inflight.track():
        assert await within(lifecycle.stop()) == 1
    assert journal[-1] == "kill db"
    assert (
        "1 in-flight operation(s) had not finished: the grace period of 0.05s ran out"
        in messages(caplog)
    )


async def test_stop_returns_the_same_exit_code_when_called_again():
    lifecycle = Lifecycle("app")
    await lifecycle.start([unit(Part("db", [], stop_error=RuntimeError("boom")))])
    assert await lifecycle.stop() == 1
    assert await lifecycle.stop() == 1


async def test_a_second_stop_waits_for_the_first():
    journal = []
    db = Part("db", journal)
    db.hold_stop = asyncio.Event()
    lifecycle = Lifecycle("app")
    await lifecycle.start([unit(db)])
    first = asyncio.create_task(lifecycle.stop())
    second = asyncio.create_task(lifecycle.stop())
    await within(db.stopping.wait())
    assert not second.done()
    db.hold_stop.set()
    assert await within(asyncio.gather(first, second)) == [0, 0]
    assert journal.count("stop db") == 1


async def test_stop_before_start_marks_the_lifecycle_stopped():
    lifecycle = Lifecycle("app")
    assert await lifecycle.stop() == 0
    assert lifecycle.state is State.STOPPED


async def test_request_stop_stops_a_ready_application_in_the_background():
    journal = []
    lifecycle = Lifecycle("app")
    await lifecycle.start([unit(Part("db", journal))])
    lifecycle.request_stop()
    assert await within(lifecycle.wait_state(State.STOPPED)) is State.STOPPED
    assert journal[-1] == "stopped db"


async def test_the_first_requested_exit_code_is_kept():
    lifecycle = Lifecycle("app")
    await lifecycle.start([])
    lifecycle.request_stop(3)
    lifecycle.request_stop(4)
    assert await within(lifecycle.stop()) == 3


async def test_a_stop_request_after_the_stop_is_ignored():
    lifecycle = Lifecycle("app")
    await lifecycle.start([])
    await lifecycle.stop()
    lifecycle.request_stop(5, force=True)
    assert lifecycle.exit_code == 0


async def test_a_stop_requested_while_starting_stops_launching_and_start_raises():
    journal = []
    db, server = Part("db", journal), Part("server", journal)
    db.hold_start = asyncio.Event()
    lifecycle = Lifecycle("app")
    starting = asyncio.create_task(lifecycle.start([unit(db), unit(server, "db")]))
    await within(db.starting.wait())
    lifecycle.request_stop()
    db.hold_start.set()
    with pytest.raises(LifecycleError, match="'app' did not start: a stop was requested"):
        await within(starting)
    assert journal == ["start db", "started db", "stop db", "stopped db"]
    assert lifecycle.exit_code == 0


async def test_a_stop_requested_before_start_starts_nothing():
    journal = []
    lifecycle = Lifecycle("app")
    lifecycle.request_stop(4)
    with pytest.raises(LifecycleError, match="did not start"):
        await lifecycle.start([unit(Part("db", journal))])
    assert journal == []
    assert lifecycle.exit_code == 4


async def test_a_forced_stop_kills_what_has_not_stopped_at_once(caplog):
    journal = []
    db, server = KillablePart("db", journal), KillablePart("server", journal)
    server.hold_stop = asyncio.Event()  # never set
    lifecycle = Lifecycle("app", grace=1000.0)
    await lifecycle.start([unit(db), unit(server, "db")])
    stopping = asyncio.create_task(lifecycle.stop())
    await within(server.stopping.wait())
    lifecycle.request_stop(7, force=True)
    assert await within(stopping) == 7
    assert [entry for entry in journal if entry.startswith("kill")] == ["kill server", "kill db"]
    assert "killing unit 'server': the stop was forced" in messages(caplog)


async def test_a_forced_stop_of_a_ready_application_kills_everything(caplog):
    journal = []
    lifecycle = Lifecycle("app", grace=1000.0)
    await lifecycle.start([unit(KillablePart("db", journal))], [BackgroundTask("relay", forever)])
    lifecycle.request_stop(9, force=True)
    assert await within(lifecycle.stop()) == 9
    assert journal[-1] == "kill db"
    assert "killing unit 'db': the stop was forced" in messages(caplog)


async def test_a_force_while_starting_kills_the_unit_still_starting():
    journal = []
    db = KillablePart("db", journal)
    db.hold_start = asyncio.Event()  # never set
    lifecycle = Lifecycle("app", grace=1000.0)
    starting = asyncio.create_task(lifecycle.start([unit(db)]))
    await within(db.starting.wait())
    lifecycle.request_stop(9, force=True)
    with pytest.raises(LifecycleError, match="did not start"):
        await within(starting)
    assert journal == ["start db", "kill db"]
    assert lifecycle.exit_code == 9


async def test_forcing_twice_kills_once_and_keeps_the_last_code():
    journal = []
    db = KillablePart("db", journal)
    db.hold_stop = asyncio.Event()  # never set
    lifecycle = Lifecycle("app", grace=1000.0)
    await lifecycle.start([unit(db)])
    stopping = asyncio.create_task(lifecycle.stop())
    await within(db.stopping.wait())
    lifecycle.request_stop(7, force=True)
    lifecycle.request_stop(8, force=True)
    assert await within(stopping) == 8
    assert journal.count("kill db") == 1


async def test_cancelling_run_stops_the_application_gracefully():
    journal = []
    lifecycle = Lifecycle("app")
    running = asyncio.create_task(lifecycle.run([unit(Part("db", journal))]))
    await within(lifecycle.wait_ready())
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await within(running)
    assert journal[-1] == "stopped db"
    assert lifecycle.exit_code == 0


# --- background tasks ----------------------------------------------------------------------


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


# --- waiting for a state -------------------------------------------------------------------


async def test_wait_ready_returns_once_the_application_is_ready():
    lifecycle = Lifecycle("app")
    running = asyncio.create_task(lifecycle.run([unit(Part("db", []))]))
    await within(lifecycle.wait_ready())
    assert lifecycle.state is State.READY
    lifecycle.request_stop()
    assert await within(running) == 0


async def test_wait_ready_raises_when_the_start_fails():
    lifecycle = Lifecycle("app")
    waiting = asyncio.create_task(lifecycle.wait_ready())
    with pytest.raises(ConnectionError):
        await lifecycle.start([unit(Part("db", [], start_error=ConnectionError("refused")))])
    with pytest.raises(LifecycleError, match=r"'app' is stopp(ing|ed), so it will not be ready"):
        await within(waiting)


async def test_wait_state_returns_at_once_for_a_state_already_passed():
    lifecycle = Lifecycle("app")
    await lifecycle.stop()
    assert await within(lifecycle.wait_state(State.READY)) is State.STOPPED


# --- signals -------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_first_signal_stops_gracefully_with_exit_code_0(signum, caplog):
    journal = []
    lifecycle = Lifecycle("app")
    running = asyncio.create_task(lifecycle.run([unit(Part("db", journal))]))
    await within(lifecycle.wait_ready())
    os.kill(os.getpid(), signum)
    assert await within(running) == 0
    assert journal[-1] == "stopped db"
    assert f"received {signum.name}: stopping within 10s (send again to force)" in messages(caplog)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
async def test_a_second_signal_forces_the_stop_with_128_plus_its_number(signum, code, caplog):
    journal = []
    db, server = KillablePart("db", journal), KillablePart("server", journal)
    server.hold_stop = asyncio.Event()  # never set
    lifecycle = Lifecycle("app")
    running = asyncio.create_task(lifecycle.run([unit(db), unit(server, "db")]))
    await within(lifecycle.wait_ready())
    os.kill(os.getpid(), signum)
    await within(server.stopping.wait())
    os.kill(os.getpid(), signum)
    assert await within(running) == code
    assert [entry for entry in journal if entry.startswith("kill")] == ["kill server", "kill db"]
    assert f"received {signum.name} while stopping: killing what has not stopped" in messages(
        caplog
    )


async def test_a_signal_while_starting_stops_without_starting_the_rest():
    journal = []
    db, server = Part("db", journal), Part("server", journal)
    db.hold_start = asyncio.Event()
    lifecycle = Lifecycle("app")
    running = asyncio.create_task(lifecycle.run([unit(db), unit(server, "db")]))
    await within(db.starting.wait())
    os.kill(os.getpid(), signal.SIGTERM)
    await within(lifecycle.wait_state(State.STOPPING))
    db.hold_start.set()
    assert await within(running) == 0
    assert journal == ["start db", "started db", "stop db", "stopped db"]


async def test_run_puts_back_the_signal_handlers_it_replaced():
    def handler(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        sigint = signal.getsignal(signal.SIGINT)
        lifecycle = Lifecycle("app")
        assert await within(lifecycle.run([], [stopper(lifecycle)])) == 0
        assert signal.getsignal(signal.SIGTERM) is handler
        assert signal.getsignal(signal.SIGINT) is sigint
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_run_off_the_main_thread_leaves_signals_alone():
    results = []
    lifecycle = Lifecycle("app")

    def main():
        results.append(asyncio.run(lifecycle.run([unit(Part("db", []))], [stopper(lifecycle)])))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=main)
    thread.start()
    thread.join(LIMIT)
    assert results == [0]
    assert signal.getsignal(signal.SIGTERM) is before


async def test_run_goes_on_without_signals_where_the_loop_cannot_handle_them(monkeypatch):
    def unsupported(*args):
        raise NotImplementedError

    monkeypatch.setattr(asyncio.get_running_loop(), "add_signal_handler", unsupported)
    lifecycle = Lifecycle("app")
    assert await within(lifecycle.run([], [stopper(lifecycle, 3)])) == 3


# --- a real process ------------------------------------------------------------------------


def printed(process):
    """What the application wrote itself, without the lifecycle's log lines."""
    return [line for line in process.lines if "atoll.lifecycle" not in line]


@pytest.mark.slow
def test_a_real_process_stops_on_sigterm_with_exit_code_0(spawn):
    process = spawn(sys.executable, str(SCRIPT))
    process.wait_for("app is ready")
    process.signal(signal.SIGTERM)
    assert process.finish() == 0
    assert "received SIGTERM: stopping within 30s (send again to force)" in process.output
    assert printed(process)[-4:] == [
        "stopping server",
        "stopped server",
        "stopping db",
        "stopped db",
    ]


@pytest.mark.slow
def test_a_real_process_forced_by_a_second_signal_exits_with_130(spawn):
    process = spawn(sys.executable, str(SCRIPT), "--hang-on-stop")
    process.wait_for("app is ready")
    process.signal(signal.SIGTERM)
    process.wait_for("stopping server")
    process.signal(signal.SIGINT)
    assert process.finish() == 130
    assert "killing unit 'server': the stop was forced" in process.output
    assert printed(process)[-2:] == ["killed server", "killed db"]


# --- the documentation ---------------------------------------------------------------------


def test_the_reference_example_prints_what_the_page_says(tmp_path, capsys):
    page = Path(__file__).parents[2] / "docs" / "reference" / "lifecycle.md"
    example = tmp_path / "example.py"
    example.write_text(re.search(r"```python\n(.*?)```", page.read_text(), re.DOTALL)[1])
    runpy.run_path(str(example), run_name="__main__")
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "connected",
        "listening",
        "done",
        "not listening",
        "disconnected",
        "stopped 0",
    ]
