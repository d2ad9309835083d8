"""Generated resolvers: each provider's function passes, caches, owns and refuses correctly."""

from collections.abc import AsyncIterator, Iterator

import pytest

from atoll.errors import ProviderError, ScopeError
from atoll.kernel.providers import Scope
from atoll.kernel.registry import Registry
from atoll.kernel.resolvers import AwaitNeededError, compile_resolvers


class Settings:
    pass


class Session:
    pass


class Clock:
    pass


class Conn:
    pass


class Engine:
    pass


class Stamped:
    def __init__(self, session: Session) -> None:
        self.session = session


class Pair:
    def __init__(self, first: Clock, second: Clock) -> None:
        self.first = first
        self.second = second


class Repo:
    def __init__(self, engine: Engine, session: Session) -> None:
        self.engine = engine
        self.session = session


class Captured:
    """What a test factory was given."""

    def __init__(self, *values: object) -> None:
        self.values = values


class Keeper:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn


def registry_of(*factories, scope=Scope.REQUEST):
    registry = Registry()
    for factory in factories:
        registry.provide(factory, scope=scope)
    return registry


def test_a_parameter_after_one_left_to_its_default_is_passed_by_keyword():
    def make(retries=3, timeout: float = 1.5, *, settings: Settings, clock: Clock) -> Captured:
        return Captured(retries, timeout, settings, clock)

    registry = registry_of(make, Clock, Settings, scope=Scope.APP)

    with registry.build() as container:
        retries, timeout, settings, clock = container.get(Captured).values

    assert (retries, timeout) == (3, 1.5)
    assert isinstance(settings, Settings)
    assert isinstance(clock, Clock)


def test_a_hinted_parameter_with_a_default_and_no_provider_keeps_its_default():
    def make(settings: Settings, label: str = "main", clock: Clock | None = None) -> Captured:
        return Captured(settings, label, clock)

    with registry_of(make, Settings, scope=Scope.APP).build() as container:
        assert container.get(Captured).values[1:] == ("main", None)


def test_a_hinted_parameter_with_a_default_and_a_provider_gets_the_provided_instance():
    def make(settings: Settings | None = None) -> Captured:
        return Captured(settings)

    registry = registry_of(make, scope=Scope.APP)
    settings = Settings()
    registry.value(settings, provides=Settings | None)

    with registry.build() as container:
        assert container.get(Captured).values == (settings,)


def test_a_transient_needed_twice_by_one_factory_is_made_twice():
    registry = registry_of(Pair)
    registry.provide(Clock, scope=Scope.TRANSIENT)

    with registry.build().scope() as scope:
        pair = scope.get(Pair)

    assert pair.first is not pair.second


def test_a_transient_needing_request_scoped_gets_the_scope_s_instance():
    registry = registry_of(Session)
    registry.provide(Stamped, scope=Scope.TRANSIENT)

    with registry.build().scope() as scope:
        first, second = scope.get(Stamped), scope.get(Stamped)

    assert first is not second
    assert first.session is second.session is scope.get(Session)


def test_a_value_dependency_is_passed_as_registered():
    settings = Settings()
    registry = registry_of(Keeper)
    registry.value(settings, provides=Conn)

    with registry.build().scope() as scope:
        assert scope.get(Keeper).conn is settings


def test_a_generator_that_never_yields_is_refused_naming_it():
    def never() -> Iterator[Conn]:
        yield from ()

    with registry_of(never).build().scope() as scope, pytest.raises(ProviderError) as caught:
        scope.get(Conn)

    assert str(caught.value) == (
        "the factory test_a_generator_that_never_yields_is_refused_naming_it.<locals>.never "
        "returned without yielding; a generator factory yields its instance once, with its "
        "cleanup after the `yield`"
    )


async def test_an_async_generator_that_never_yields_is_refused_naming_it():
    async def never() -> AsyncIterator[Conn]:
        for conn in ():
            yield conn

    async with registry_of(never).build().scope() as scope:
        with pytest.raises(ProviderError, match=r"never returned without yielding"):
            await scope.aget(Conn)


def test_an_app_scoped_instance_first_asked_for_in_a_scope_belongs_to_the_root():
    closed = []

    def connect() -> Iterator[Conn]:
        yield Conn()
        closed.append("conn")

    registry = registry_of(Keeper, scope=Scope.APP)
    registry.provide(connect, scope=Scope.TRANSIENT)
    container = registry.build()

    with container.scope() as scope:
        keeper = scope.get(Keeper)
    assert closed == []

    container.close()
    assert closed == ["conn"]
    assert container.get(Keeper) is not keeper


def test_the_root_refuses_a_request_scoped_key_telling_to_open_a_scope():
    container = registry_of(Session).build()

    with pytest.raises(ScopeError) as caught:
        container.get(Session)

    assert str(caught.value) == (
        "Session is request-scoped, and the root container has no request: open a scope and "
        "resolve it there, `async with container.scope() as scope: await scope.aget(Session)`"
    )


async def test_the_root_refuses_a_transient_needing_a_request_scoped_key_naming_the_path():
    async def open_session() -> Session:
        return Session()

    registry = registry_of(open_session)
    registry.provide(Stamped, scope=Scope.TRANSIENT)
    container = registry.build()

    with pytest.raises(ScopeError) as caught:
        await container.aget(Stamped)

    assert str(caught.value).startswith(
        "Stamped needs request-scoped Session (path: Stamped -> Session), and the root "
        "container has no request: open a scope"
    )
    with pytest.raises(ScopeError, match="Session is request-scoped"):
        await container.aget(Session)


async def test_a_sync_factory_needing_an_async_one_is_made_by_get_once_that_one_exists():
    async def open_engine() -> Engine:
        return Engine()

    registry = registry_of(Repo, Session)
    registry.provide(open_engine)
    container = registry.build()

    async with container, container.scope() as scope:
        repo = scope.get(Repo)
        engine = scope.get(Engine)

    assert isinstance(engine, Engine)
    assert repo.engine is engine
    assert repo.session is not None


def test_only_keys_whose_making_awaits_get_async_resolvers():
    async def open_engine() -> Engine:
        return Engine()

    registry = registry_of(Repo, Session)
    registry.provide(open_engine)
    container = registry.build()

    resolvers = compile_resolvers(container.graph, container, {})

    assert set(resolvers.scoped) == set(resolvers.root) == {Engine, Session, Repo}
    assert set(resolvers.scoped_async) == set(resolvers.root_async) == {Engine, Repo}
    assert resolvers.root[Engine] is resolvers.scoped[Engine]
    assert resolvers.root[Session] is not resolvers.scoped[Session]


def test_the_sync_resolver_of_an_async_factory_raises_await_needed():
    async def open_engine() -> Engine:
        return Engine()

    registry = registry_of(open_engine, scope=Scope.APP)
    container = registry.build()
    resolvers = compile_resolvers(container.graph, container, {})

    with pytest.raises(AwaitNeededError) as caught:
        resolvers.root[Engine](container)

    assert caught.value.key is Engine
    assert caught.value.app_scoped is True
    assert caught.value.factory.endswith("open_engine")
    assert str(caught.value).startswith("Engine is made by the async factory ")
    assert isinstance(caught.value, ScopeError)
