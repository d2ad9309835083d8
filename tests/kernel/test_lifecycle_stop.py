"""How atoll.kernel.lifecycle stops: reverse order, draining first, on request or on cancel."""

import asyncio
import math
import re

import pytest

from atoll.errors import LifecycleError, ShuttingDownError
from atoll.kernel.lifecycle import Lifecycle, State, Unit
from tests.kernel.lifecycle_doubles import (
    LIMIT,
    KillablePart,
    Part,
    messages,
    stopper,
    unit,
    within,
)

pytestmark = pytest.mark.usefixtures("lifecycle_logs")


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


# -- the drain ---------------------------------------------------------------------------------


async def test_a_stop_asked_with_a_drain_first_serves_on_not_ready():
    journal = []
    db = KillablePart("db", journal)
    db.hold_stop = asyncio.Event()  # never set: only a kill ends its stop
    lifecycle = Lifecycle("app", drain=LIMIT * 10)  # longer than any wait here: the test ends it
    await lifecycle.start([unit(db)])
    lifecycle.request_stop(drain=True)
    await within(lifecycle.wait_state(State.STOPPING))
    assert not lifecycle.inflight.closed
    with lifecycle.inflight.track():  # new work is still taken
        pass
    assert journal == ["start db", "started db"]
    lifecycle.request_stop(3, force=True)  # ends the drain at once
    assert await within(lifecycle.wait_state(State.STOPPED)) is State.STOPPED
    assert lifecycle.exit_code == 3
    assert "kill db" in journal


async def test_after_the_drain_the_stop_goes_on_as_without_one(caplog):
    journal = []
    lifecycle = Lifecycle("app", drain=0.01)
    await lifecycle.start([unit(Part("db", journal))])
    caplog.clear()
    lifecycle.request_stop(drain=True)
    assert await within(lifecycle.stop()) == 0
    assert journal[-2:] == ["stop db", "stopped db"]
    logged = messages(caplog)
    assert logged[:2] == ["app is draining for 0.01s: not ready, still serving", "stopping app"]


async def test_a_stop_asked_without_a_drain_does_not_drain():
    lifecycle = Lifecycle("app", drain=LIMIT * 10)
    await lifecycle.start([unit(Part("db", []))])
    lifecycle.request_stop()
    assert await within(lifecycle.wait_state(State.STOPPED)) is State.STOPPED
    assert lifecycle.exit_code == 0


async def test_a_stop_asked_with_a_drain_while_starting_does_not_drain():
    db = Part("db", [])
    db.hold_start = asyncio.Event()
    lifecycle = Lifecycle("app", drain=LIMIT * 10)
    starting = asyncio.create_task(lifecycle.start([unit(db)]))
    await within(db.starting.wait())
    lifecycle.request_stop(drain=True)  # nothing was sent work yet: nothing to drain
    db.hold_start.set()
    with pytest.raises(LifecycleError, match="a stop was requested"):
        await within(starting)
    assert lifecycle.state is State.STOPPED


@pytest.mark.parametrize("drain", [-1.0, math.inf, math.nan])
def test_the_drain_must_be_finite_and_not_negative(drain):
    with pytest.raises(LifecycleError, match=r"drain must be a finite number of seconds, 0 or"):
        Lifecycle("app", drain=drain)


async def test_uptime_counts_from_the_start():
    lifecycle = Lifecycle("app")
    assert lifecycle.uptime == 0.0
    await lifecycle.start([])
    first = lifecycle.uptime
    await lifecycle.stop()
    assert 0 < first <= lifecycle.uptime


def test_a_stop_cancelled_while_it_drains_kills_what_runs():
    journal = []

    async def drain_until_the_loop_ends():
        lifecycle = Lifecycle("app", drain=LIMIT * 10)
        await lifecycle.start([unit(KillablePart("db", journal))])
        lifecycle.request_stop(drain=True)
        await lifecycle.wait_state(State.STOPPING)
        return lifecycle

    # asyncio.run cancels the tasks left when its coroutine returns: the stop, draining.
    lifecycle = asyncio.run(drain_until_the_loop_ends())
    assert lifecycle.state is State.STOPPED
    assert journal[-1] == "kill db"
    assert lifecycle.exit_code == 1
