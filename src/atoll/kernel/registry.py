"""The registry: an application's recipes, kept for its lifetime.

Providers are registered here, keyed by the type they provide (and a name where one type has
several providers). :meth:`Registry.build` checks the whole graph and returns the
:class:`~atoll.kernel.container.Container` that makes instances from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, overload

from atoll.errors import ProviderError
from atoll.kernel.container import Container
from atoll.kernel.providers import Key, Provider, Scope, describe_key, make_key

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["Registry"]

F = TypeVar("F", bound="Callable[..., Any]")


class Registry:
    """An application's providers.

    ::

        registry = Registry()
        registry.value(Settings(url="sqlite://"))
        registry.provide(make_engine)                      # app-scoped: one engine
        registry.provide(Session, scope=Scope.REQUEST)     # one session per request
        container = registry.build()                       # the graph is checked here
    """

    def __init__(self) -> None:
        self._providers: dict[Key, Provider] = {}

    @overload
    def provide(
        self,
        factory: F,
        /,
        *,
        scope: Scope = ...,
        provides: object = ...,
        name: str | None = ...,
        replace: bool = ...,
    ) -> F: ...

    @overload
    def provide(
        self,
        factory: None = None,
        /,
        *,
        scope: Scope = ...,
        provides: object = ...,
        name: str | None = ...,
        replace: bool = ...,
    ) -> Callable[[F], F]: ...

    def provide(
        self,
        factory: F | None = None,
        /,
        *,
        scope: Scope = Scope.APP,
        provides: object = None,
        name: str | None = None,
        replace: bool = False,
    ) -> F | Callable[[F], F]:
        """Register a factory: a class, a function, an async function, or a (async) generator.

        The factory's parameters are filled by type hint; what it provides is its return type
        (for a generator, the ``T`` of ``Iterator[T]``), or ``provides``. Code after a
        generator's ``yield`` runs when the scope that made the instance closes. Usable as a
        decorator, with or without arguments.

        Args:
            factory: the recipe.
            scope: how long an instance lives; app-scoped by default.
            provides: the key type, when it is not the factory's return type (an interface).
            name: tells apart two providers of one type.
            replace: allow replacing a provider registered earlier under the same key.

        Raises:
            ProviderError: the factory's type hints cannot be read, or the key is taken.
        """
        if factory is None:
            return lambda f: self.provide(
                f, scope=scope, provides=provides, name=name, replace=replace
            )
        self._add(Provider.of_factory(factory, scope=scope, provides=provides, name=name), replace)
        return factory

    def value(
        self,
        value: object,
        /,
        *,
        provides: object = None,
        name: str | None = None,
        replace: bool = False,
    ) -> None:
        """Register an instance made elsewhere; it is app-scoped and never cleaned up."""
        key = make_key(provides if provides is not None else type(value), name)
        self._add(Provider.of_value(value, key), replace)

    def build(self) -> Container:
        """Check the graph and return a container for it.

        Raises:
            MissingProviderError: a dependency has no provider; the message shows the path.
            CycleError: providers depend on each other in a ring; the message names them.
            ScopeMismatchError: an app-scoped provider depends on a request-scoped one.
        """
        return Container(dict(self._providers))

    def copy(self) -> Registry:
        """A new registry with the same providers, to add to without changing this one."""
        twin = Registry()
        twin._providers = dict(self._providers)
        return twin

    def include(self, other: Registry, *, label: str = "another registry") -> None:
        """Add every provider of ``other``; one it already has, the same way, is kept once.

        Raises:
            ProviderError: ``other`` provides a key this registry provides differently.
        """
        for key, provider in other._providers.items():
            existing = self._providers.get(key)
            if existing is not None and existing != provider:
                raise ProviderError(
                    f"{describe_key(key)} is provided both by {existing.describe()} and, in "
                    f"{label}, by {provider.describe()}; keep one, or tell them apart with "
                    "name=..."
                )
            self._providers[key] = provider

    def __contains__(self, key: object) -> bool:
        return key in self._providers

    def __iter__(self) -> Iterator[Key]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)

    def _add(self, provider: Provider, replace: bool) -> None:  # noqa: FBT001 - private
        existing = self._providers.get(provider.key)
        if existing is not None and not replace:
            raise ProviderError(
                f"{describe_key(provider.key)} already has a provider ({existing.describe()}); "
                f"pass replace=True to replace it, name=... to add a second one, or use "
                "container.override(...) in tests"
            )
        self._providers[provider.key] = provider
