"""The dependencies, registries and recording factories that the container tests share."""

from collections.abc import AsyncIterator, Iterator

from atoll.kernel.providers import Scope
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


def conns(events, *names, scope=Scope.REQUEST, fails=None, make=recording):
    """A registry of one named ``Conn`` generator per name."""
    fails = fails or {}
    registry = Registry()
    for name in names:
        registry.provide(make(events, name, fail=fails.get(name)), name=name, scope=scope)
    return registry


async def open_engine(settings: Settings) -> Engine:
    return Engine(settings)


def async_registry():
    registry = Registry()
    registry.provide(Settings)
    registry.provide(open_engine)
    registry.provide(Repo, scope=Scope.REQUEST)
    return registry


class BlockError(Exception):
    """What the body of a ``with`` block raised, to tell it apart from cleanup failures."""
