"""Entering and leaving the root container of atoll.kernel.container: eager start, close."""

from collections.abc import AsyncIterator, Iterator

import pytest

from atoll.kernel.container import Container, ScopedContainer, current_container
from atoll.kernel.providers import Scope
from atoll.kernel.registry import Registry
from tests.kernel.container_doubles import (
    Clock,
    Conn,
    Db,
    Engine,
    Session,
    Settings,
    conns,
    recording,
    recording_async,
    web_registry,
)


def eager_registry(events):
    def settings() -> Settings:
        events.append("settings")
        return Settings()

    def engine(settings: Settings) -> Iterator[Engine]:
        events.append("engine")
        yield Engine(settings)
        events.append("engine closed")

    registry = Registry()
    registry.provide(engine)
    registry.provide(settings)
    registry.provide(Session, scope=Scope.REQUEST)
    return registry


def test_with_container_makes_every_app_scoped_instance_in_dependency_order():
    events = []
    container = eager_registry(events).build()

    with container:
        assert events == ["settings", "engine"]
        assert list(container.instances()) == [Settings, Engine]
        assert current_container() is container

    assert events == ["settings", "engine", "engine closed"]
    assert current_container() is None


async def test_async_with_container_makes_async_app_instances_eagerly():
    events = []
    registry = eager_registry(events)

    async def connect(engine: Engine) -> AsyncIterator[Conn]:
        events.append("conn")
        yield Conn()
        events.append("conn closed")

    registry.provide(connect)
    container = registry.build()

    async with container:
        assert events == ["settings", "engine", "conn"]

    assert events[3:] == ["conn closed", "engine closed"]


def test_leaving_the_root_forgets_its_instances_so_entering_again_makes_new_ones():
    registry = eager_registry([])
    settings = Settings()
    registry.value(settings, provides=Db)
    container = registry.build()

    with container:
        engine = container.get(Engine)
    assert container.instances() == {Db: settings}

    with container:
        assert container.get(Engine) is not engine
        assert container.get(Db) is settings


def failing_start(events, error, *before):
    registry = eager_registry(events)
    for factory in before:
        registry.provide(factory)

    def broken(engine: Engine) -> Db:
        events.append("broken")
        raise error

    registry.provide(broken)
    return registry


def test_a_failing_app_factory_fails_the_start_and_cleans_up_what_was_made():
    events = []
    error = ConnectionError("database down")
    container = failing_start(events, error).build()

    with pytest.raises(ConnectionError) as caught, container:
        pytest.fail("the block must not run")

    assert caught.value is error
    assert events == ["settings", "engine", "broken", "engine closed"]
    assert current_container() is None
    assert container.instances() == {}


async def test_a_failing_async_start_cleans_up_and_keeps_the_start_error_with_a_note():
    events = []

    async def flaky() -> AsyncIterator[Clock]:
        yield Clock()
        raise OSError("flush failed")

    registry = failing_start(events, ConnectionError("database down"), flaky)

    with pytest.raises(ConnectionError) as caught:
        async with registry.build():
            pytest.fail("the block must not run")

    assert caught.value.__notes__ == [
        "cleaning up what was made before it also failed: OSError('flush failed')"
    ]
    assert "engine closed" in events


def test_a_failing_sync_start_keeps_the_start_error_with_a_note():
    events = []
    flaky = recording(events, "conn", fail=OSError("flush failed"))
    registry = failing_start(events, ConnectionError("database down"), flaky)

    with pytest.raises(ConnectionError) as caught, registry.build():
        pytest.fail("the block must not run")

    assert caught.value.__notes__ == [
        "cleaning up what was made before it also failed: OSError('flush failed')"
    ]


async def test_leaving_the_root_runs_sync_and_async_app_cleanups_newest_first():
    events = []
    registry = conns(events, "a", scope=Scope.APP)
    registry.provide(recording_async(events, "b"), name="b")

    async with registry.build():
        pass

    assert events == ["open a", "open b", "close b", "close a"]


async def test_aclose_runs_the_app_cleanups_and_forgets_the_app_instances():
    events = []
    container = conns(events, "a", scope=Scope.APP, make=recording_async).build()
    await container.aget(Conn, "a")

    await container.aclose()

    assert events == ["open a", "close a"]
    assert container.instances() == {}


async def test_leaving_a_root_that_was_never_entered_runs_its_cleanups():
    events = []
    container = conns(events, "a", scope=Scope.APP).build()
    container.get(Conn, "a")

    container.__exit__(None, None, None)
    container.get(Conn, "a")
    await container.__aexit__(None, None, None)

    assert events == ["open a", "close a", "open a", "close a"]


def test_the_container_exposes_its_checked_graph():
    container = web_registry().build()

    assert container.graph.order[0] is Settings
    assert isinstance(container, Container)
    assert isinstance(container.scope(), ScopedContainer)
