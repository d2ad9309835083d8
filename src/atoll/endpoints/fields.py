"""The fields of a message type, as the inputs a transport decodes: REST's and JSON-RPC's alike.

A command or query is a dataclass (or a msgspec Struct); a REST route takes its fields from
the path, the query and the body, and a JSON-RPC method takes them as its params. Both read
them here, so that a field's name, type and default mean the same on every transport.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any

import msgspec

from atoll.errors import ConfigError
from atoll.messaging.handlers import Input

__all__ = ["message_fields"]


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
