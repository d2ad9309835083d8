"""Containers: lifetimes, async factories, cleanups, eager start, overrides and injection."""

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated

import pytest

from atoll.errors import MissingProviderError, ProviderError, ScopeError
from atoll.kernel.container import Container, ScopedContainer, current_container, inject
from atoll.kernel.providers import Named, Scope
from atoll.kernel.registry import Registry


class Settings:
    def __init__(self, url: str = "sqlite://") -> None:
        self.url = url


class Engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings


class Session:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine


class Clock:
    pass


class Db:
    pass


class Conn:
    pass


class Service:
    def __init__(self, settings: Settings, session: Session, clock: Clock) -> None:
        self.settings = settings
        self.session = session
        self.clock = clock


class Repo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine


class StopNowError(BaseException):
    """Stands for KeyboardInterrupt or CancelledError without interrupting the test run."""


def web_registry() -> Registry:
    """Settings and Engine for the app, a Session per request, a new Clock each time."""
    registry = Registry()
    registry.provide(Settings)
    registry.provide(Engine)
    registry.provide(Session, scope=Scope.REQUEST)
    registry.provide(Clock, scope=Scope.TRANSIENT)
    registry.provide(Service, scope=Scope.REQUEST)
    return registry


def recording(events, name, *, fail=None):
    """A generator factory of ``Conn`` that records when it opens and closes."""

    def factory() -> Iterator[Conn]:
        events.append(f"open {name}")
        yield Conn()
        events.append(f"close {name}")
        if fail is not None:
            raise fail

    factory.__qualname__ = name
    return factory


def recording_async(events, name, *, fail=None):
    """An async generator factory of ``Conn`` that records when it opens and closes."""

    async def factory() -> AsyncIterator[Conn]:
        events.append(f"open {name}")
        yield Conn()
        events.append(f"close {name}")
        if fail is not None:
            raise fail

    factory.__qualname__ = name
    return factory


def serve(container, *names, raising=None):
    """One request that asks for the ``Conn`` of each name, in order, then raises ``raising``."""
    with container.scope() as scope:
        for name in names:
            scope.get(Conn, name)
        if raising is not None:
            raise raising


async def aserve(container, *names, raising=None):
    """One async request that asks for the ``Conn`` of each name, in order, then raises."""
    async with container.scope() as scope:
        for name in names:
            await scope.aget(Conn, name)
        if raising is not None:
            raise raising


def fail_inside(block, error):
    """Enter ``block`` with ``with`` and raise ``error`` inside it."""
    with block:
        raise error


async def afail_inside(block, error):
    """Enter ``block`` with ``async with`` and raise ``error`` inside it."""
    async with block:
        raise error


def conns(events, *names, scope=Scope.REQUEST, fails=None, make=recording):
    """A registry of one named ``Conn`` generator per name."""
    fails = fails or {}
    registry = Registry()
    for name in names:
        registry.provide(make(events, name, fail=fails.get(name)), name=name, scope=scope)
    return registry


# --- keys ------------------------------------------------------------------------------------


def test_get_resolves_by_type():
    with web_registry().build() as container:
        assert isinstance(container.get(Engine), Engine)


def test_get_with_a_name_resolves_the_named_provider():
    primary, replica = Db(), Db()
    registry = Registry()
    registry.value(primary)
    registry.value(replica, name="replica")

    container = registry.build()

    assert container.get(Db) is primary
    assert container.get(Db, name="replica") is replica


def test_a_hint_annotated_with_named_receives_the_named_instance():
    registry = Registry()
    replica = Db()
    registry.value(Db())
    registry.value(replica, name="replica")

    def report(db: Annotated[Db, Named("replica")]) -> Db:
        return db

    assert registry.build().call(report) is replica


def test_get_of_an_unprovided_type_names_it_and_hints():
    registry = Registry()
    registry.provide(Db, name="replica")

    with pytest.raises(MissingProviderError) as caught:
        registry.build().scope().get(Db)

    assert str(caught.value) == (
        "no provider for Db; Db named 'replica' is provided: did you mean to ask for "
        "Annotated[Db, Named('replica')]?"
    )


# --- scopes ----------------------------------------------------------------------------------


