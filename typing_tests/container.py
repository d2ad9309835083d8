# Type-checked by mypy --strict, never run. Each `type: ignore[code]` marks a line mypy must
# reject: with warn_unused_ignores (part of --strict), mypy fails if the error goes away.
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Protocol, assert_type

from atoll.kernel.container import Container, ScopedContainer, inject
from atoll.kernel.providers import Scope
from atoll.kernel.registry import Registry


class Settings:
    url = "sqlite://"


class Engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings


class Mailer(Protocol):
    def send(self, to: str) -> None: ...


class Repository(ABC):
    @abstractmethod
    def count(self) -> int: ...


registry = Registry()
registry.value(Settings())
registry.provide(Engine, scope=Scope.REQUEST, replace=False)


@registry.provide
def make_settings() -> Settings:
    return Settings()


@registry.provide(scope=Scope.APP, name="replica")
async def open_engine(settings: Settings) -> AsyncIterator[Engine]:
    yield Engine(settings)


# Decorating keeps the function's own type, with or without options.
assert_type(make_settings, Callable[[], Settings])
assert_type(open_engine(Settings()), AsyncIterator[Engine])
open_engine("sqlite://")  # type: ignore[arg-type]

container = registry.build()
assert_type(container, Container)


def sync_use(scope: ScopedContainer) -> None:
    assert_type(scope.get(Engine), Engine)
    assert_type(scope.get(Engine, "replica"), Engine)
    # Abstract classes and protocols are the usual keys of ports; they type-check too.
    assert_type(scope.get(Mailer), Mailer)
    assert_type(scope.get(Repository), Repository)
    scope.get("Engine")  # type: ignore[arg-type]
    assert_type(scope.call(lambda engine: engine, Engine(Settings())), Any)


async def async_use() -> None:
    async with container, container.scope() as scope:
        assert_type(scope, ScopedContainer)
        assert_type(await scope.aget(Engine), Engine)
        assert_type(await container.aget(Settings), Settings)


@inject
def handle(engine: Engine, note: str = "") -> str:
    return engine.settings.url + note


@inject
async def handle_async(engine: Engine) -> int:
    return len(engine.settings.url)


# inject keeps a callable that returns what the function returns; the injected parameters
# may be left out, so the parameters are not checked.
assert_type(handle, Callable[..., str])
assert_type(handle(), str)
assert_type(handle_async, Callable[..., Coroutine[Any, Any, int]])


async def await_injected() -> None:
    assert_type(await handle_async(), int)


with container.override(Settings, Settings()):
    pass
