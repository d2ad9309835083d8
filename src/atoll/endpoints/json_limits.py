"""What a decoded JSON body may hold: how deep it nests, how long its strings and arrays are.

REST bodies and JSON-RPC requests are held to the same :class:`JsonLimits`, made from the
``[server]`` options. The limits cost the hot path next to nothing:

- Depth. A body whose type cannot nest deeper than the limit (scalars, typed collections,
  dataclasses, Structs) is refused by its decoder where it goes deeper, so it is not
  measured; one that may (``Any``, ``dict`` without types, a type that holds itself) has
  its depth read from its bytes before it is decoded (:func:`nests_deeper`). JSON-RPC's
  engine walks the tree it decodes anyway, and counts the depth as it goes.
- Lengths. They are msgspec constraints (``Annotated[str, msgspec.Meta(max_length=N)]``)
  put into the types a body is decoded into, once, when the endpoint is made
  (:meth:`JsonLimits.limited`): msgspec checks them as it decodes.

A dataclass's or a Struct's fields cannot take constraints from outside, so such a type
(nested at any depth) gets a *mirror*: a Struct with the same wire names and configuration,
and the limits in its fields' types. A mirror only checks: the bytes (or the params) are
decoded into it first, then into the user's own types, so that a handler gets instances of
the types it declares. For a REST body the mirror also refuses the keys the type has no field
for, in place of :func:`~atoll.endpoints.fields.unknown_keys_guard`. The check costs about
two thirds of a decode, so it is made only where it can find something: a body shorter than
:attr:`JsonLimits.checked_from` bytes (20,003 by default) cannot hold a string or an array
past the lengths. Mirrors are made once per type and set of lengths.

A field whose type sets its own ``msgspec.Meta(max_length=...)`` keeps it: a field that needs
a longer string than the default says so in its own type.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime as dt
import decimal
import enum
import math
import types
import typing
import uuid
import weakref
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["JsonLimits", "nests_deeper"]

_COLLECTIONS: frozenset[Any] = frozenset(
    {
        list,
        tuple,
        set,
        frozenset,
        dict,
        collections.abc.Collection,
        collections.abc.Sequence,
        collections.abc.MutableSequence,
        collections.abc.Set,
        collections.abc.MutableSet,
        collections.abc.Mapping,
        collections.abc.MutableMapping,
    }
)
_MAPPINGS: frozenset[Any] = frozenset(
    {dict, collections.abc.Mapping, collections.abc.MutableMapping}
)
_SCALARS: frozenset[Any] = frozenset(
    {
        str,
        int,
        float,
        bool,
        bytes,
        bytearray,
        type(None),
        dt.datetime,
        dt.date,
        dt.time,
        dt.timedelta,
        decimal.Decimal,
        uuid.UUID,
    }
)
_UNIONS: frozenset[Any] = frozenset({typing.Union, types.UnionType})

_MIRRORS: weakref.WeakKeyDictionary[type, dict[tuple[int, int, bool], Any]] = (
    weakref.WeakKeyDictionary()
)
"""The mirror of each type, by its lengths and whether it refuses unknown keys; None if none.

