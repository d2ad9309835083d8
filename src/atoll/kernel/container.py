"""Containers: the instances an application's providers made, one container per scope.

The root :class:`Container` holds app-scoped instances for the application's lifetime; each
``container.scope()`` opens a :class:`ScopedContainer` for one request or message, whose
request-scoped instances and cleanups end with it::

    container = registry.build()
    async with container:                          # app-scoped instances are made here
        async with container.scope() as scope:     # one request
            handler = await scope.aget(RecordRunHandler)

Cleanups (the code after a factory's ``yield``) run when their scope closes, in the reverse
order of creation, all of them even when one raises. When the block is left because it raised,
that error is the one that propagates, with each failed cleanup added to it as a note.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from contextvars import ContextVar, Token
from types import AsyncGeneratorType
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from atoll.errors import MissingProviderError, ProviderError, ScopeError
from atoll.kernel.graph import Graph, missing_hint
from atoll.kernel.providers import (
    Dependency,
    FactoryKind,
    Key,
    Provider,
    Scope,
    dependencies_of,
    describe_arguments,
    describe_key,
    make_key,
    split_key,
)
from atoll.kernel.resolvers import AwaitNeededError, compile_resolvers

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
    from types import GeneratorType, TracebackType

    Cleanup = GeneratorType[object, None, None] | AsyncGeneratorType[object, None]

__all__ = ["Container", "ScopedContainer", "current_container", "inject"]

T = TypeVar("T")

_current: ContextVar[Container | ScopedContainer | None] = ContextVar(
    "atoll_container", default=None
)


def current_container() -> Container | ScopedContainer | None:
    """The container of the innermost ``with``/``async with`` block, if any."""
    return _current.get()


class _Instances:
    """What both kinds of container do: resolve, call with injection, clean up."""

    __slots__ = ("_async", "_cache", "_cleanups", "_sync", "_token")

    _cache: dict[Key, Any]
    _cleanups: list[Cleanup] | None
    _sync: dict[Key, Callable[[Any], Any]]
    _async: dict[Key, Callable[[Any], Awaitable[Any]]]
    _token: Token[Container | ScopedContainer | None] | None

    def get(self, tp: Callable[..., T], /, name: str | None = None) -> T:
        """The instance of ``tp`` (or of its provider called ``name``).

        ``tp`` is typed as a callable returning ``T`` rather than ``type[T]`` so that abstract
        classes and protocols, the usual keys of ports, type-check too.

        Raises:
            MissingProviderError: nothing provides it.
            ScopeError: it is request-scoped and this is the root container, or making it
                awaits something (use :meth:`aget`).
        """
        key = tp if name is None else (tp, name)
        try:
            resolve = self._sync[key]
        except KeyError:
            raise self._missing(key) from None
        try:
            return resolve(self)  # type: ignore[no-any-return]
        except AwaitNeededError as error:
            raise ScopeError(_await_message(key, error)) from None

    async def aget(self, tp: Callable[..., T], /, name: str | None = None) -> T:
        """The instance of ``tp``, awaiting async factories where needed."""
        key = tp if name is None else (tp, name)
        resolve = self._async.get(key)
        if resolve is None:
            return self.get(tp, name)
        return await resolve(self)  # type: ignore[no-any-return]

    def call(self, function: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        """Call ``function``, filling the parameters not given from its type hints.

        Raises:
            ProviderError: a parameter left to fill has no type hint.
            MissingProviderError: a parameter left to fill has no provider and no default.
        """
        filled = dict(kwargs)
        for parameter, key in self._wanted(function, args, kwargs):
            filled[parameter] = self.get(*split_key(key))
        return function(*args, **filled)

    async def acall(
        self, function: Callable[..., Awaitable[T]], /, *args: object, **kwargs: object
    ) -> T:
        """Await ``function``, filling the parameters not given from its type hints."""
        filled = dict(kwargs)
        for parameter, key in self._wanted(function, args, kwargs):
            filled[parameter] = await self.aget(*split_key(key))
        return await function(*args, **filled)

    async def afill(self, dependencies: Iterable[Dependency]) -> dict[str, Any]:
        """The arguments for ``dependencies``, by parameter name; the handlers' hot path.

        A dependency with a default and no provider is left out, so that its default applies.

        Raises:
            MissingProviderError: a dependency without a default has no provider.
        """
        filled: dict[str, Any] = {}
        for dependency in dependencies:
            key = dependency.key
            resolve = self._async.get(key)
            if resolve is not None:
                filled[dependency.parameter] = await resolve(self)
                continue
            sync = self._sync.get(key)
            if sync is not None:
                filled[dependency.parameter] = sync(self)
            elif not dependency.has_default:
                raise self._missing(key)
        return filled

    def close(self) -> None:
        """Run the cleanups of this scope's instances, newest first, all even if one raises.

        Raises:
            ScopeError: a cleanup is async; use :meth:`aclose` (the cleanups are kept).
            Exception: the error of the one cleanup that failed, or an ``ExceptionGroup`` of
                several.
        """
        _raise(self._clean_up())

    async def aclose(self) -> None:
        """Run the cleanups, sync and async, newest first, all of them even if one raises."""
        _raise(await self._aclean_up())

    def _clean_up(self) -> list[BaseException]:
        """Run the sync cleanups, newest first; return what they raised, in that order."""
        cleanups, self._cleanups = self._cleanups, None
        if not cleanups:
            return []
        waiting = [g for g in cleanups if isinstance(g, AsyncGeneratorType)]
        if waiting:
            self._cleanups = cleanups
            return [
                ScopeError(
                    f"this container holds instances with async cleanups ({_names(waiting)}); "
                    "close it with `async with` or `await container.aclose()`"
                )
            ]
        errors: list[BaseException] = []
        for generator in cast("Iterator[GeneratorType[object, None, None]]", reversed(cleanups)):
            _finish(generator, errors)
        return errors

    async def _aclean_up(self) -> list[BaseException]:
        """Run the cleanups, sync and async, newest first; return what they raised."""
        cleanups, self._cleanups = self._cleanups, None
        errors: list[BaseException] = []
        for generator in reversed(cleanups or ()):
            if isinstance(generator, AsyncGeneratorType):
                await _afinish(generator, errors)
            else:
                _finish(generator, errors)
        return errors

    def _defer(self, generator: Cleanup) -> None:
        if self._cleanups is None:
            self._cleanups = [generator]
        else:
            self._cleanups.append(generator)

    def _missing(self, key: Key) -> MissingProviderError:
        return MissingProviderError(
            f"no provider for {describe_key(key)}; {missing_hint(key, self._sync)}"
        )

    def _wanted(
        self, function: Callable[..., Any], args: tuple[object, ...], kwargs: Mapping[str, object]
    ) -> Iterator[tuple[str, Key]]:
        """The parameters of ``function`` left for the container to fill, with their keys."""
        given = inspect.signature(function).bind_partial(*args, **kwargs).arguments
        for dependency in dependencies_of(function, given=given):
            if dependency.key not in self._sync and dependency.has_default:
                continue
            yield dependency.parameter, dependency.key


class ScopedContainer(_Instances):
    """The instances of one request or message scope; made by :meth:`Container.scope`."""

    __slots__ = ()

    def seed(self, tp: object, instance: object, /, *, name: str | None = None) -> None:
        """Make ``instance`` this scope's instance of ``tp``, before anything asks for it.

        For what only the caller of the scope has, such as the request being served or the
        events a handler raises. ``tp`` must be request-scoped in the graph, so that the
        graph knows the key and every resolver in this scope reads it from the scope.

        Raises:
            ScopeError: nothing provides ``tp``, or this scope already has one.
        """
        key = make_key(tp, name)
        if key not in self._sync or key in self._cache:
            raise ScopeError(
                f"cannot seed {describe_key(key)}: "
                + (
                    "this scope already has one"
                    if key in self._cache
                    else "it has no provider; register a request-scoped provider for it first"
                )
            )
        self._cache[key] = instance

    def __enter__(self) -> Self:
        self._token = _current.set(self)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _current.reset(self._token)  # type: ignore[arg-type]
        if self._cleanups is not None:
            _leave(self._clean_up(), error)

    async def __aenter__(self) -> Self:
        self._token = _current.set(self)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _current.reset(self._token)  # type: ignore[arg-type]
        if self._cleanups is not None:
            _leave(await self._aclean_up(), error)


class Container(_Instances):
    """The root container: app-scoped instances, and the door to request scopes.

    Entering it (``async with container`` or ``with container``) makes every app-scoped
    instance at once, in dependency order, so that a failing factory fails the start and no
    two requests race to make the same singleton; leaving it (or :meth:`close`,
    :meth:`aclose`) runs their cleanups and forgets them, so that entering it again makes new
    ones.
    """

    __slots__ = ("_graph", "_scoped", "_scoped_async")

    def __init__(self, providers: Mapping[Key, Provider]) -> None:
        self._cache = {}
        self._cleanups = None
        self._token = None
        self._install(Graph.check(providers))

    @property
    def graph(self) -> Graph:
        """The checked provider graph this container resolves from."""
        return self._graph

    def instances(self) -> dict[Key, Any]:
        """The app-scoped instances made so far, in the order they were made."""
        return dict(self._cache)

    def scope(self) -> ScopedContainer:
        """Open a request (or message) scope; use it as a context manager."""
        scope = ScopedContainer.__new__(ScopedContainer)
        scope._cache = {}  # noqa: SLF001 - the scope is ours to initialise
        scope._cleanups = None  # noqa: SLF001 - as above
        scope._sync = self._scoped  # noqa: SLF001 - as above
        scope._async = self._scoped_async  # noqa: SLF001 - as above
        return scope

    @contextlib.contextmanager
    def override(self, tp: object, value: object, /, *, name: str | None = None) -> Iterator[None]:
        """Provide ``value`` for ``tp`` until the block ends; for tests.

        App-scoped instances that depended on ``tp`` are set aside meanwhile and made anew
        from the override when asked for; the originals come back afterwards. Scopes opened
        inside the block see the override; open there every scope that should, since one
        opened before the block resolves from the providers it began with. Cleanups of
        instances made inside the block run when the container closes.

        Raises:
            MissingProviderError: ``tp`` has no provider to override.
        """
        key = make_key(tp, name)
        graph = self._graph
        if key not in graph.providers:
            raise MissingProviderError(
                f"cannot override {describe_key(key)}: it has no provider; "
                f"{missing_hint(key, graph.providers)}"
            )
        affected = graph.dependents(key) | {key}
        kept = {k: self._cache.pop(k) for k in affected if k in self._cache}
        self._install(Graph.check({**graph.providers, key: Provider.of_value(value, key)}))
        try:
            yield
        finally:
            for k in affected:
                self._cache.pop(k, None)
            self._cache.update(kept)
            self._install(graph)

    def _clean_up(self) -> list[BaseException]:
        try:
            return super()._clean_up()
        finally:
            self._forget_instances()

    async def _aclean_up(self) -> list[BaseException]:
        try:
            return await super()._aclean_up()
        finally:
            self._forget_instances()

    def __enter__(self) -> Self:
        app_keys = self._app_keys()
        awaiting = [describe_key(key) for key in app_keys if self._graph.is_async[key]]
        if awaiting:
            raise ScopeError(
                f"making app-scoped {', '.join(awaiting)} awaits an async factory, which "
                "`with container` cannot do; enter the container with `async with container`"
            )
        self._token = _current.set(self)
        try:
            for key in app_keys:
                self._sync[key](self)
        except BaseException as error:
            try:
                self.__exit__(None, None, None)
            except BaseException as cleanup_error:  # noqa: BLE001 - the start's error wins
                _note_cleanup_failure(error, cleanup_error)
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        _leave(self._clean_up(), error)

    async def __aenter__(self) -> Self:
        self._token = _current.set(self)
        try:
            for key in self._app_keys():
                resolve = self._async.get(key)
                if resolve is None:
                    self._sync[key](self)
                else:
                    await resolve(self)
        except BaseException as error:
            try:
                await self.__aexit__(None, None, None)
            except BaseException as cleanup_error:  # noqa: BLE001 - the start's error wins
                _note_cleanup_failure(error, cleanup_error)
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        _leave(await self._aclean_up(), error)

    def _app_keys(self) -> list[Key]:
        providers = self._graph.providers
        return [key for key in self._graph.order if providers[key].scope is Scope.APP]

    def _install(self, graph: Graph) -> None:
        resolvers = compile_resolvers(graph, self, self._cache)
        self._graph = graph
        self._sync = resolvers.root
        self._async = resolvers.root_async
        self._scoped = resolvers.scoped
        self._scoped_async = resolvers.scoped_async
        self._add_values()

    def _add_values(self) -> None:
        for key, provider in self._graph.providers.items():
            if provider.kind is FactoryKind.VALUE:
                self._cache[key] = provider.factory

    def _forget_instances(self) -> None:
        # The same dictionary: the compiled resolvers hold it.
        self._cache.clear()
        self._add_values()


def inject(function: Callable[..., T]) -> Callable[..., T]:
    """Let ``function`` be called plainly, its dependencies filled from the current container.

    Arguments given by the caller win; the rest are resolved by type hint from the container
    of the innermost ``with``/``async with`` block (a request scope, or the root).

    Raises:
        ScopeError: the function is called outside any container block.
    """

    def container() -> Container | ScopedContainer:
        current = _current.get()
        if current is None:
            raise ScopeError(
                f"{getattr(function, '__qualname__', function)} needs injected dependencies but "
                "was called outside a container; call it inside `async with container.scope():`"
            )
        return current

    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def call_async(*args: object, **kwargs: object) -> object:
            return await container().acall(function, *args, **kwargs)

        return cast("Callable[..., T]", call_async)

    @functools.wraps(function)
    def call(*args: object, **kwargs: object) -> T:
        return container().call(function, *args, **kwargs)

    return call


def _await_message(asked: Key, error: AwaitNeededError) -> str:
    what = describe_key(asked)
    made = "is made" if error.key == asked else f"needs {describe_key(error.key)}, which is made"
    start = (
        ", or enter the container with `async with container` first, which makes app-scoped "
        "instances"
        if error.app_scoped
        else ""
    )
    return (
        f"{what} {made} by the async factory {error.factory}; use "
        f"`await scope.aget({describe_arguments(asked)})`{start}"
    )


def _names(generators: Iterable[object]) -> str:
    return ", ".join(getattr(g, "__qualname__", repr(g)) for g in generators)


def _finish(generator: GeneratorType[object, None, None], errors: list[BaseException]) -> None:
    """Run a generator factory's cleanup; add what went wrong to ``errors``."""
    try:
        next(generator)
    except StopIteration:
        return
    except BaseException as error:  # noqa: BLE001 - every cleanup runs; raised after all ran
        errors.append(error)
        return
    generator.close()
    errors.append(_yielded_twice(generator))


