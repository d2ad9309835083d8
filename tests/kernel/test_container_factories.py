"""How atoll.kernel.container makes instances with each kind of factory, async ones included."""

from collections.abc import AsyncIterator, Iterator

import pytest

from atoll.errors import ProviderError, ScopeError
from atoll.kernel.container import current_container
from atoll.kernel.providers import Scope
from atoll.kernel.registry import Registry
from tests.kernel.container_doubles import (
    Conn,
    Engine,
    Repo,
    Settings,
    async_registry,
    open_engine,
)


def make_engine(settings: Settings) -> Engine:
    return Engine(settings)


def engine_generator(settings: Settings) -> Iterator[Engine]:
    yield Engine(settings)


async def engine_async_generator(settings: Settings) -> AsyncIterator[Engine]:
    yield Engine(settings)


@pytest.mark.parametrize(
    "factory", [Engine, make_engine, open_engine, engine_generator, engine_async_generator]
)
async def test_every_kind_of_factory_makes_an_instance_with_its_dependencies(factory):
    registry = Registry()
    registry.value(settings := Settings())
    registry.provide(factory, scope=Scope.REQUEST)

    async with registry.build().scope() as scope:
        engine = await scope.aget(Engine)

    assert isinstance(engine, Engine)
    assert engine.settings is settings


def twice(events):
    def yields_twice() -> Iterator[Conn]:
        try:
            yield Conn()
            yield Conn()
        finally:
            events.append("finally")

    return yields_twice


def async_twice(events):
    async def yields_twice() -> AsyncIterator[Conn]:
        try:
            yield Conn()
            yield Conn()
        finally:
            events.append("finally")

    return yields_twice


def test_a_generator_that_yields_twice_is_an_error_and_is_closed():
    events = []
    registry = Registry()
    registry.provide(twice(events), scope=Scope.REQUEST)

    with pytest.raises(ProviderError) as caught, registry.build().scope() as scope:
        scope.get(Conn)

    assert str(caught.value) == (
        "the factory twice.<locals>.yields_twice yielded more than once; a generator factory "
        "yields its instance once, with its cleanup after the `yield`"
    )
    assert events == ["finally"]


@pytest.mark.parametrize("make", [twice, async_twice])
async def test_a_generator_that_yields_twice_is_an_error_in_async_scopes_too(make):
    events = []
    registry = Registry()
    registry.provide(make(events), scope=Scope.REQUEST)

    with pytest.raises(ProviderError, match="yielded more than once"):
        async with registry.build().scope() as scope:
            await scope.aget(Conn)

    assert events == ["finally"]


def test_sync_get_of_an_async_factory_says_to_await_aget_and_names_the_factory():
    with pytest.raises(ScopeError) as caught:
        async_registry().build().scope().get(Engine)

    assert str(caught.value) == (
        "Engine is made by the async factory open_engine; use `await scope.aget(Engine)`, or "
        "enter the container with `async with container` first, which makes app-scoped "
        "instances"
    )


def test_sync_get_of_something_needing_an_async_factory_names_both():
    with pytest.raises(ScopeError) as caught:
        async_registry().build().scope().get(Repo)

    assert str(caught.value).startswith(
        "Repo needs Engine, which is made by the async factory open_engine; use "
        "`await scope.aget(Repo)`"
    )


def test_the_await_hint_for_a_named_key_is_a_call_that_works():
    registry = Registry()
    registry.provide(open_engine, scope=Scope.REQUEST, name="replica")
    registry.provide(Settings)

    with pytest.raises(ScopeError) as caught:
        registry.build().scope().get(Engine, "replica")

    assert str(caught.value) == (
        "Engine named 'replica' is made by the async factory open_engine; use "
        "`await scope.aget(Engine, 'replica')`"
    )


def test_sync_get_of_a_request_scoped_async_factory_only_says_to_await():
    registry = Registry()
    registry.provide(open_engine, scope=Scope.REQUEST)
    registry.provide(Settings)

    with pytest.raises(ScopeError) as caught:
        registry.build().scope().get(Engine)

    assert str(caught.value) == (
        "Engine is made by the async factory open_engine; use `await scope.aget(Engine)`"
    )


async def test_aget_awaits_async_factories_through_dependencies():
    async with async_registry().build().scope() as scope:
        repo = await scope.aget(Repo)

    assert isinstance(repo.engine, Engine)


async def test_sync_get_returns_an_app_scoped_async_instance_once_the_root_made_it():
    container = async_registry().build()

    async with container, container.scope() as scope:
        engine = scope.get(Engine)
        assert scope.get(Repo).engine is engine is container.get(Engine)


def test_entering_by_with_a_container_whose_app_factories_await_names_async_with():
    container = async_registry().build()

    with pytest.raises(ScopeError) as caught:
        container.__enter__()

    assert str(caught.value) == (
        "making app-scoped Engine awaits an async factory, which `with container` cannot do; "
        "enter the container with `async with container`"
    )
    assert current_container() is None