def test_an_app_scoped_instance_is_one_per_root_and_shared_by_its_scopes():
    container = web_registry().build()

    with container, container.scope() as first, container.scope() as second:
        assert first.get(Engine) is second.get(Engine) is container.get(Engine)


def test_each_root_container_makes_its_own_app_scoped_instances():
    registry = web_registry()

    with registry.build() as one, registry.build() as two:
        assert one.get(Engine) is not two.get(Engine)


def test_a_request_scoped_instance_is_one_per_scope():
    container = web_registry().build()

    with container.scope() as first, container.scope() as second:
        assert first.get(Session) is first.get(Session)
        assert first.get(Session) is not second.get(Session)
        assert first.get(Service).session is first.get(Session)


def test_a_message_scope_is_a_request_scope():
    registry = Registry()
    registry.provide(Clock, scope=Scope.MESSAGE)
    container = registry.build()

    with container.scope() as first, container.scope() as second:
        assert first.get(Clock) is first.get(Clock)
        assert first.get(Clock) is not second.get(Clock)


def test_a_transient_is_new_each_time():
    container = web_registry().build()

    with container.scope() as scope:
        assert scope.get(Clock) is not scope.get(Clock)
        assert scope.get(Service).clock is not scope.get(Clock)


def test_the_root_refuses_request_scoped_keys_telling_to_open_a_scope():
    with web_registry().build() as container, pytest.raises(ScopeError) as caught:
        container.get(Service)

    assert "Service is request-scoped, and the root container has no request: open a scope" in (
        str(caught.value)
    )


def test_the_root_resolves_a_transient_that_needs_only_app_scoped_keys():
    registry = Registry()
    registry.provide(Settings)
    registry.provide(Engine, scope=Scope.TRANSIENT)

    with registry.build() as container:
        assert container.get(Engine).settings is container.get(Settings)


# --- factories -------------------------------------------------------------------------------


def make_engine(settings: Settings) -> Engine:
    return Engine(settings)


async def open_engine(settings: Settings) -> Engine:
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


def test_cleanups_run_when_the_scope_closes_newest_first():
    events = []
    container = conns(events, "a", "b").build()

    with container.scope() as scope:
        scope.get(Conn, "b")
        scope.get(Conn, "a")
        events.append("request done")

    assert events == ["open b", "open a", "request done", "close a", "close b"]


async def test_async_cleanups_run_when_the_scope_closes_newest_first():
    events = []
    registry = conns(events, "a", make=recording_async)
    registry.provide(recording(events, "b"), name="b", scope=Scope.REQUEST)

    async with registry.build().scope() as scope:
        await scope.aget(Conn, "a")
        scope.get(Conn, "b")

    assert events == ["open a", "open b", "close b", "close a"]


def test_every_cleanup_runs_when_one_raises_and_the_error_is_raised_as_is():
    events = []
    error = ValueError("b broke")
    container = conns(events, "a", "b", "c", fails={"b": error}).build()

    with pytest.raises(ValueError, match="b broke") as caught:
        serve(container, "a", "b", "c")

    assert caught.value is error
    assert events[3:] == ["close c", "close b", "close a"]


def test_several_failing_cleanups_are_raised_together_as_an_exception_group():
    events = []
    first, second = ValueError("a broke"), KeyError("c broke")
    container = conns(events, "a", "b", "c", fails={"a": first, "c": second}).build()

    with pytest.raises(ExceptionGroup) as caught:
        serve(container, "a", "b", "c")

    assert str(caught.value) == "2 cleanups failed (2 sub-exceptions)"
    assert caught.value.exceptions == (second, first)
    assert events[3:] == ["close c", "close b", "close a"]


async def test_every_async_cleanup_runs_when_several_raise():
    events = []
    registry = conns(
        events,
        "a",
        "b",
        fails={"a": ValueError("a"), "b": ValueError("b")},
        make=recording_async,
    )

    with pytest.raises(ExceptionGroup, match="2 cleanups failed"):
        await aserve(registry.build(), "a", "b")

    assert events[2:] == ["close b", "close a"]