async def _afinish(
    generator: AsyncGeneratorType[object, None], errors: list[BaseException]
) -> None:
    """Run an async generator factory's cleanup; add what went wrong to ``errors``."""
    try:
        await anext(generator)
    except StopAsyncIteration:
        return
    except BaseException as error:  # noqa: BLE001 - every cleanup runs; raised after all ran
        errors.append(error)
        return
    await generator.aclose()
    errors.append(_yielded_twice(generator))


def _yielded_twice(generator: Cleanup) -> ProviderError:
    return ProviderError(
        f"the factory {_names([generator])} yielded more than once; a generator factory yields "
        "its instance once, with its cleanup after the `yield`"
    )


def _note_cleanup_failure(error: BaseException, cleanup_error: BaseException) -> None:
    error.add_note(f"cleaning up what was made before it also failed: {cleanup_error!r}")


def _leave(errors: list[BaseException], error: BaseException | None) -> None:
    """End a ``with`` block whose cleanups raised ``errors``, leaving it because of ``error``.

    The error the block raised goes on, with each cleanup failure as a note, so that a failing
    cleanup never hides why the block failed. Without one, or when a cleanup was interrupted
    (``KeyboardInterrupt``, ``CancelledError``), the cleanups' errors are raised as
    :meth:`_Instances.close` raises them; the block's error is then their ``__context__``.
    """
    if error is None or not all(isinstance(e, Exception) for e in errors):
        _raise(errors)
        return
    for failure in errors:
        error.add_note(f"a cleanup on leaving the block also failed: {failure!r}")


def _raise(errors: list[BaseException]) -> None:
    """Raise the errors of cleanups: one as is, several as a group; an interrupt first."""
    if not errors:
        return
    urgent = [e for e in errors if not isinstance(e, Exception)]
    if urgent:  # KeyboardInterrupt, CancelledError: must propagate as themselves
        for other in errors:
            if other is not urgent[0]:
                urgent[0].add_note(f"another cleanup also failed: {other!r}")
        raise urgent[0]
    if len(errors) == 1:
        raise errors[0]
    msg = f"{len(errors)} cleanups failed"
    raise ExceptionGroup(msg, cast("list[Exception]", errors))
