"""Handlers: the functions a service declares, and which of their parameters come from where.

A handler is a plain function. Some of its parameters are the caller's (a command, the ``user_id``
of an RPC call, a path parameter); the others are dependencies, filled by the container from
their type hints. Which is which is decided once, when the service's container is built: a
parameter is a dependency when the container provides its type, and an input otherwise;
scalars and collections (``int``, ``str``, ``list[int]``...) are always inputs. A message
handler's first parameter is its message, and all its other parameters must be dependencies.

A plain ``def`` handler runs in a worker thread, never on the event loop, so that blocking code
cannot stall every other request.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Union, get_args, get_origin

from atoll.errors import MissingProviderError, ProviderError
from atoll.kernel.providers import Dependency, Key, describe_key, key_of_hint

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

__all__ = [
    "Handler",
    "HandlerKind",
    "Input",
    "Policy",
    "Signature",
    "function_name",
    "is_data_hint",
]

_SCALARS = frozenset({int, float, str, bool, bytes, bytearray, type(None)})
# Named rather than imported, so that declaring a service does not import them.
_VALUES = frozenset(
    {
        ("datetime", "datetime"),
        ("datetime", "date"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("decimal", "Decimal"),
        ("uuid", "UUID"),
    }
)
_COLLECTIONS = frozenset({list, dict, tuple, set, frozenset})


class HandlerKind(enum.Enum):
    """What a handler answers: a message, an RPC method, a REST route, a timer, GraphQL."""

    COMMAND = "command"
    EVENT = "event"
    QUERY = "query"
    RPC = "rpc"
    ROUTE = "route"
    TIMER = "timer"
    FIELD = "field"
    SUBSCRIPTION = "subscription"

    @property
    def takes_message(self) -> bool:
        """Whether the handler's first parameter is a message."""
        return self in {HandlerKind.COMMAND, HandlerKind.EVENT, HandlerKind.QUERY}


class Policy(Protocol):
    """Who may run a handler, as the bus sees it: ``atoll.allow(...)`` makes one.

    The bus hands it to its authorizer before each call of the handler (see
    :attr:`~atoll.messaging.bus.MessageBus.authorize`), which judges it: the bus itself does
    not know identities.
    """

    def describe(self) -> str:
        """What it asks for, in a few words: ``scopes runs:read; roles admin``."""
        ...

    def prepare(self, handler: Handler, provided: Collection[Key]) -> None:
        """Get ready to judge calls of ``handler``, in a container providing ``provided``.

        The bus calls it for each handler with the policy, as it is bound.

        Raises:
            ConfigError: a function it calls needs what neither the container nor a call
                of ``handler`` gives.
        """
        ...


@dataclass(frozen=True, slots=True)
class Input:
    """A parameter the caller gives: by name, position, path, query or body."""

    name: str
    hint: Any
    default: Any = inspect.Parameter.empty
    keyword_only: bool = False

    @property
    def required(self) -> bool:
        """Whether the caller must give it."""
        return self.default is inspect.Parameter.empty


@dataclass(frozen=True, slots=True)
class Signature:
    """A handler's parameters, split between the caller's inputs and the container's."""

    inputs: tuple[Input, ...]
    dependencies: tuple[Dependency, ...]