None rather than the type itself, so that no entry keeps its own type alive."""


@dataclasses.dataclass(frozen=True, slots=True)
class JsonLimits:
    """The most a JSON body (a REST body, a JSON-RPC request) may hold.

    Attributes:
        max_depth: the most arrays and objects that may nest, the outermost included.
        max_string_length: the most characters of a string decoded as ``str``.
        max_array_length: the most items of an array decoded as a list, tuple or set, and the
            most members of an object decoded as a dict.
    """

    max_depth: int = 64
    max_string_length: int = 65536
    max_array_length: int = 10000

    def limited(self, hint: Any) -> tuple[Any, bool]:
        """``hint`` with the lengths as msgspec constraints, and whether it holds mirrors.

        A hint without mirrors decodes into the user's own types: it can replace ``hint``.
        One with mirrors (a dataclass or Struct in it) can only check a value, before it is
        decoded into ``hint`` itself.
        """
        return _Mirroring(self).limit(hint)

    @property
    def checked_from(self) -> int:
        """The fewest bytes of JSON that can hold a string or an array past the lengths.

        A string of ``n`` characters takes at least ``n + 2`` bytes, an array of ``n`` items
        ``2n + 1`` (an object of ``n`` members more): a shorter body needs no check of them.
        """
        return min(self.max_string_length + 3, 2 * self.max_array_length + 3)

    def body_check(self, tp: Any) -> tuple[Any, Callable[[bytes], object] | None]:
        """What a body of type ``tp`` is decoded as, and the check its bytes pass first if any.

        With no dataclass nor Struct in ``tp`` to mirror, the type decoded as holds the
        limits itself, and there is no check. Otherwise the check, a decoder of the mirror,
        refuses a string or an array past the limits and, for a dataclass or a Struct
        ``tp``, a key it has no field for (as
        :func:`~atoll.endpoints.fields.unknown_keys_guard` does); ``tp`` is
        decoded as it is.

        Raises (the check):
            msgspec.ValidationError: ``Expected `str` of length <= 65536 - at `$.name```.
            msgspec.DecodeError: the bytes are not JSON.
        """
        whole = isinstance(tp, type) and _has_fields(tp)
        held, mirrored = _Mirroring(self).limit(tp, refuse_unknown=whole)
        if mirrored:
            return tp, msgspec.json.Decoder(held).decode
        return held, None

    def may_nest_deeper(self, hint: Any) -> bool:
        """Whether a value decoded as ``hint`` may nest deeper than :attr:`max_depth`.

        A type made of scalars, typed collections, dataclasses and Structs nests as deep as
        its declaration: its decoder refuses a deeper value where it expects a scalar, so its
        body need not be measured. ``Any``, an untyped collection or a type that holds itself
        may nest without end; so may a type this cannot tell.
        """
        return _nesting(hint, frozenset()) > self.max_depth

    def explain(self, detail: str) -> str:
        """The detail msgspec gave for a refused value, naming the option past which it was."""
        for kind, limit, flag in (
            ("str", self.max_string_length, "--server-max-string-length"),
            ("array", self.max_array_length, "--server-max-array-length"),
            ("object", self.max_array_length, "--server-max-array-length"),
        ):
            said = f"Expected `{kind}` of length <= {limit}"
            if detail.startswith(said):
                return f"{said} ({flag}){detail.removeprefix(said)}"
        return detail


def nests_deeper(raw: bytes, depth: int) -> bool:
    """Whether the JSON ``raw`` nests more than ``depth`` arrays and objects, read from bytes.

    No decoder recurses into it first. Only its structure is kept, in a few C passes over the
    bytes: escaped backslashes and quotes are dropped, then every byte but brackets, braces
    and quotes (braces read as brackets). A body with no more than ``2 * depth`` brackets is
    let through (each level opens and closes); otherwise its strings, now ``""`` unless they
    held a bracket, go, and each pass
    that follows drops the innermost pairs, ``[]``: a body is deeper than ``depth`` when
    ``depth`` passes leave some. A body that is not JSON may be told either way; its decoder
    refuses it then.
    """
    if len(raw) <= 2 * depth:  # each level opens and closes
        return False
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = raw.translate(_AS_BRACKETS, _NOT_STRUCTURE)
    if len(marks) - marks.count(b'"') <= 2 * depth:
        return False
    marks = marks.replace(b'""', b"")
    if b'"' in marks:  # a string holds a bracket: between the quotes, the odd parts are strings
        marks = b"".join(marks.split(b'"')[::2])
    for passed in range(depth):
        shorter = marks.replace(b"[]", b"")
        if not shorter:
            return False
        if len(shorter) == len(marks):  # unbalanced: what opens and never closes still nests
            return passed + shorter.count(b"[") > depth
        marks = shorter
    return True


_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'"[]{}')


class _Mirroring:
    """Puts one set of limits into hints, making the mirrors they need."""

    def __init__(self, limits: JsonLimits) -> None:
        self.limits = limits
        self.length = msgspec.Meta(max_length=limits.max_string_length)
        self.items = msgspec.Meta(max_length=limits.max_array_length)

    def limit(self, hint: Any, *, refuse_unknown: bool = False) -> tuple[Any, bool]:  # noqa: PLR0911 - one return per kind of hint
        """``hint`` limited, and whether it holds a mirror; ``hint`` itself if nothing changes.

        ``refuse_unknown``: the mirror of a dataclass or Struct ``hint`` refuses keys it has
        no field for, whatever the type's own rule (a body's outermost object).
        """
        if hint is str or (isinstance(hint, typing.NewType) and hint.__supertype__ is str):
            return Annotated[hint, self.length], False
        if isinstance(hint, type) and _has_fields(hint):
            return self._mirror(hint, refuse_unknown=refuse_unknown)
        origin = typing.get_origin(hint)
        if origin is Annotated:
            return self._annotated(hint)
        if origin in _UNIONS:
            return self._union(hint)
        contents = self._contents(hint, origin)
        if contents is None:
            return hint, False
        held, mirrored = contents
        if origin is tuple and not _variadic(hint):  # its length is its type's: its items alone
            return held, mirrored
        return Annotated[held, self.items], mirrored

    def _union(self, hint: Any) -> tuple[Any, bool]:
        args = typing.get_args(hint)
        limited = [self.limit(arg) for arg in args]
        if all(held is arg for (held, _), arg in zip(limited, args, strict=True)):
            return hint, False
        union: Any = typing.Union[tuple(held for held, _ in limited)]  # noqa: UP007 - of a tuple
        return union, any(mirrored for _, mirrored in limited)

    def _contents(self, hint: Any, origin: Any) -> tuple[Any, bool] | None:
        """A collection's type with its items limited, not its length; None for no collection."""
        if origin is None:
            return (hint, False) if isinstance(hint, type) and hint in _COLLECTIONS else None
        if origin not in _COLLECTIONS:
            return None
        args = typing.get_args(hint)
        limited = [(arg, False) if arg is Ellipsis else self.limit(arg) for arg in args]
        if all(held is arg for (held, _), arg in zip(limited, args, strict=True)):
            return hint, False
        return origin[tuple(held for held, _ in limited)], any(m for _, m in limited)

    def _annotated(self, hint: Any) -> tuple[Any, bool]:
        """``Annotated[T, ...]``: a ``Meta(max_length=...)`` of the user's is kept, not ours."""
        base, metadata = hint.__origin__, hint.__metadata__
        if any(isinstance(meta, msgspec.Meta) and meta.max_length is not None for meta in metadata):
            contents = self._contents(base, typing.get_origin(base))
            held, mirrored = (base, False) if contents is None else contents
        else:
            held, mirrored = self.limit(base)
        if held is base:
            return hint, False
        return Annotated[(held, *metadata)], mirrored

    def _mirror(self, tp: type, *, refuse_unknown: bool) -> tuple[Any, bool]:
        """The mirror of a dataclass or Struct, or ``tp`` itself when no field needs a limit.

        A mirror is made before its fields' types are limited, so that a type that holds
        itself (a tree) finds it: its fields are declared ``Any``, and their types are set
        once all are known, before any decoder reads them (msgspec reads a Struct's field
        types when a decoder of it is first made).
        """
        made = _MIRRORS.setdefault(tp, {})
        key = (self.limits.max_string_length, self.limits.max_array_length, refuse_unknown)
        if key in made:
            mirror = made[key]
            return (tp, False) if mirror is None else (mirror, True)
        try:
            fields = _fields(tp)
        except (NameError, TypeError):  # hints that do not resolve: msgspec says so itself
            return tp, False
        if refuse_unknown:  # a body's outermost object: the nested mirror, refusing other keys
            nested, mirrored = self._mirror(tp, refuse_unknown=False)
            if not mirrored:
                return tp, False
            mirror = _struct(tp, fields, forbid=True)
            mirror.__annotations__.update(nested.__annotations__)
            made[key] = mirror
            return mirror, True
        mirror = _struct(tp, fields, forbid=_refuses_unknown(tp))
        made[key] = mirror
        limited = {name: self.limit(hint) for name, _, hint, _ in fields}
        if all(limited[name][0] is hint for name, _, hint, _ in fields):
            # Nothing changed, so nothing reached the mirror either: it is not needed.
            made[key] = None
            return tp, False
        mirror.__annotations__.update({name: held for name, (held, _) in limited.items()})
        return mirror, True


