from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest

import atoll
from atoll.errors import DatabaseUnavailableError, MissingProviderError
from atoll.kernel import entrypoint
from atoll.kernel.app import App
from atoll.kernel.config import ConfigSpec
from atoll.kernel.entrypoint import components, execute, main, serve
from atoll.kernel.inflight import InFlight
from atoll.kernel.lifecycle import Lifecycle


@dataclass(frozen=True)
class DbOptions:
    url: str = atoll.option("sqlite://", help="database URL")
    pool: int = atoll.option(5, help="connections kept open")


class Journal:
    """What happened, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []


class Database:
    def __init__(self, options: DbOptions, journal: Journal) -> None:
        self.options = options
        self.journal = journal

    async def start(self) -> None:
        self.journal.events.append(f"db start {self.options.url}")

    async def stop(self) -> None:
        self.journal.events.append("db stop")


class Repository:
    """Not a component: it only passes the database on."""

    def __init__(self, db: Database) -> None:
        self.db = db


class Server:
    def __init__(self, repository: Repository, journal: Journal) -> None:
        self.journal = journal

    async def start(self) -> None:
        self.journal.events.append("server start")

    async def stop(self) -> None:
        self.journal.events.append("server stop")


def make_app(journal: Journal) -> App:
    app = App("shop")
    app.options("db", DbOptions)
    app.value(journal)
    app.provide(Database)
    app.provide(Repository)
    app.provide(Server)
    return app


def test_runs_components_in_order_and_stops_when_asked():
    journal = Journal()
    app = make_app(journal)

    @app.task
    async def work(lifecycle: Lifecycle, journal: Journal) -> None:
        journal.events.append("task")
        lifecycle.request_stop()

    code = execute(app, ["--db-url", "postgresql://db/shop"], {})
    assert code == 0
    assert journal.events == [
        "db start postgresql://db/shop",
        "server start",
        "task",
        "server stop",
        "db stop",
    ]


def test_option_sections_are_provided_by_type_and_by_section_name():
    journal = Journal()
    app = App("shop")
    app.options("primary", DbOptions)
    app.options("replica", DbOptions)

    @app.task
    async def check(
        primary: Annotated[DbOptions, atoll.Named("primary")],
        replica: Annotated[DbOptions, atoll.Named("replica")],
        lifecycle: Lifecycle,
    ) -> None:
        journal.events.append(f"{primary.url} {replica.url}")
        lifecycle.request_stop()

    assert execute(app, ["--replica-url", "r://"], {}) == 0
    assert journal.events == ["sqlite:// r://"]


def test_an_options_type_used_twice_is_only_provided_by_name(caplog):
    app = App("shop")
    app.options("primary", DbOptions)
    app.options("replica", DbOptions)

    @app.task
    async def check(options: DbOptions) -> None:
        pass

    with caplog.at_level(logging.CRITICAL):
        assert execute(app, [], {}) == 1
    assert "no provider for DbOptions, needed by background task 'check'" in caplog.text
    assert "Annotated[DbOptions, Named(" in caplog.text


def test_components_need_each_other_through_plain_providers():
    registry = atoll.Registry()
    journal = Journal()
    registry.value(journal)
    registry.value(DbOptions())
    registry.provide(Database)
    registry.provide(Repository)
    registry.provide(Server)
    with registry.build() as container:
        units = {unit.name: unit for unit in components(container)}
    assert set(units) == {"Database", "Server"}
    assert units["Server"].needs == frozenset({"Database"})
    assert units["Database"].needs == frozenset()


def test_the_lifecycle_and_its_gate_are_injectable():
    app = App("shop")
    seen: list[object] = []

    @app.task
    async def check(lifecycle: Lifecycle, gate: InFlight) -> None:
        seen.append(gate is lifecycle.inflight)
        lifecycle.request_stop()

    assert execute(app, [], {}) == 0
    assert seen == [True]


def test_a_bad_option_exits_2_and_names_it(capsys):
    code = execute(make_app(Journal()), ["--db-pool", "many"], {}, prog="shop")
    assert code == 2
    err = capsys.readouterr().err
    assert "shop: configuration error" in err
    assert "db.pool" in err
    assert "--db-pool" in err
    assert "many" in err


def test_print_config_shows_values_with_their_origin_and_exits_0(capsys):
    code = execute(make_app(Journal()), ["--print-config"], {"SHOP_DB_URL": "x://"})
    assert code == 0
    out = capsys.readouterr().out
    assert "db.url" in out
    assert "SHOP_DB_URL" in out


def test_help_lists_the_kernel_options_and_returns_0(capsys):
    assert execute(make_app(Journal()), ["--help"], {}, prog="shop") == 0
    out = capsys.readouterr().out
    for expected in ("usage: shop", "--shutdown-grace", "SHOP_SHUTDOWN_GRACE", "--log-level"):
        assert expected in out


def test_version_prints_the_app_version_and_returns_0(capsys):
    app = App("shop", version="2.1.0")
    assert execute(app, ["--version"], {}, prog="shop") == 0
    assert capsys.readouterr().out == "shop 2.1.0\n"


def test_a_negative_grace_is_a_configuration_error(capsys):
    assert execute(App("shop"), ["--shutdown-grace", "-1"], {}, prog="shop") == 2
    err = capsys.readouterr().err
    assert "section [shutdown] is invalid: grace must be a finite number of seconds" in err


def test_a_negative_drain_is_a_configuration_error(capsys):
    assert execute(App("shop"), ["--shutdown-drain", "-1"], {}, prog="shop") == 2
    err = capsys.readouterr().err
    assert "section [shutdown] is invalid: drain must be a finite number of seconds" in err


def test_the_drain_option_is_the_lifecycles():
    app = App("shop")
    seen = []

    @app.task
    async def look(lifecycle: Lifecycle) -> None:
        seen.append((lifecycle.grace, lifecycle.drain))
        lifecycle.request_stop()

    assert execute(app, ["--shutdown-drain", "2.5"], {"SHOP_SHUTDOWN_GRACE": "4"}) == 0
    assert seen == [(4.0, 2.5)]


def test_a_task_needing_a_request_scoped_dependency_fails_before_anything_starts(caplog):
    journal = Journal()
    app = make_app(journal)
    app.provide(Repository, scope=atoll.Scope.REQUEST, name="per-request")

    @app.task
    async def sweep(repository: Annotated[Repository, atoll.Named("per-request")]) -> None:
        pass

    with caplog.at_level(logging.CRITICAL):
        assert execute(app, [], {}) == 1
    assert "background task 'sweep' needs Repository named 'per-request'" in caplog.text
    assert "which gets app-scoped dependencies only" in caplog.text
    assert journal.events == []


def test_a_task_parameter_with_a_default_needs_no_provider():
    app = App("shop")
    seen: list[int] = []

    @app.task
    async def check(lifecycle: Lifecycle, retries: int = 3) -> None:
        seen.append(retries)
        lifecycle.request_stop()

    assert execute(app, [], {}) == 0
    assert seen == [3]


def test_a_failing_task_exits_1_and_logs_the_task(caplog):
    app = App("shop")

    @app.task
    async def relay() -> None:
        msg = "broker gone"
        raise RuntimeError(msg)

    with caplog.at_level(logging.ERROR):
        assert execute(app, [], {}) == 1
    assert "background task 'relay' failed: RuntimeError: broker gone" in caplog.text


def test_a_failing_factory_exits_1_and_logs_why(caplog):
    app = App("shop")

    class Broken:
        def __init__(self) -> None:
            msg = "no disk"
            raise OSError(msg)

    app.provide(Broken)
    with caplog.at_level(logging.CRITICAL):
        assert execute(app, [], {}) == 1
    assert "shop failed: no disk" in caplog.text


class Unreachable:
    """A component whose start fails as the database adapter's does when it is away."""

    async def start(self) -> None:
        msg = "cannot reach PostgreSQL at db:5432 to start: refused. Is PostgreSQL running?"
        raise DatabaseUnavailableError(msg)

    async def stop(self) -> None: ...


