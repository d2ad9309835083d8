"""Readiness: the lifecycle's state and the checks, run side by side within a timeout; About."""

from __future__ import annotations

import asyncio
import importlib.metadata
import math
import platform
import sys
import types

import pytest

import atoll
from atoll.errors import ConfigError, DatabaseUnavailableError
from atoll.kernel.health import UNVERSIONED, About, HealthReport, Readiness, package_version
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


# -- latencies ---------------------------------------------------------------------------------


async def test_the_report_says_how_long_each_check_took(lifecycle):
    readiness = Readiness(lifecycle, [("database users", unreachable), ("cache", passes)])
    report = await readiness.report()
    assert list(report.latencies) == ["database users", "cache"]
    assert all(seconds >= 0 for seconds in report.latencies.values())


def test_reports_that_found_the_same_are_equal_whatever_their_latencies():
    assert HealthReport(True, "ready", {"cache": "ok"}, {"cache": 0.001}) == HealthReport(
        True, "ready", {"cache": "ok"}, {"cache": 0.5}
    )


# -- About -------------------------------------------------------------------------------------


@pytest.fixture
def package(monkeypatch):
    """An imported package ``shelf`` declaring its version, 2.5.0, and installed nowhere."""
    module = types.ModuleType("shelf")
    module.__version__ = "2.5.0"
    monkeypatch.setitem(sys.modules, "shelf", module)
    return module


def test_about_keeps_the_version_given():
    about = About.of("runs", "1.4.0", ["shelf.api"])
    assert (about.name, about.version) == ("runs", "1.4.0")


def test_about_an_unversioned_application_tells_its_packages_version(package):
    about = About.of("runs", UNVERSIONED, ["atoll.auth.service", "shelf.api", "other"])
    assert about.version == "2.5.0"  # the first package that is not atoll's


@pytest.mark.parametrize("modules", [[], ["", "atoll.auth.service"], ["no_such_package_here.api"]])
def test_about_an_unversioned_application_of_no_known_package_tells_no_version(modules):
    assert About.of("runs", UNVERSIONED, modules).version is None


def test_about_tells_atolls_and_pythons_versions_and_only_the_build_fields_given():
    python = platform.python_version()
    assert About.of("runs", "1.0").build == {"atoll": atoll.__version__, "python": python}
    given = About.of("runs", "1.0", commit="4f2a9c1", build_date="2026-05-04T09:30:00Z").build
    assert given == {
        "atoll": atoll.__version__,
        "python": python,
        "commit": "4f2a9c1",
        "date": "2026-05-04T09:30:00Z",
    }


def test_a_packages_own_version_comes_first(package):
    assert package_version("shelf") == "2.5.0"


def test_a_package_without_a_version_of_its_own_tells_its_distributions(monkeypatch):
    monkeypatch.delitem(sys.modules, "msgspec")  # put back after the test
    assert package_version("msgspec") == importlib.metadata.version("msgspec")


def test_a_package_whose_distribution_has_another_name_is_found_through_it(monkeypatch):
    monkeypatch.delitem(sys.modules, "nats", raising=False)
    assert package_version("nats") == importlib.metadata.version("nats-py")


def test_a_version_attribute_a_module_only_makes_on_demand_is_not_asked_for(monkeypatch):
    module = types.ModuleType("warns")

    def asked(name):
        raise AssertionError(f"{name} was asked for")

    module.__getattr__ = asked  # a module's own __getattr__, as click's warns for __version__
    monkeypatch.setitem(sys.modules, "warns", module)
    assert package_version("warns") is None
