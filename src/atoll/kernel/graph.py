"""The provider graph, checked once when a container is built.

Every dependency must have a provider (or a default), the graph must have no cycle, and no
provider may depend on one that lives shorter than itself: an app-scoped instance that kept a
request-scoped one would carry it from one request into the next.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from atoll.errors import CycleError, MissingProviderError, ScopeMismatchError
from atoll.kernel.providers import Key, Provider, Scope, dependencies_of, describe_key, split_key

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = ["APP_LIFETIME", "REQUEST_LIFETIME", "Graph", "missing_hint", "request_path"]

APP_LIFETIME = 0
"""The lifetime of an instance that can live in the app scope."""
REQUEST_LIFETIME = 1
"""The lifetime of an instance that needs a request scope."""


@dataclass(frozen=True)
class Graph:
    """A validated provider graph, with what the container needs to know about it.

    Attributes:
        providers: every provider, by key.
        order: the keys, each after everything it depends on.
        lifetimes: per key, :data:`APP_LIFETIME` when an instance can live in the app scope,
            :data:`REQUEST_LIFETIME` when it needs a request scope (a transient's lifetime is
            the shortest of its dependencies').
        is_async: per key, whether making it awaits something, itself or a dependency.
    """

    providers: Mapping[Key, Provider]
    order: tuple[Key, ...]
    lifetimes: Mapping[Key, int] = field(repr=False)
    is_async: Mapping[Key, bool] = field(repr=False)

    @classmethod
    def check(cls, providers: Mapping[Key, Provider]) -> Graph:
        """Validate ``providers`` and order them.

        Raises:
            MissingProviderError: a dependency without a default has no provider.
            CycleError: providers depend on each other in a ring.
            ScopeMismatchError: an app-scoped provider needs a request-scoped one.
        """
        order = _order(providers)
        lifetimes: dict[Key, int] = {}
        is_async: dict[Key, bool] = {}
        for key in order:
            provider = providers[key]
            needed = [d.key for d in provider.dependencies if d.key in providers]
            lifetime = max((lifetimes[d] for d in needed), default=APP_LIFETIME)
            if provider.scope is Scope.REQUEST:
                lifetime = REQUEST_LIFETIME
            elif provider.scope is Scope.APP and lifetime == REQUEST_LIFETIME:
                raise ScopeMismatchError(_mismatch(providers, key, lifetimes))
            lifetimes[key] = lifetime
            is_async[key] = provider.kind.is_async or any(is_async[d] for d in needed)
        return cls(providers=providers, order=order, lifetimes=lifetimes, is_async=is_async)

    def check_consumer(
        self, label: str, function: Callable[..., object], *, lifetime: int = APP_LIFETIME
    ) -> None:
        """Check, before it is ever called, that ``function`` can be given what it needs.

        A consumer is not a provider but is filled the same way: a background task (in the
        app scope), a handler (in a request scope).

        Args:
            label: how messages name it, such as ``"background task 'relay'"``.
            function: the consumer; its parameters are read from its type hints.
            lifetime: the scope it is called in: app-scoped consumers get app-scoped
                dependencies only.

        Raises:
            MissingProviderError: a parameter without a default has no provider.
            ScopeMismatchError: a parameter needs a request scope and ``lifetime`` is the app's.
        """
        for dependency in dependencies_of(function):
            key = dependency.key
            if key not in self.providers:
                if not dependency.has_default:
                    raise MissingProviderError(
                        f"no provider for {describe_key(key)}, needed by {label}; "
                        f"{missing_hint(key, self.providers)}"
                    )
            elif self.lifetimes[key] > lifetime:
                raise ScopeMismatchError(
                    f"{label} needs {describe_key(key)}, which lives in a request scope, but is "
                    "called in the app scope, which gets app-scoped dependencies only: make "
                    f"{describe_key(key)} app-scoped, or open a scope for each unit of the work"
                )

    def dependents(self, key: Key) -> set[Key]:
        """Every key that needs ``key``, directly or through others."""
        found: set[Key] = set()
        for candidate in self.order:
            needed = {d.key for d in self.providers[candidate].dependencies}
            if key in needed or needed & found:
                found.add(candidate)
        return found


def _order(providers: Mapping[Key, Provider]) -> tuple[Key, ...]:
    """Depth-first topological order; reports the first missing provider or cycle found."""
    done: dict[Key, None] = {}
    path: list[Key] = []

    def visit(key: Key) -> None:
        if key in done:
            return
        if key in path:
            ring = [*path[path.index(key) :], key]
            raise CycleError(
                "dependency cycle: "
                + " -> ".join(describe_key(k) for k in ring)
                + "; break it by making one of them take a factory or a value it can call later"
            )
        path.append(key)
        for dependency in providers[key].dependencies:
            if dependency.key in providers:
                visit(dependency.key)
            elif not dependency.has_default:
                raise MissingProviderError(_missing(providers, [*path, dependency.key]))
        path.pop()
        done[key] = None

    for key in providers:
        visit(key)
    return tuple(done)


def _missing(providers: Mapping[Key, Provider], path: list[Key]) -> str:
    wanted = path[-1]
    chain = " -> ".join(describe_key(k) for k in path)
    return (
        f"no provider for {describe_key(wanted)}, needed by {describe_key(path[-2])} "
        f"(path: {chain}); {missing_hint(wanted, providers)}"
    )


def missing_hint(wanted: Key, providers: Iterable[Key]) -> str:
    """What to do about a key without a provider: a near miss if one exists, else how to add it."""
    wanted_type, wanted_name = split_key(wanted)
    keys = list(providers)
    for key in keys:
        tp, name = split_key(key)
        if tp is not wanted_type:
            continue
        if name is None:
            return (
                f"{describe_key(tp)} is provided without a name: ask for {describe_key(tp)}, "
                f"or register the {wanted_name!r} one with name={wanted_name!r}"
            )
        return (
            f"{describe_key(key)} is provided: did you mean to ask for "
            f"Annotated[{describe_key(tp)}, Named({name!r})]?"
        )
    for key in keys:
        tp, _ = split_key(key)
        if _is_subclass(tp, wanted_type):
            named = "" if wanted_name is None else f", name={wanted_name!r}"
            return (
                f"{describe_key(key)} is provided and is a {describe_key(wanted_type)}: "
                f"register it with provides={describe_key(wanted_type)}{named}"
            )
    names = {describe_key(k): k for k in keys}
    close = difflib.get_close_matches(describe_key(wanted), names, n=1)
    if close:
        return f"did you mean {close[0]}?"
    return (
        f"register one with registry.provide(<factory returning {describe_key(wanted_type)}>"
        f"{'' if wanted_name is None else f', name={wanted_name!r}'}) or "
        "registry.value(<instance>)"
    )


def request_path(
    providers: Mapping[Key, Provider], lifetimes: Mapping[Key, int], key: Key
) -> list[Key]:
    """The keys from ``key`` to the request-scoped provider that makes it need a request scope."""
    chain = [key]
    while providers[chain[-1]].scope is not Scope.REQUEST:
        chain.append(
            next(
                d.key
                for d in providers[chain[-1]].dependencies
                if d.key in providers and lifetimes[d.key] == REQUEST_LIFETIME
            )
        )
    return chain


def _mismatch(providers: Mapping[Key, Provider], key: Key, lifetimes: Mapping[Key, int]) -> str:
    chain = request_path(providers, lifetimes, key)
    needed = chain[-1]
    return (
        f"app-scoped {describe_key(key)} depends on request-scoped {describe_key(needed)} "
        f"(path: {' -> '.join(describe_key(k) for k in chain)}); an app-scoped instance would "
        f"keep one request's {describe_key(needed)} for every later request. Make "
        f"{describe_key(key)} request-scoped, or {describe_key(needed)} app-scoped"
    )


def _is_subclass(tp: object, base: object) -> bool:
    if not isinstance(tp, type) or not isinstance(base, type):
        return False
    try:
        return issubclass(tp, base)
    except TypeError:  # a Protocol that is not runtime_checkable: only explicit subclasses count
        return base in tp.__mro__