def test_a_start_failure_atoll_explains_is_one_line_and_its_traceback_waits_for_debug(caplog):
    app = App("shop")
    app.provide(Unreachable)

    @app.task
    async def uses(database: Unreachable) -> None: ...

    with caplog.at_level(logging.INFO):
        assert execute(app, ["--log-level", "info"], {}) == 1
        told = [r for r in caplog.records if r.levelno == logging.CRITICAL]
        assert [r.exc_info for r in told] == [None]  # no traceback
        assert told[0].getMessage().startswith("shop failed: cannot reach PostgreSQL at db:5432")
        assert "(--log-level debug shows where)" in told[0].getMessage()
        caplog.clear()
        assert execute(app, ["--log-level", "debug"], {}) == 1
        [told_debug] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert told_debug.exc_info is not None  # with debug, where it came from


def test_a_bug_s_failure_keeps_its_traceback(caplog):
    app = App("shop")

    class Broken:
        def __init__(self) -> None:
            raise KeyError("oops")

    app.provide(Broken)
    with caplog.at_level(logging.CRITICAL):
        assert execute(app, [], {}) == 1
    [told] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert told.exc_info is not None


def test_a_provider_graph_error_names_the_app(caplog):
    app = App("shop")
    app.provide(Repository)
    with caplog.at_level(logging.CRITICAL):
        assert execute(app, [], {}) == 1
    assert "the providers of shop do not fit together: no provider for Database" in caplog.text