def test_an_interrupt_in_a_cleanup_lets_the_others_run_and_propagates_as_itself():
    events = []
    fails = {"b": StopNowError(), "c": ValueError("c broke")}
    container = conns(events, "a", "b", "c", fails=fails).build()

    with pytest.raises(StopNowError) as caught:
        serve(container, "a", "b", "c")

    assert events[3:] == ["close c", "close b", "close a"]
    assert caught.value.__notes__ == ["another cleanup also failed: ValueError('c broke')"]


class BlockError(Exception):
    """What the body of a ``with`` block raised, to tell it apart from cleanup failures."""


def test_leaving_a_scope_by_an_error_keeps_it_and_notes_every_failed_cleanup():
    events = []
    first, second = ValueError("a broke"), KeyError("c broke")
    container = conns(events, "a", "b", "c", fails={"a": first, "c": second}).build()
    error = BlockError("handler failed")

    with pytest.raises(BlockError) as caught:
        serve(container, "a", "b", "c", raising=error)

    assert caught.value is error
    assert events[3:] == ["close c", "close b", "close a"]
    assert caught.value.__notes__ == [
        "a cleanup on leaving the block also failed: KeyError('c broke')",
        "a cleanup on leaving the block also failed: ValueError('a broke')",
    ]


async def test_leaving_an_async_scope_by_an_error_keeps_it_and_notes_the_failed_cleanup():
    events = []
    registry = conns(events, "a", "b", fails={"a": OSError("flush failed")}, make=recording_async)
    error = BlockError("handler failed")

    with pytest.raises(BlockError) as caught:
        await aserve(registry.build(), "a", "b", raising=error)

    assert caught.value is error
    assert events[2:] == ["close b", "close a"]
    assert caught.value.__notes__ == [
        "a cleanup on leaving the block also failed: OSError('flush failed')"
    ]


def test_leaving_the_root_by_an_error_keeps_it_and_notes_the_failed_cleanup():
    events = []
    container = conns(events, "a", "b", scope=Scope.APP, fails={"b": OSError("b")}).build()
    error = BlockError("serving failed")

    with pytest.raises(BlockError) as caught:
        fail_inside(container, error)

    assert caught.value is error
    assert events == ["open a", "open b", "close b", "close a"]
    assert caught.value.__notes__ == ["a cleanup on leaving the block also failed: OSError('b')"]
    assert container.instances() == {}


async def test_leaving_the_async_root_by_an_error_keeps_it_and_notes_the_failed_cleanup():
    events = []
    registry = conns(events, "a", scope=Scope.APP, fails={"a": OSError("a")})
    registry.provide(recording_async(events, "b", fail=OSError("b")), name="b")
    error = BlockError("serving failed")

    with pytest.raises(BlockError) as caught:
        await afail_inside(registry.build(), error)

    assert caught.value is error
    assert events == ["open a", "open b", "close b", "close a"]
    assert caught.value.__notes__ == [
        "a cleanup on leaving the block also failed: OSError('b')",
        "a cleanup on leaving the block also failed: OSError('a')",
    ]


def test_leaving_a_scope_by_an_error_without_failed_cleanups_adds_no_note():
    events = []
    container = conns(events, "a").build()

    with pytest.raises(BlockError) as caught:
        serve(container, "a", raising=BlockError())

    assert not hasattr(caught.value, "__notes__")
    assert events == ["open a", "close a"]


def test_an_interrupted_cleanup_on_leaving_by_an_error_still_propagates_as_itself():
    events = []
    container = conns(events, "a", "b", fails={"b": StopNowError()}).build()
    error = BlockError("handler failed")

    with pytest.raises(StopNowError) as caught:
        serve(container, "a", "b", raising=error)

    assert caught.value.__context__ is error
    assert events[2:] == ["close b", "close a"]


async def test_leaving_by_an_error_a_scope_with_async_cleanups_by_with_notes_scope_error():
    events = []
    container = conns(events, "a", make=recording_async).build()
    error = BlockError("handler failed")
    scope = container.scope()
    await scope.aget(Conn, "a")

    with pytest.raises(BlockError) as caught:
        fail_inside(scope, error)

    assert caught.value.__notes__ == [
        (
            "a cleanup on leaving the block also failed: ScopeError('this container holds "
            "instances with async cleanups (a); close it with `async with` or `await "
            "container.aclose()`')"
        )
    ]
    await scope.aclose()
    assert events == ["open a", "close a"]


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


