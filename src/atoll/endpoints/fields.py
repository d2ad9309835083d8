"""The fields of a message type, as the inputs a transport decodes: REST's and JSON-RPC's alike.

A command or query is a dataclass (or a msgspec Struct); a REST route takes its fields from
the path, the query and the body, and a JSON-RPC method takes them as its params. Both read
them here, so that a field's name, type and default mean the same on every transport.

The rules they share for an object of fields (a body, a message's params): a key the type has
no field for is refused (:func:`unknown_keys_guard` for the types msgspec decodes without that
check), and when fields are missing, the error names every one (:func:`missing_detail`, on
the error path only).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import operator
import types
import typing
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from atoll.errors import ConfigError
from atoll.messaging.handlers import Input

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "INT64",
    "INT64_RANGE",
    "bounded",
    "message_fields",
    "missing_detail",
    "unknown_keys_guard",
]

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


def unknown_keys_guard(tp: Any) -> Callable[[bytes], object] | None:
    """A check that a JSON object has no key ``tp`` lacks a field for; ``None`` if not needed.

    msgspec ignores unknown keys when it decodes a dataclass (and a Struct not declared with
    ``forbid_unknown_fields``). The check decodes the object into a Struct with one
    :class:`msgspec.Raw` field per wire name, which refuses any other key and converts no
    value: about a fifth of the cost of decoding the type itself.

    Raises (the check):
        msgspec.ValidationError: ``Object contains unknown field `x```.
        msgspec.DecodeError: the bytes are not JSON.
    """
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if tp.__struct_config__.forbid_unknown_fields:
            return None
        names = [field.encode_name for field in msgspec.structs.fields(tp)]
    elif dataclasses.is_dataclass(tp) and isinstance(tp, type):
        names = [field.name for field in dataclasses.fields(tp) if field.init]
    else:
        return None
    keys = msgspec.defstruct(
        f"{tp.__name__}Keys",
        [(f"f{index}", msgspec.Raw, None) for index in range(len(names))],
        rename={f"f{index}": name for index, name in enumerate(names)},
        forbid_unknown_fields=True,
    )
    return msgspec.json.Decoder(keys).decode


def missing_detail(detail: str, given: object, fields: Iterable[Input]) -> str:
    """The detail of msgspec's ``Object missing required field`` naming every missing field.

    msgspec stops at the first; a caller who left out three fields should learn of all three
    at once. ``detail`` is returned as it is for any other error, or one nested deeper.
    """
    if not detail.startswith("Object missing required field `") or " - at `" in detail:
        return detail
    if not isinstance(given, dict):
        return detail
    missing = [f"`{item.name}`" for item in fields if item.required and item.name not in given]
    if len(missing) < 2:  # noqa: PLR2004 - one is what msgspec said
        return detail
    return f"Object missing required fields {', '.join(missing[:-1])} and {missing[-1]}"
