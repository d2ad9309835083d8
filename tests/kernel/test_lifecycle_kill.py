"""When atoll.kernel.lifecycle kills units: at the grace deadline or on a forced stop."""

import asyncio
import logging

import pytest

from atoll.errors import LifecycleError
from atoll.kernel.lifecycle import BackgroundTask, Lifecycle
from tests.kernel.lifecycle_doubles import (
    KillablePart,
    Part,
    forever,
    messages,
    unit,
    within,
)

pytestmark = pytest.mark.usefixtures("lifecycle_logs")


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
