"""Calling functions through atoll.kernel.container: call, acall and the inject decorator."""

import pytest

from atoll.errors import MissingProviderError, ScopeError
from atoll.kernel.container import current_container, inject
from tests.kernel.container_doubles import (
    Clock,
    Db,
    Engine,
    Repo,
    Session,
    Settings,
    async_registry,
    web_registry,
)


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
