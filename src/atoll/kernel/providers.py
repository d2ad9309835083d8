"""Providers: the recipes a container follows to make an instance of a type.

A provider is read once, when it is registered: its key (the type it provides, and a name
where two providers give one type), its scope, what kind of factory it is (a value, a plain
or async function or class, a generator whose code after ``yield`` is its cleanup) and the
keys of its dependencies, taken from the factory's type hints.
"""

from __future__ import annotations

import collections.abc
import enum
import inspect
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin

from atoll.errors import ProviderError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

__all__ = [
    "Dependency",
    "FactoryKind",
    "Key",
    "Named",
    "Provider",
    "Scope",
    "dependencies_of",
    "describe_arguments",
    "describe_key",
    "key_of_hint",
    "make_key",
    "split_key",
]

Key = Any
"""A provider's key: a type, or a ``(type, name)`` pair for a named provider."""


class Scope(enum.Enum):
    """How long an instance lives.

    ``APP``: one instance for the container's lifetime. ``REQUEST`` (alias ``MESSAGE``): one
    instance per scope opened with ``container.scope()``, such as one HTTP request or one
    message. ``TRANSIENT``: a new instance each time one is needed.
    """

    APP = "app"
    REQUEST = "request"
    MESSAGE = "request"  # noqa: PIE796 - an alias: a message scope is a request scope
    TRANSIENT = "transient"


class FactoryKind(enum.Enum):
    """What calling a provider's factory gives back."""

    VALUE = "value"
    SYNC = "sync"
    ASYNC = "async"
    GENERATOR = "generator"
    ASYNC_GENERATOR = "async generator"

    @property
    def is_async(self) -> bool:
        """Whether the factory must be awaited."""
        return self in {FactoryKind.ASYNC, FactoryKind.ASYNC_GENERATOR}


@dataclass(frozen=True, slots=True)
class Named:
    """Marks a dependency as the named provider of its type: ``Annotated[Db, Named("replica")]``."""

    name: str


@dataclass(frozen=True, slots=True)
class Dependency:
    """One parameter of a factory that the container fills."""

    parameter: str
    key: Key
    positional: bool
    """Whether it can be passed by position: no parameter before it was left out."""
    has_default: bool


@dataclass(frozen=True, slots=True)
class Provider:
    """A recipe: how to make the instance behind ``key``, for how long it lives."""

    key: Key
    scope: Scope
    kind: FactoryKind
    factory: Any
    dependencies: tuple[Dependency, ...] = ()

    @classmethod
    def of_value(cls, value: object, key: Key) -> Provider:
        """A provider that always gives ``value``; app-scoped by nature."""
        return cls(key=key, scope=Scope.APP, kind=FactoryKind.VALUE, factory=value)

    @classmethod
    def of_factory(
        cls, factory: object, *, scope: Scope, provides: object = None, name: str | None = None
    ) -> Provider:
        """Read a factory's kind, provided type and dependencies from its signature.

        Raises:
            ProviderError: ``factory`` is not callable, ``scope`` is not a :class:`Scope`, or
                the factory's type hints do not say what it provides and needs.
        """
        if not callable(factory):
            raise ProviderError(
                f"an instance of {_qualname(type(factory))} is not callable, so it cannot be a "
                "factory; register the instance itself with registry.value(...)"
            )
        if not isinstance(scope, Scope):
            raise ProviderError(
                f"scope={scope!r} given for {_qualname(factory)} is not a Scope; "
                "pass Scope.APP, Scope.REQUEST (or Scope.MESSAGE) or Scope.TRANSIENT"
            )
        hints = _hints(factory)
        kind = _kind_of(factory)
        provided = provides if provides is not None else _provided_type(factory, kind, hints)
        return cls(
            key=make_key(provided, name),
            scope=scope,
            kind=kind,
            factory=factory,
            dependencies=_dependencies(factory, hints, given=()),
        )

    def describe(self) -> str:
        """The factory's name, for messages."""
        if self.kind is FactoryKind.VALUE:
            return f"the value {self.factory!r}"
        return _qualname(self.factory)


def make_key(tp: object, name: str | None) -> Key:
    """The key of ``tp``, or of its provider called ``name``.

    ``Annotated[T, Named("x")]`` is read as ``T`` named ``"x"``, so a factory may declare the
    name in its return type.

    Raises:
        ProviderError: ``tp`` names one provider and ``name`` another.
    """
    key = key_of_hint(tp)
    if name is None:
        return key
    if isinstance(key, tuple) and key[1] != name:
        raise ProviderError(
            f"{describe_key(key)} was also given name={name!r}; name it once, either with "
            "Named(...) in the type or with name=..."
        )
    return (key[0], name) if isinstance(key, tuple) else (key, name)


def split_key(key: Key) -> tuple[Any, str | None]:
    """A key as the arguments of ``get``: ``(Engine, None)`` or ``(Engine, "replica")``."""
    return key if isinstance(key, tuple) else (key, None)


def describe_key(key: Key) -> str:
    """A key as a reader would write it: ``Engine`` or ``Engine named 'replica'``."""
    if isinstance(key, tuple):
        return f"{_qualname(key[0])} named {key[1]!r}"
    return _qualname(key)