def test_graph_errors_keep_their_type():
    app = App("shop")
    app.provide(Repository)
    config = ConfigSpec(app.sections, prog="shop", env_prefix="SHOP").load([], {})
    with pytest.raises(MissingProviderError, match=r"^the providers of shop do not fit"):
        asyncio.run(serve(app, config))


def test_cleanups_run_after_components_stop():
    journal = Journal()
    app = make_app(journal)

    async def session(db: Database) -> AsyncIterator[Journal]:
        yield journal
        journal.events.append("cleanup")

    app.provide(session, provides=Journal, name="session")

    @app.task
    async def stop(lifecycle: Lifecycle) -> None:
        lifecycle.request_stop()

    assert execute(app, [], {}) == 0
    assert journal.events[-3:] == ["server stop", "db stop", "cleanup"]


def test_log_level_option_sets_the_root_level():
    app = App("shop")

    @app.task
    async def stop(lifecycle: Lifecycle) -> None:
        lifecycle.request_stop()

    root = logging.getLogger()
    before = root.level
    try:
        assert execute(app, ["--log-level", "debug"], {}) == 0
        assert root.level == logging.DEBUG
    finally:
        root.setLevel(before)


def test_debug_shows_atoll_and_the_application_and_leaves_the_libraries_at_warning():
    app = App("shop")
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.name)

    @app.task
    async def stop(lifecycle: Lifecycle) -> None:
        for name in ("atoll.bus", "shop.orders", "aiosqlite", "asyncpg", "alembic"):
            logger = logging.getLogger(name)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("a detail")
        lifecycle.request_stop()

    keep = Keep()
    logging.getLogger().addHandler(keep)
    try:
        assert execute(app, ["--log-level", "debug"], {}) == 0
        shown_first, seen[:] = seen[:], []
        assert execute(app, ["--log-level", "debug", "--log-libraries", "debug"], {}) == 0
    finally:
        logging.getLogger().removeHandler(keep)
    assert {"atoll.bus", "shop.orders"} <= set(shown_first)
    assert not {"aiosqlite", "asyncpg", "alembic"} & set(shown_first)
    assert {"aiosqlite", "asyncpg", "alembic"} <= set(seen)  # when asked for


def test_a_library_level_the_application_set_is_left_alone():
    app = App("shop")

    @app.task
    async def stop(lifecycle: Lifecycle) -> None:
        lifecycle.request_stop()

    logging.getLogger("httpx").setLevel(logging.INFO)
    assert execute(app, ["--log-level", "debug"], {}) == 0
    assert logging.getLogger("httpx").level == logging.INFO
    assert logging.getLogger("aiosqlite").level == logging.WARNING


def test_main_exits_with_the_status():
    app = App("shop")

    @app.task
    async def stop(lifecycle: Lifecycle) -> None:
        await asyncio.sleep(0)
        lifecycle.request_stop(exit_code=3)

    with pytest.raises(SystemExit) as exit_info:
        main(app, [])
    assert exit_info.value.code == 3


@pytest.mark.slow
def test_a_second_signal_ends_the_process_even_when_code_ignores_cancellation(spawn):
    script = Path(__file__).with_name("stubborn_app.py")
    process = spawn(sys.executable, str(script))
    process.wait_for("stubborn ready")
    process.signal(signal.SIGTERM)
    process.wait_for("stubborn ignores the cancellation")
    process.signal(signal.SIGTERM)
    assert process.finish(timeout=30) == 128 + signal.SIGTERM


class Cache:
    def __init__(self, db: Database, repository: Repository) -> None:
        self.db = db

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


