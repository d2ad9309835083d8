"""Readiness: the lifecycle's state and the checks, run side by side within a timeout."""

from __future__ import annotations

import asyncio
import math

import pytest

from atoll.errors import ConfigError, DatabaseUnavailableError
from atoll.kernel.health import HealthReport, Readiness
from atoll.kernel.lifecycle import Lifecycle, Unit


@pytest.fixture
async def lifecycle():
    """A lifecycle that is ready for the test."""
    lifecycle = Lifecycle("runs")
    await lifecycle.start([])
    yield lifecycle
    await lifecycle.stop()


async def passes() -> None:
    pass


async def unreachable() -> None:
    raise DatabaseUnavailableError("cannot reach the database at db.internal:5432")


async def test_a_ready_lifecycle_whose_checks_all_pass_is_ready(lifecycle):
    readiness = Readiness(lifecycle, [("database users", passes), ("database runs", passes)])
    report = await readiness.report()
    assert report == HealthReport(
        ready=True, state="ready", checks={"database users": "ok", "database runs": "ok"}
    )


async def test_a_ready_lifecycle_without_checks_is_ready(lifecycle):
    assert await Readiness(lifecycle).report() == HealthReport(True, "ready", {})


async def test_a_failing_check_is_not_ready_with_its_message_as_the_reason(lifecycle):
    readiness = Readiness(lifecycle, [("database users", unreachable), ("cache", passes)])
    report = await readiness.report()
    assert not report.ready
    assert report.checks == {
        "database users": "cannot reach the database at db.internal:5432",
        "cache": "ok",
    }


async def test_a_failure_without_a_message_is_named_by_its_type(lifecycle):
    async def silent() -> None:
        raise RuntimeError

    report = await Readiness(lifecycle, [("silent", silent)]).report()
    assert report.checks == {"silent": "RuntimeError"}


async def test_a_check_without_an_answer_in_time_is_cancelled_and_not_ready(lifecycle):
    cancelled = asyncio.Event()

    async def hangs() -> None:
        try:
            await asyncio.Event().wait()  # nothing sets it: only the timeout ends the wait
        except asyncio.CancelledError:
            cancelled.set()
            raise

    readiness = Readiness(lifecycle, [("database users", hangs), ("cache", passes)], timeout=0.05)
    report = await readiness.report()
    assert report == HealthReport(
        False, "ready", {"database users": "no answer within 0.05 s", "cache": "ok"}
    )
    assert cancelled.is_set()


async def test_a_timeout_error_of_the_check_itself_is_its_reason(lifecycle):
    async def driver_gave_up() -> None:
        raise TimeoutError("the driver gave up after 30 s")

    report = await Readiness(lifecycle, [("database", driver_gave_up)]).report()
    assert report.checks == {"database": "the driver gave up after 30 s"}


async def test_the_checks_run_side_by_side():
    # Each check waits for the other to have begun: run one after the other, the first
    # would wait for the second until the timeout.
    first, second = asyncio.Event(), asyncio.Event()

    async def check_first() -> None:
        first.set()
        await second.wait()

    async def check_second() -> None:
        second.set()
        await first.wait()

    lifecycle = Lifecycle("runs")
    report = await Readiness(lifecycle, [("first", check_first), ("second", check_second)]).report()
    assert report.checks == {"first": "ok", "second": "ok"}


@pytest.mark.parametrize("stage", ["created", "stopped"])
async def test_a_lifecycle_that_is_not_ready_is_not_ready_whatever_the_checks(stage):
    lifecycle = Lifecycle("runs")
    if stage == "stopped":
        await lifecycle.start([])
        await lifecycle.stop()
    report = await Readiness(lifecycle, [("database users", passes)]).report()
    assert report == HealthReport(False, stage, {"database users": "ok"})


async def test_a_lifecycle_still_starting_is_not_ready():
    starting = Lifecycle("runs")
    started, release = asyncio.Event(), asyncio.Event()

    class Slow:
        async def start(self) -> None:
            started.set()
            await release.wait()

        async def stop(self) -> None:
            pass

    start = asyncio.create_task(starting.start([Unit("slow", Slow())]))
    await started.wait()
    report = await Readiness(starting, [("slow", passes)]).report()
    release.set()
    await start
    await starting.stop()
    assert report == HealthReport(False, "starting", {"slow": "ok"})


async def test_add_adds_a_check_after_construction(lifecycle):
    readiness = Readiness(lifecycle)
    readiness.add("database users", unreachable)
    assert readiness.names == ["database users"]
    assert not (await readiness.report()).ready


def test_two_checks_cannot_share_a_name():
    readiness = Readiness(Lifecycle("runs"), [("database users", passes)])
    with pytest.raises(ConfigError, match=r"check named 'database users' was added already"):
        readiness.add("database users", unreachable)


@pytest.mark.parametrize("timeout", [0, -1.0, math.inf, math.nan])
def test_the_timeout_must_be_positive_and_finite(timeout):
    with pytest.raises(ConfigError, match=r"positive finite number of seconds; got .*timeout=2"):
        Readiness(Lifecycle("runs"), timeout=timeout)


class Pinged:
    """A component that answers pings, as a database does."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    async def ping(self) -> None:
        if self.error is not None:
            raise self.error


class BlockingPing:
    def ping(self) -> None:
        pass


class Unpinged:
    pass


async def test_from_components_checks_only_the_instances_whose_class_has_an_async_ping(lifecycle):
    given_later = Unpinged()
    given_later.ping = passes  # type: ignore[attr-defined]  # the instance's, not the class's
    readiness = Readiness.from_components(
        lifecycle,
        [
            ("database users", Pinged(DatabaseUnavailableError("cannot reach db.internal:5432"))),
            ("blocking", BlockingPing()),
            ("plain", Unpinged()),
            ("given later", given_later),
            ("database runs", Pinged()),
        ],
        timeout=0.05,
    )
    assert readiness.names == ["database users", "database runs"]
    assert readiness.timeout == 0.05
    report = await readiness.report()
    assert report.checks == {
        "database users": "cannot reach db.internal:5432",
        "database runs": "ok",
    }


def test_repr_names_the_application_and_the_checks():
    readiness = Readiness(Lifecycle("runs"), [("database users", passes)])
    assert repr(readiness) == "<Readiness 'runs' checks=['database users']>"