def describe_arguments(key: Key) -> str:
    """The arguments that ask ``get``/``aget`` for ``key``: ``Engine`` or ``Db, 'replica'``."""
    if isinstance(key, tuple):
        return f"{_qualname(key[0])}, {key[1]!r}"
    return _qualname(key)


def dependencies_of(
    factory: Callable[..., object], *, given: Collection[str] = ()
) -> tuple[Dependency, ...]:
    """The dependencies of a factory (a function or a class), from its type hints.

    Args:
        factory: the function or class whose parameters are to be filled.
        given: parameters the caller passes itself; they need no type hint.

    Raises:
        ProviderError: a parameter has no type hint and no default, a hint cannot be
            evaluated, or a positional-only parameter follows one that is left out.
    """
    return _dependencies(factory, _hints(factory), given=given)


def _dependencies(
    factory: Callable[..., object], hints: dict[str, Any], *, given: Collection[str]
) -> tuple[Dependency, ...]:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except ValueError:  # builtins without a signature take no dependencies we could know
        return ()
    found = []
    skipped = ""
    for parameter in parameters:
        if parameter.name in given:
            continue
        if parameter.kind in {parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD}:
            skipped = parameter.name
            continue
        has_default = parameter.default is not parameter.empty
        if parameter.name not in hints:
            if has_default:
                skipped = parameter.name
                continue
            raise ProviderError(
                f"parameter {parameter.name!r} of {_qualname(factory)} has no type hint, so the "
                "container cannot know what to pass; annotate it with the type it needs"
            )
        if skipped and parameter.kind is parameter.POSITIONAL_ONLY:
            raise ProviderError(
                f"positional-only parameter {parameter.name!r} of {_qualname(factory)} comes "
                f"after {skipped!r}, which the container leaves to its default, so it cannot be "
                f"passed; annotate {skipped!r} or drop the `/`"
            )
        found.append(
            Dependency(
                parameter=parameter.name,
                key=key_of_hint(hints[parameter.name]),
                positional=not skipped and parameter.kind is not parameter.KEYWORD_ONLY,
                has_default=has_default,
            )
        )
    return tuple(found)


def key_of_hint(hint: object) -> Key:
    """The key a type hint asks for: ``Annotated[T, Named("x")]`` is ``(T, "x")``."""
    if get_origin(hint) is Annotated:
        tp, *extras = get_args(hint)
        names = [extra.name for extra in extras if isinstance(extra, Named)]
        return (tp, names[0]) if names else tp
    return hint


def _signature_target(factory: object) -> object:
    """What holds the factory's hints: a class's ``__init__``, a callable object's ``__call__``."""
    if inspect.isclass(factory):
        return factory.__init__
    if inspect.isfunction(inspect.getattr_static(factory, "__call__", None)):
        return factory.__call__  # type: ignore[operator]
    return factory


def _hints(factory: object) -> dict[str, Any]:
    """The factory's evaluated type hints, its return type under ``"return"``."""
    try:
        return typing.get_type_hints(_signature_target(factory), include_extras=True)
    except NameError as error:
        raise ProviderError(
            f"the type hints of {_qualname(factory)} name something that cannot be found "
            f"({error}); define that type at module level, or import it outside "
            "`if TYPE_CHECKING:`"
        ) from error
    except TypeError:  # callables without annotations, such as functools.partial
        return {}


def _kind_of(factory: object) -> FactoryKind:
    if inspect.isclass(factory):
        return FactoryKind.SYNC
    target = _signature_target(factory)
    if inspect.isasyncgenfunction(target):
        return FactoryKind.ASYNC_GENERATOR
    if inspect.isgeneratorfunction(target):
        return FactoryKind.GENERATOR
    if inspect.iscoroutinefunction(target):
        return FactoryKind.ASYNC
    return FactoryKind.SYNC


_YIELDING = {
    collections.abc.Iterator,
    collections.abc.Generator,
    collections.abc.AsyncIterator,
    collections.abc.AsyncGenerator,
}


def _provided_type(factory: object, kind: FactoryKind, hints: dict[str, Any]) -> object:
    if inspect.isclass(factory):
        return factory
    returned = hints.get("return")
    if returned is None or returned is type(None):
        raise ProviderError(
            f"{_qualname(factory)} has no return type, so the container cannot know what it "
            "provides; annotate its return type or pass provides=..."
        )
    if kind in {FactoryKind.GENERATOR, FactoryKind.ASYNC_GENERATOR}:
        if get_origin(returned) not in _YIELDING:
            raise ProviderError(
                f"{_qualname(factory)} yields, so its return type must be Iterator[T] or "
                f"AsyncIterator[T], not {_qualname(returned)}"
            )
        return get_args(returned)[0]
    return returned


def _qualname(obj: object) -> str:
    """A type or function as a reader would write it: ``Engine``, ``list[int]``, ``make_db``."""
    if get_origin(obj) is not None:  # list[int], Engine | None: the qualname would drop the args
        return repr(obj).replace("typing.", "")
    return str(getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj))
