"""What an answer shows of a handler's result: aggregates without their bookkeeping.

An aggregate's ``events`` (what it raised, until its unit of work commits them) and its
version (the count its database checks on every update) are persistence's business: a
caller has no use for them, and a response that carries them leaks how the service keeps
its data. A handler that returns a mapped aggregate (or a list of them, an optional one, a
dataclass holding one...) answers without those fields on every transport (REST, JSON-RPC
over HTTP and brokers, in-process clients), and the documents (OpenAPI, OpenRPC) describe
the answer so.

The answer is described by a *view* of each such dataclass: a dataclass of the same name and
module with the other fields, made once per class. A result is converted to it by msgspec
(``from_attributes``), in C; a handler whose result holds no aggregate pays nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from atoll.persistence.schema import bookkeeping

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["Shown", "showing", "shown"]

_VIEWS: dict[type, type | None] = {}
"""Each dataclass met so far: its view, or None where it shows as it is."""


@dataclass(frozen=True, slots=True)
class Shown:
    """How the result of a handler is shown.

    Attributes:
        type: the type the answer is described as (the handler's own where nothing is hidden).
        convert: makes the shown value of a result; ``None`` where the result is shown as is.
    """

    type: Any
    convert: Callable[[Any], Any] | None = None


def shown(returns: Any) -> Shown:
    """How a result of type ``returns`` is shown."""
    view = view_of(returns)
    if view is returns:
        return Shown(returns)
    return Shown(view, functools.partial(msgspec.convert, type=view, from_attributes=True))


def showing(
    call: Callable[[dict[str, Any]], Awaitable[Any]], returns: Any
) -> Callable[[dict[str, Any]], Awaitable[Any]]:
    """``call``, its result shown as :func:`shown` says; ``call`` itself if shown as is."""
    convert = shown(returns).convert
    if convert is None:
        return call

    async def shown_call(arguments: dict[str, Any]) -> Any:
        result = await call(arguments)
        return None if result is None else convert(result)

    return shown_call


def view_of(tp: Any) -> Any:
    """``tp`` with each dataclass that hides fields replaced by its view; ``tp`` if none does."""
    origin = typing.get_origin(tp)
    if origin is None:
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return _dataclass_view(tp)
        return tp
    args = typing.get_args(tp)
    if origin is Annotated:
        inner = view_of(args[0])
        return tp if inner is args[0] else Annotated[(inner, *tp.__metadata__)]
    viewed = tuple(view_of(arg) for arg in args)
    if all(new is old for new, old in zip(viewed, args, strict=True)):
        return tp
    if origin is typing.Union or origin is types.UnionType:
        return functools.reduce(operator.or_, viewed)
    return origin[viewed if len(viewed) > 1 else viewed[0]]


def _dataclass_view(cls: type) -> type:
    if cls in _VIEWS:
        return _VIEWS[cls] or cls
    _VIEWS[cls] = None  # while it is made, a field of its own type shows as it is
    hidden = bookkeeping(cls)
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # a hint that does not resolve: shown as msgspec can
        return cls
    kept = [field for field in dataclasses.fields(cls) if field.name not in hidden]
    viewed = {field.name: view_of(hints.get(field.name, Any)) for field in kept}
    if not hidden and all(viewed[f.name] is hints.get(f.name, Any) for f in kept):
        return cls
    specs = [(field.name, viewed[field.name], _default(field)) for field in kept]
    view = dataclasses.make_dataclass(cls.__name__, specs, frozen=True)
    view.__module__ = cls.__module__
    view.__qualname__ = cls.__qualname__
    view.__doc__ = cls.__doc__
    _VIEWS[cls] = view
    return view


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return dataclasses.field(default=field.default)
    if field.default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=field.default_factory)
    return dataclasses.field()