async def test_closing_a_scope_with_async_cleanups_synchronously_names_async_with():
    events = []
    container = conns(events, "a", make=recording_async).build()
    scope = container.scope()
    await scope.aget(Conn, "a")

    with pytest.raises(ScopeError) as caught:
        scope.close()

    assert str(caught.value) == (
        "this container holds instances with async cleanups (a); close it with `async with` "
        "or `await container.aclose()`"
    )
    await scope.aclose()
    assert events == ["open a", "close a"]


async def test_leaving_a_scope_with_async_cleanups_by_with_raises_scope_error():
    events = []
    container = conns(events, "a", make=recording_async).build()

    scope = container.scope()
    scope.__enter__()
    await scope.aget(Conn, "a")

    with pytest.raises(ScopeError, match="`async with`"):
        scope.__exit__(None, None, None)

    await scope.aclose()
    assert events == ["open a", "close a"]


def test_app_scoped_cleanups_run_when_the_root_closes_not_the_scope_that_made_them():
    events = []
    container = conns(events, "pool", scope=Scope.APP).build()

    with container.scope() as scope:
        scope.get(Conn, "pool")
    assert events == ["open pool"]

    container.close()
    assert events == ["open pool", "close pool"]


def test_closing_a_scope_without_cleanups_does_nothing():
    scope = web_registry().build().scope()

    scope.close()

    assert scope._cleanups is None


# --- async factories -------------------------------------------------------------------------


def async_registry():
    registry = Registry()
    registry.provide(Settings)
    registry.provide(open_engine)
    registry.provide(Repo, scope=Scope.REQUEST)
    return registry


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


# --- entering the root -----------------------------------------------------------------------


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


# --- overrides -------------------------------------------------------------------------------


def test_scopes_opened_inside_an_override_see_the_value():
    container = web_registry().build()
    fake = Session(Engine(Settings()))

    with container.override(Session, fake), container.scope() as scope:
        assert scope.get(Service).session is fake

    with container.scope() as scope:
        assert scope.get(Session) is not fake


def test_app_scoped_dependents_are_remade_from_the_override_and_restored_after():
    container = web_registry().build()
    test_settings = Settings("sqlite://:memory:")

    with container:
        engine = container.get(Engine)

        with container.override(Settings, test_settings):
            overridden = container.get(Engine)
            assert overridden.settings is test_settings
            assert container.get(Settings) is test_settings

        assert container.get(Engine) is engine
        assert container.get(Settings) is engine.settings


def test_overriding_an_unprovided_key_is_refused():
    container = web_registry().build()

    with pytest.raises(MissingProviderError) as caught, container.override(Db, Db()):
        pytest.fail("the block must not run")

    assert str(caught.value).startswith("cannot override Db: it has no provider; register one")


def test_nested_overrides_unwind_one_at_a_time():
    container = web_registry().build()
    outer, inner = Settings("outer"), Settings("inner")

    with container:
        original = container.get(Engine)
        with container.override(Settings, outer):
            assert container.get(Engine).settings is outer
            with container.override(Settings, inner):
                assert container.get(Engine).settings is inner
            assert container.get(Engine).settings is outer
            with container.override(Engine, fake := Engine(inner)):
                assert container.get(Engine) is fake
            assert container.get(Engine).settings is outer
        assert container.get(Engine) is original


def test_an_override_is_undone_when_its_block_raises():
    container = web_registry().build()
    test_settings = Settings("sqlite://:memory:")

    def use_the_override():
        with container.override(Settings, test_settings):
            assert container.get(Engine).settings is test_settings
            raise BlockError

    with container:
        engine = container.get(Engine)
        with pytest.raises(BlockError):
            use_the_override()

        assert container.get(Engine) is engine
        assert container.get(Settings) is engine.settings
        with container.scope() as scope:
            assert scope.get(Session).engine is engine


def test_an_override_takes_a_name():
    registry = Registry()
    registry.value(Db(), name="replica")
    container = registry.build()

    with container.override(Db, fake := Db(), name="replica"):
        assert container.get(Db, "replica") is fake


def test_overriding_an_async_factory_with_a_value_lets_sync_code_have_it():
    container = async_registry().build()
    fake = Engine(Settings())

    with container.override(Engine, fake), container.scope() as scope:
        assert scope.get(Repo).engine is fake