@dataclass(frozen=True, eq=False)
class Handler:
    """A function declared on a service, with what it answers and what it returns.

    Args:
        function: the handler; ``async def``, or a plain ``def`` that runs in a thread.
        kind: what it answers.
        name: its name as callers see it: the RPC method, the operation id.
        service: the name of the service that declared it.
        message: the message type of a command, event or query handler.
        public: whether anonymous callers are served even where the service refuses them.
        policy: who may run it (``atoll.allow(...)``); ``None`` for whoever the service
            serves.
        limits: how often a caller may run it (``atoll.limit(...)``, each).
        broadcast: an event handler that runs on every instance of its service, not on one.
    """

    function: Callable[..., Any]
    kind: HandlerKind
    name: str
    service: str
    message: type | None = None
    public: bool = False
    policy: Policy | None = None
    limits: tuple[Any, ...] = ()
    broadcast: bool = False
    is_async: bool = field(init=False)
    returns: Any = field(init=False)
    summary: str = field(init=False)
    description: str = field(init=False)
    _parameters: tuple[inspect.Parameter, ...] = field(init=False, repr=False)
    _hints: dict[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        function = self.function
        label = self.label
        if not callable(function):
            raise ProviderError(f"{label} is not callable; decorate a function")
        try:
            hints = typing.get_type_hints(function, include_extras=True)
        except NameError as error:
            raise ProviderError(
                f"the type hints of {label} name {error.name!r}, which is not defined where "
                "the function is; import it at module level (not under TYPE_CHECKING)"
            ) from error
        parameters = tuple(inspect.signature(function).parameters.values())
        for parameter in parameters:
            _refuse_variadic(parameter, label, hints)
            if parameter.kind is parameter.POSITIONAL_ONLY:
                raise ProviderError(
                    f"parameter {parameter.name!r} of {label} is positional-only; callers "
                    "pass arguments by name, so drop the `/`"
                )
            if parameter.name not in hints:
                raise ProviderError(
                    f"parameter {parameter.name!r} of {label} has no type hint, so atoll "
                    "cannot know whether the caller or the container gives it, nor check it; "
                    "annotate it"
                )
        if self.kind.takes_message:
            if not parameters:
                raise ProviderError(
                    f"{label} takes no parameter; its first parameter receives the "
                    f"{self.kind.value}"
                )
            first = hints[parameters[0].name]
            if self.message is not None and first is not self.message:
                raise ProviderError(
                    f"the first parameter of {label} is annotated {_name(first)}, but it "
                    f"handles {_name(self.message)}; annotate it `{parameters[0].name}: "
                    f"{_name(self.message)}`"
                )
        doc = inspect.getdoc(function) or ""
        summary, _, description = doc.partition("\n\n")
        set_ = object.__setattr__
        set_(self, "is_async", inspect.iscoroutinefunction(function))
        set_(self, "returns", hints.get("return", Any))
        set_(self, "summary", " ".join(summary.split()))
        set_(self, "description", description.strip())
        set_(self, "_parameters", parameters)
        set_(self, "_hints", hints)

    @property
    def label(self) -> str:
        """How messages name the handler: ``rpc 'weekly_meters' (runs.weekly_meters)``."""
        qualname = getattr(self.function, "__qualname__", repr(self.function))
        return f"{self.kind.value} handler {self.name!r} of service {self.service!r} ({qualname})"

    def signature(self, provided: Collection[Key]) -> Signature:
        """Split the parameters between inputs and dependencies, given the provided keys.

        Raises:
            MissingProviderError: a message handler's parameter after the message is not
                provided and has no default.
        """
        inputs: list[Input] = []
        dependencies: list[Dependency] = []
        for index, parameter in enumerate(self._parameters):
            hint = self._hints[parameter.name]
            key = key_of_hint(hint)
            is_message = self.kind.takes_message and index == 0
            if not is_message and is_injectable(hint) and key in provided:
                dependencies.append(
                    Dependency(
                        parameter=parameter.name,
                        key=key,
                        positional=False,
                        has_default=parameter.default is not parameter.empty,
                    )
                )
            elif is_message or not (self.kind.takes_message or self.kind is HandlerKind.TIMER):
                inputs.append(
                    Input(
                        parameter.name,
                        hint,
                        parameter.default,
                        keyword_only=parameter.kind is parameter.KEYWORD_ONLY,
                    )
                )
            elif parameter.default is parameter.empty:
                what = (
                    "a timer takes no input: it gets everything from the container"
                    if self.kind is HandlerKind.TIMER
                    else "a message handler gets its message first and everything else from "
                    "the container"
                )
                raise MissingProviderError(
                    f"no provider for {describe_key(key)}, needed by parameter "
                    f"{parameter.name!r} of {self.label}; {what}: register a provider for it"
                )
        return Signature(tuple(inputs), tuple(dependencies))


def function_name(function: object) -> str:
    """How the tools show a handler's function: its qualified name, ``RunsApi.record``.

    Something callable with no qualified name of its own (an instance with ``__call__``, an
    ASGI app mounted) is shown by its class's.
    """
    name = getattr(function, "__qualname__", None)
    return name if isinstance(name, str) else type(function).__qualname__


def is_data_hint(hint: object) -> bool:
    """Whether ``hint`` is plain data (scalars, times, enums, collections, unions of them)."""
    try:
        plain = hint is Any or hint in _SCALARS or hint in _COLLECTIONS
    except TypeError:  # an unhashable hint can be no provider's key
        return True
    if plain or (
        isinstance(hint, type)
        and (issubclass(hint, enum.Enum) or (hint.__module__, hint.__qualname__) in _VALUES)
    ):
        return True
    origin = get_origin(hint)
    if origin is typing.Annotated:
        return is_data_hint(get_args(hint)[0])
    if origin in _COLLECTIONS or origin is typing.Literal:
        return True
    if origin is Union or origin is types.UnionType:
        return all(is_data_hint(arg) for arg in get_args(hint))
    return False


def is_injectable(hint: object) -> bool:
    """Whether the container may fill a parameter with this hint."""
    return not is_data_hint(hint)


def _name(tp: object) -> str:
    return getattr(tp, "__qualname__", repr(tp))


def _refuse_variadic(parameter: inspect.Parameter, label: str, hints: dict[str, Any]) -> None:
    """Refuse ``*args`` and ``**kwargs``, saying why and what to take instead.

    Raises:
        ProviderError: ``parameter`` is variadic.
    """
    name = parameter.name
    if parameter.kind is parameter.VAR_POSITIONAL:
        item = getattr(hints.get(name), "__name__", "int")
        raise ProviderError(
            f"{label} takes *{name}; a handler's parameters are named, so that every "
            "transport (REST's query and body, JSON-RPC by name or by position, a broker's "
            "message) passes each to one parameter, and OpenAPI and OpenRPC can describe it: "
            f"take a list, `{name}: list[{item}]`, which a JSON-RPC caller passes by position "
            f'as [[1, 2, 3]] or by name as {{"{name}": [1, 2, 3]}}'
        )
    if parameter.kind is parameter.VAR_KEYWORD:
        raise ProviderError(
            f"{label} takes **{name}; a handler's parameters are named, so that callers and "
            f"the container know what to pass: name each one, or take a dataclass or a "
            f"`{name}: dict[str, ...]`"
        )