def _nesting(hint: Any, seen: frozenset[type]) -> float:  # noqa: PLR0911 - one return per kind of hint
    """How many arrays and objects a value of ``hint`` may nest: ``inf`` for no bound."""
    origin = typing.get_origin(hint)
    if _scalar(hint) or origin is typing.Literal:
        return 0
    if origin is Annotated:
        return _nesting(hint.__origin__, seen)
    if origin in _UNIONS:
        return max(_nesting(arg, seen) for arg in typing.get_args(hint))
    if isinstance(hint, typing.NewType):
        return _nesting(hint.__supertype__, seen)
    if isinstance(hint, type) and _has_fields(hint):
        if hint in seen:
            return math.inf
        try:
            fields = _fields(hint)
        except (NameError, TypeError):
            return math.inf
        inner = [_nesting(field_hint, seen | {hint}) for _, _, field_hint, _ in fields]
        return 1 + max(inner, default=0)
    args = typing.get_args(hint)
    if origin in _COLLECTIONS and args:
        items = args[1:] if origin in _MAPPINGS else [a for a in args if a is not Ellipsis]
        return 1 + max(_nesting(arg, seen) for arg in items)
    return math.inf  # Any, object, msgspec.Raw, an untyped collection, a type not known here


def _scalar(hint: Any) -> bool:
    """Whether ``hint`` is a type JSON holds as a string, a number, a boolean or null."""
    if hint is None:
        return True
    return isinstance(hint, type) and (hint in _SCALARS or issubclass(hint, enum.Enum))