def test_a_component_reached_twice_is_needed_once():
    registry = atoll.Registry()
    registry.value(Journal())
    registry.value(DbOptions())
    registry.provide(Database)
    registry.provide(Repository)
    registry.provide(Cache)
    with registry.build() as container:
        units = {unit.name: unit for unit in components(container)}
    assert units["Cache"].needs == frozenset({"Database"})


class Twin:
    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


def test_one_instance_under_two_keys_is_one_unit():
    registry = atoll.Registry()
    twin = Twin()
    registry.value(twin)
    registry.value(twin, name="alias")
    with registry.build() as container:
        units = components(container)
    assert [(unit.name, unit.component) for unit in units] == [("Twin", twin)]


def test_two_components_with_one_name_are_told_apart_by_module():
    other = type("Twin", (Twin,), {"__module__": "elsewhere"})
    registry = atoll.Registry()
    registry.value(Twin())
    registry.value(other())
    with registry.build() as container:
        names = sorted(unit.name for unit in components(container))
    assert names == sorted([f"{__name__}.Twin", "elsewhere.Twin"])


class Slow:
    pass


def test_a_signal_while_app_instances_are_made_stops_before_anything_starts(caplog):
    journal = Journal()
    app = make_app(journal)

    async def slow() -> Slow:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.05)
        return Slow()

    app.provide(slow, provides=Slow)
    with caplog.at_level(logging.INFO):
        assert execute(app, [], {}) == 0
    assert "received SIGTERM" in caplog.text
    assert journal.events == []


def test_a_forced_stop_does_not_end_the_process_that_called_execute(monkeypatch):
    monkeypatch.setattr(entrypoint, "FORCED_EXIT_DELAY", 0.1)
    app = App("shop")

    @app.task
    async def twice() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(3600)

    assert execute(app, [], {}) == 128 + signal.SIGTERM
    time.sleep(0.3)  # the watchdog, had it stayed armed, would have ended this process by now


@pytest.mark.parametrize(
    ("argv0", "prog"),
    [("/srv/runs/__main__.py", "python -m runs"), ("/srv/greeter.py", "greeter.py"), ("", "shop")],
)
def test_the_program_name_is_how_the_process_was_started(monkeypatch, capsys, argv0, prog):
    monkeypatch.setattr(sys, "argv", [argv0, "--version"])
    assert execute(App("shop", version="1"), None, {}) == 0
    assert capsys.readouterr().out == f"{prog} 1\n"


@dataclass(frozen=True)
class FeatureOptions:
    clock: bool = atoll.option(default=False, help="provide the clock")


class Clock:
    pass


def _app_with_a_switched_clock() -> App:
    app = App("runs")
    app.options("feature", FeatureOptions)
    app.provide(Clock, when=lambda config: config.section("feature").clock)
    return app


@pytest.mark.parametrize(("argv", "provided"), [([], False), (["--feature-clock"], True)])
def test_a_provider_given_when_is_in_the_container_only_if_the_configuration_asks(argv, provided):
    app = _app_with_a_switched_clock()
    config = entrypoint.load_config(app, argv, {})

    container = entrypoint.build_container(app, config, Lifecycle(app.name))

    assert (Clock in container.graph.providers) is provided
    with container:
        assert any(isinstance(i, Clock) for i in container.instances().values()) is provided


def test_what_needs_a_provider_switched_off_fails_the_graph_check():
    app = _app_with_a_switched_clock()

    def alarm(clock: Clock) -> Journal:
        return Journal()

    app.provide(alarm)
    config = entrypoint.load_config(app, [], {})

    with pytest.raises(MissingProviderError, match="Clock"):
        entrypoint.build_container(app, config, Lifecycle(app.name))


@pytest.mark.parametrize(
    ("flags", "told"),
    [
        (
            ["--db-url", "mysql://ada:pw@db/shop"],
            "url 'mysql://ada:********@db/shop' names no database",
        ),
        (["--broker-url", "kafka://h:9092"], "url 'kafka://h:9092' names no broker"),
    ],
)
def test_a_url_no_adapter_reads_is_a_configuration_error_before_anything_starts(
    flags, told, capsys
):
    from atoll.persistence.schema import Schema  # noqa: PLC0415
    from atoll.service.runnable import Service  # noqa: PLC0415

    service = Service("shop")
    service.database(Schema())
    assert execute(service, flags, {}) == 2
    err = capsys.readouterr().err
    assert told in err
    assert "use one of" in err