# --- calling functions -----------------------------------------------------------------------


def test_call_fills_the_parameters_not_given_from_their_hints():
    def handle(request_id, settings: Settings, clock: Clock, retries: int = 3) -> tuple:
        return request_id, settings, clock, retries

    with web_registry().build() as container:
        request_id, settings, clock, retries = container.call(handle, "r-1")

    assert request_id == "r-1"
    assert isinstance(settings, Settings)
    assert isinstance(clock, Clock)
    assert retries == 3


def test_call_lets_explicit_arguments_win():
    mine = Settings("mine")

    def handle(settings: Settings, clock: Clock) -> tuple:
        return settings, clock

    with web_registry().build() as container:
        assert container.call(handle, mine)[0] is mine
        assert container.call(handle, settings=mine)[0] is mine


def test_call_of_a_parameter_without_provider_or_default_is_refused():
    def handle(db: Db) -> Db:
        return db

    with pytest.raises(MissingProviderError, match="no provider for Db"):
        web_registry().build().call(handle)


async def test_acall_awaits_async_dependencies():
    async def handle(repo: Repo, label: str) -> tuple:
        return repo, label

    async with async_registry().build().scope() as scope:
        repo, label = await scope.acall(handle, label="x")

    assert isinstance(repo.engine, Engine)
    assert label == "x"


@inject
def sync_handler(session: Session, note: str = "") -> tuple:
    return session, note


@inject
async def async_handler(repo: Repo, note: str = "") -> tuple:
    return repo, note


def test_inject_fills_a_sync_function_inside_a_scope():
    container = web_registry().build()

    with container.scope() as scope:
        session, note = sync_handler(note="hi")
        assert session is scope.get(Session)

    assert note == "hi"
    assert sync_handler.__name__ == "sync_handler"


async def test_inject_fills_an_async_function_inside_a_scope():
    container = async_registry().build()

    async with container, container.scope() as scope:
        repo, _ = await async_handler()
        assert repo is scope.get(Repo)


async def test_inject_fills_an_async_function_inside_a_sync_with_block():
    container = web_registry().build()

    @inject
    async def handle(session: Session) -> Session:
        return session

    with container.scope() as scope:
        assert await handle() is scope.get(Session)


def test_inject_uses_the_innermost_container_block():
    container = web_registry().build()

    with container, container.scope() as scope:
        assert current_container() is scope
        assert sync_handler()[0] is scope.get(Session)
    assert current_container() is None


async def test_inject_outside_any_container_is_refused():
    with pytest.raises(ScopeError) as caught:
        sync_handler()

    assert str(caught.value) == (
        "sync_handler needs injected dependencies but was called outside a container; call it "
        "inside `async with container.scope():`"
    )
    with pytest.raises(ScopeError, match="async_handler needs injected dependencies"):
        await async_handler()


# --- the container's own surface -------------------------------------------------------------


def test_the_container_exposes_its_checked_graph():
    container = web_registry().build()

    assert container.graph.order[0] is Settings
    assert isinstance(container, Container)
    assert isinstance(container.scope(), ScopedContainer)


# --- the reference documentation ------------------------------------------------------------

REFERENCE = Path(__file__).parents[2] / "docs" / "reference" / "container.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def test_the_reference_examples_run_and_their_error_texts_are_exact():
    """Each python block runs in turn; one followed by a text block raises exactly that text."""
    blocks = FENCE.findall(REFERENCE.read_text(encoding="utf-8"))
    namespace = {"__name__": "container_reference"}
    checked = 0
    following = [*blocks[1:], ("", "")]
    for number, ((language, source), (after, text)) in enumerate(
        zip(blocks, following, strict=True), 1
    ):
        if language != "python":
            continue
        code = compile(source, f"{REFERENCE.name}, block {number}", "exec")
        if after != "text":
            exec(code, namespace)  # noqa: S102 - the documentation's own examples
            continue
        with pytest.raises(Exception) as caught:  # noqa: PT011 - the text below says which
            exec(code, namespace)  # noqa: S102 - the documentation's own examples
        assert " ".join(str(caught.value).split()) == " ".join(text.split()), source
        checked += 1
    assert checked == sum(language == "text" for language, _ in blocks) > 20
