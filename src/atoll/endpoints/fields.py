"""The fields of a message type, as the inputs a transport decodes: REST's and JSON-RPC's alike.

A command or query is a dataclass (or a msgspec Struct); a REST route takes its fields from
the path, the query and the body, and a JSON-RPC method takes them as its params. Both read
them here, so that a field's name, type and default mean the same on every transport.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import operator
import types
import typing
from typing import Annotated, Any

import msgspec

from atoll.errors import ConfigError
from atoll.messaging.handlers import Input

__all__ = ["INT64", "INT64_RANGE", "bounded", "message_fields"]

INT64_RANGE = range(-(2**63), 2**63)
"""The integers a database column holds at the most (a signed 64-bit integer)."""

INT64 = Annotated[int, msgspec.Meta(ge=INT64_RANGE.start, le=INT64_RANGE.stop - 1)]
"""An integer a database column can hold: JSON's are unbounded, and a bigger one made a 500."""


def bounded(hint: Any) -> Any:
    """``hint`` with a plain ``int`` (alone, or in a union) held to 64 bits.

    What a transport decodes a scalar input as, so that a value no database column holds is
    a 422 naming its parameter, not an error of the database's.
    """
    if hint is int:
        return INT64
    if typing.get_origin(hint) in {typing.Union, types.UnionType} and int in typing.get_args(hint):
        held = [INT64 if arg is int else arg for arg in typing.get_args(hint)]
        return functools.reduce(operator.or_, held)
    return hint


def message_fields(message: type) -> list[Input]:
    """The fields of a message type (a dataclass or a msgspec Struct), as inputs."""
    if issubclass(message, msgspec.Struct):
        hints = _hints(message)
        return [
            Input(f.name, hints[f.name], _struct_default(f))
            for f in msgspec.structs.fields(message)
        ]
    if dataclasses.is_dataclass(message):
        hints = _hints(message)
        return [
            Input(f.name, hints[f.name], _dataclass_default(f))
            for f in dataclasses.fields(message)
            if f.init
        ]
    raise ConfigError(
        f"message type {message.__qualname__} is neither a dataclass nor a msgspec Struct; "
        "declare it with @dataclass(frozen=True)"
    )


def _hints(tp: type) -> dict[str, Any]:
    return typing.get_type_hints(tp, include_extras=True)


def _struct_default(field: msgspec.structs.FieldInfo) -> Any:
    if field.default is not msgspec.NODEFAULT:
        return field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return inspect.Parameter.empty


def _dataclass_default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return inspect.Parameter.empty
