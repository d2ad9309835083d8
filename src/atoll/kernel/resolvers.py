"""Resolvers: one small function per provider, generated when a container is built.

Resolving a request-scoped service on every request is the container's hot path. Walking the
provider graph there (a loop over dependencies, a dictionary of providers, a branch per
factory kind) costs several microseconds in CPython. Instead, each provider gets a function
written for it, with its dependencies inlined as cache look-ups and direct factory calls, so a
request pays for little more than the factory calls themselves (``benchmarks/bench_di.py``
measures it against rodi, dishka, wireup and svcs).

A resolver takes the container it resolves in: ``r(container) -> instance``. Async resolvers
exist only for keys whose making awaits something; other keys are resolved by their sync
resolver from async code too. The sync resolver of an async factory returns its instance if
one is cached and otherwise raises :class:`AwaitNeededError`, which
:meth:`~atoll.kernel.container.ScopedContainer.get` words for the key that was asked for.

An app-scoped instance is made against the root container whichever scope asked for it
first, so that the cleanups of its transient dependencies belong to the root too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atoll.errors import ProviderError, ScopeError
from atoll.kernel.graph import REQUEST_LIFETIME, request_path
from atoll.kernel.providers import (
    FactoryKind,
    Key,
    Provider,
    Scope,
    describe_arguments,
    describe_key,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from atoll.kernel.graph import Graph

__all__ = ["AwaitNeededError", "Resolvers", "compile_resolvers"]


class AwaitNeededError(ScopeError):
    """Sync code asked for an instance whose factory must be awaited.

    Attributes:
        key: the key of the async factory's provider.
        factory: the async factory's name.
        app_scoped: whether its instance would live in the app scope, so that entering the
            container with ``async with`` would have made it.
    """

    def __init__(self, key: Key, factory: str, *, app_scoped: bool) -> None:
        super().__init__(
            f"{describe_key(key)} is made by the async factory {factory}; use "
            f"`await scope.aget({describe_arguments(key)})`"
        )
        self.key = key
        self.factory = factory
        self.app_scoped = app_scoped


@dataclass(frozen=True, slots=True)
class Resolvers:
    """The resolver tables of one container: for its request scopes and for its root."""

    scoped: dict[Key, Callable[[Any], Any]]
    scoped_async: dict[Key, Callable[[Any], Awaitable[Any]]]
    root: dict[Key, Callable[[Any], Any]]
    root_async: dict[Key, Callable[[Any], Awaitable[Any]]]


def compile_resolvers(graph: Graph, root: object, app: dict[Key, Any]) -> Resolvers:
    """Write and compile the resolvers for ``graph``.

    Args:
        graph: the checked provider graph.
        root: the root container, which owns app-scoped instances and their cleanups.
        app: the root's instance cache, which the resolvers read and fill directly.
    """
    namespace: dict[str, Any] = {
        "APP": app,
        "ROOT": root,
        "ScopeError": ScopeError,
        "ProviderError": ProviderError,
        "AwaitNeededError": AwaitNeededError,
    }
    writer = _Writer(graph, namespace)
    source = "\n".join(writer.write(index, key) for index, key in enumerate(graph.order))
    exec(compile(source, "<atoll resolvers>", "exec"), namespace)  # noqa: S102 - our own source
    scoped, scoped_async, root_sync, root_async = {}, {}, {}, {}
    for index, key in enumerate(graph.order):
        scoped[key] = namespace[f"r{index}"]
        request_only = graph.lifetimes[key] == REQUEST_LIFETIME
        root_sync[key] = namespace[f"q{index}"] if request_only else scoped[key]
        if graph.is_async[key]:
            scoped_async[key] = namespace[f"a{index}"]
            root_async[key] = namespace[f"qa{index}"] if request_only else scoped_async[key]
    return Resolvers(scoped, scoped_async, root_sync, root_async)


class _Writer:
    """Writes the Python source of the resolvers of one graph.

    The names it writes: ``K<i>`` the key, ``F<i>`` the factory, ``r<i>`` the sync resolver,
    ``a<i>`` the async one, ``q<i>``/``qa<i>`` the root's refusals of a request-scoped key,
    ``APP`` the root's cache and ``cache`` the resolving scope's.
    """

    def __init__(self, graph: Graph, namespace: dict[str, Any]) -> None:
        self.graph = graph
        self.namespace = namespace
        self.index = {key: i for i, key in enumerate(graph.order)}

    def write(self, i: int, key: Key) -> str:
        provider = self.graph.providers[key]
        self.namespace[f"K{i}"] = key
        self.namespace[f"F{i}"] = provider.factory
        if provider.kind.is_async:
            lines = self._awaiting(i, provider)
        else:
            lines = self._body(i, provider, is_async=False)
        if self.graph.is_async[key]:
            lines += self._body(i, provider, is_async=True)
        if self.graph.lifetimes[key] == REQUEST_LIFETIME:
            self.namespace[f"Q{i}"] = self._request_only_message(key)
            lines += [f"def q{i}(c):", f"    raise ScopeError(Q{i})"]
            lines += [f"async def qa{i}(c):", f"    raise ScopeError(Q{i})"]
        return "\n".join(lines)

    def _request_only_message(self, key: Key) -> str:
        path = request_path(self.graph.providers, self.graph.lifetimes, key)
        what = (
            "is request-scoped"
            if len(path) == 1
            else f"needs request-scoped {describe_key(path[-1])} "
            f"(path: {' -> '.join(describe_key(k) for k in path)})"
        )
        return (
            f"{describe_key(key)} {what}, and the root container has no request: open a scope "
            f"and resolve it there, `async with container.scope() as scope: "
            f"await scope.aget({describe_arguments(key)})`"
        )

    def _awaiting(self, i: int, provider: Provider) -> list[str]:
        """The sync resolver of an async factory: the cached instance, or a refusal."""
        self.namespace[f"M{i}"] = provider.describe()
        app_scoped = provider.scope is Scope.APP
        return [
            f"def r{i}(c):",
            *self._cache_hit(i, provider),
            f"    raise AwaitNeededError(K{i}, M{i}, app_scoped={app_scoped})",
        ]

    def _cache_hit(self, i: int, provider: Provider) -> list[str]:
        if provider.scope is Scope.APP:
            return [f"    if K{i} in APP:", f"        return APP[K{i}]"]
        if provider.scope is Scope.REQUEST:
            return ["    cache = c._cache", f"    if K{i} in cache:", f"        return cache[K{i}]"]
        return []

    def _body(self, i: int, provider: Provider, *, is_async: bool) -> list[str]:
        define = f"async def a{i}(c):" if is_async else f"def r{i}(c):"
        lines = [define, *self._cache_hit(i, provider)]
        arguments = self._arguments(provider, is_async=is_async)
        if provider.scope is Scope.TRANSIENT and self._reads_scope_cache(provider):
            lines.append("    cache = c._cache")
        call = f"F{i}({arguments})"
        # An app-scoped instance, and the cleanups of what it needs, belong to the root.
        owner = "ROOT" if provider.scope is Scope.APP else "c"
        kind = provider.kind
        if kind is FactoryKind.VALUE:
            lines.append(f"    v = F{i}")
        elif kind is FactoryKind.SYNC:
            lines.append(f"    v = {call}")
        elif kind is FactoryKind.ASYNC:
            lines.append(f"    v = await {call}")
        else:
            self.namespace[f"N{i}"] = (
                f"the factory {provider.describe()} returned without yielding; a generator "
                "factory yields its instance once, with its cleanup after the `yield`"
            )
            is_generator = kind is FactoryKind.GENERATOR
            lines += [
                f"    g = {call}",
                "    try:",
                "        v = next(g)" if is_generator else "        v = await g.__anext__()",
                f"    except {'StopIteration' if is_generator else 'StopAsyncIteration'}:",
                f"        raise ProviderError(N{i}) from None",
                f"    {owner}._defer(g)",
            ]
        if provider.scope is Scope.APP:
            lines.append(f"    APP[K{i}] = v")
        elif provider.scope is Scope.REQUEST:
            lines.append(f"    cache[K{i}] = v")
        lines.append("    return v")
        return lines

    def _reads_scope_cache(self, provider: Provider) -> bool:
        providers = self.graph.providers
        return any(
            d.key in providers and providers[d.key].scope is Scope.REQUEST
            for d in provider.dependencies
        )

    def _arguments(self, provider: Provider, *, is_async: bool) -> str:
        owner = "ROOT" if provider.scope is Scope.APP else "c"
        parts = []
        keywords = False
        for dependency in provider.dependencies:
            if dependency.key not in self.graph.providers:
                keywords = True  # left to its default, so later ones go by name
                continue
            value = self._argument(dependency.key, owner, is_async=is_async)
            keywords = keywords or not dependency.positional
            parts.append(f"{dependency.parameter}={value}" if keywords else value)
        return ", ".join(parts)

    def _argument(self, key: Key, owner: str, *, is_async: bool) -> str:
        j = self.index[key]
        provider = self.graph.providers[key]
        awaiting = is_async and self.graph.is_async[key]
        resolve = f"await a{j}({owner})" if awaiting else f"r{j}({owner})"
        if provider.kind is FactoryKind.VALUE:
            return f"F{j}"
        if provider.scope is Scope.APP:
            return f"(APP[K{j}] if K{j} in APP else {resolve})"
        if provider.scope is Scope.REQUEST:
            return f"(cache[K{j}] if K{j} in cache else {resolve})"
        if provider.kind is FactoryKind.SYNC and not provider.dependencies:
            return f"F{j}()"
        return f"({resolve})"
