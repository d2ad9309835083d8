"""How atoll.kernel.lifecycle starts units in the order of their needs, and waits for a state."""

import asyncio
import re

import pytest

from atoll.errors import LifecycleError
from atoll.kernel.lifecycle import Lifecycle, State, Unit
from tests.kernel.lifecycle_doubles import (
    Part,
    messages,
    unit,
    within,
)

pytestmark = pytest.mark.usefixtures("lifecycle_logs")


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