def _variadic(hint: Any) -> bool:
    """Whether a tuple type is ``tuple[X, ...]``, of any length."""
    args = typing.get_args(hint)
    return len(args) == 2 and args[1] is Ellipsis  # noqa: PLR2004 - an item type and the ellipsis


def _has_fields(tp: type) -> bool:
    return issubclass(tp, msgspec.Struct) or dataclasses.is_dataclass(tp)


def _refuses_unknown(tp: type) -> bool:
    return issubclass(tp, msgspec.Struct) and tp.__struct_config__.forbid_unknown_fields


def _fields(tp: type) -> list[tuple[str, str, Any, bool]]:
    """The name, wire name, type and whether required of each field a body may give."""
    if issubclass(tp, msgspec.Struct):
        return [
            (
                field.name,
                field.encode_name,
                field.type,
                field.default is msgspec.NODEFAULT and field.default_factory is msgspec.NODEFAULT,
            )
            for field in msgspec.structs.fields(tp)
        ]
    hints = typing.get_type_hints(tp, include_extras=True)
    return [
        (
            field.name,
            field.name,
            hints[field.name],
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING,
        )
        for field in dataclasses.fields(typing.cast("Any", tp))
        if field.init
    ]


def _struct(tp: type, fields: list[tuple[str, str, Any, bool]], *, forbid: bool) -> Any:
    """A Struct of ``tp``'s fields, each typed ``Any`` for now, an optional one None by default.

    A mirror's values are never read (it only checks), so no default is copied or made.
    """
    options: dict[str, Any] = {}
    if issubclass(tp, msgspec.Struct):
        config = tp.__struct_config__
        options = {
            "tag": config.tag,
            "tag_field": config.tag_field,
            "array_like": config.array_like,
        }
    return msgspec.defstruct(
        f"{tp.__name__}Limited",
        [(name, Any) if required else (name, Any, None) for name, _, _, required in fields],
        kw_only=True,
        forbid_unknown_fields=forbid,
        rename={name: wire for name, wire, _, _ in fields},
        **options,
    )
