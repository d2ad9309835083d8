"""The JSON Schemas of the types a service takes and answers, as its API documents write them.

One generator for every document that describes types: the OpenAPI document of the REST
routes and the AsyncAPI document of the messages. Schemas come from msgspec, the same library
that decodes what the service receives, so a document cannot disagree with what the service
accepts. Named types (dataclasses, Structs, enums) become shared components, referred to by
``$ref``; a type msgspec cannot describe is documented as any value rather than breaking the
whole document; and a ``datetime`` says ``format: date-time`` (see :class:`_DateTimes`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import msgspec.inspect as mi

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["REF", "json_schemas"]

REF = "#/components/schemas/{name}"
"""Where a document keeps the shared schemas: OpenAPI and AsyncAPI alike."""


def json_schemas(types: Sequence[Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The schema of each of ``types``, and the components they refer to.

    Returns:
        The schemas, in the order of ``types`` (a named type's is a ``$ref`` to its
        component), and the components by name: new dicts, the caller's to change.
    """
    made, components = msgspec.json.schema_components(
        types, schema_hook=_unknown_schema, ref_template=REF
    )
    _DateTimes(components).mark(made, mi.multi_type_info(types))
    return list(made), components


class _DateTimes:
    """Says ``format: date-time`` of the datetimes that msgspec documents as any string.

    msgspec leaves the format out of a ``datetime`` without ``Meta(tz=True)``, since it
    decodes a time without an offset too; but it refuses any other string (422), so a
    document without the format promises values the server refuses. RFC 3339's date-time,
    which the format names, is what a client should send. The schemas are walked beside
    the types they were made from.
    """

    def __init__(self, components: dict[str, Any]) -> None:
        self._components = components
        self._seen: set[str] = set()

    def mark(self, schemas: tuple[dict[str, Any], ...], infos: tuple[mi.Type, ...]) -> None:
        """Mark the datetimes of each schema, and of the components they refer to."""
        for schema, info in zip(schemas, infos, strict=True):
            self._visit(schema, info)

    def _visit(self, node: Any, info: mi.Type) -> None:
        if not isinstance(node, dict):
            return
        if isinstance(info, mi.Metadata):
            info = info.type
        if isinstance(info, mi.DateTimeType):
            if info.tz is None and node.get("type") == "string":
                node["format"] = "date-time"
        elif isinstance(info, (mi.DataclassType, mi.StructType, mi.TypedDictType)):
            self._visit_fields(node.get("$ref", ""), info)
        elif isinstance(info, mi.UnionType):
            self._visit_union(node.get("anyOf", []), info.types)
        else:
            self._visit_inside(node, info)

    def _visit_inside(self, node: dict[str, Any], info: mi.Type) -> None:
        """The items of an array, the values of an object (a dict)."""
        if isinstance(info, _ARRAYS) and node.get("type") == "array":
            self._visit(node.get("items"), info.item_type)
        elif isinstance(info, mi.DictType) and node.get("type") == "object":
            self._visit(node.get("additionalProperties"), info.value_type)

    def _visit_fields(
        self, ref: str, info: mi.DataclassType | mi.StructType | mi.TypedDictType
    ) -> None:
        name = ref.rpartition("/")[2]
        component = self._components.get(name)
        if component is None or component.get("title") != info.cls.__name__:
            return  # another option of a union
        if name in self._seen:
            return
        self._seen.add(name)
        properties = component.get("properties", {})
        for field in info.fields:
            self._visit(properties.get(field.encode_name), field.type)

    def _visit_union(self, options: list[Any], members: tuple[mi.Type, ...]) -> None:
        # msgspec allows one member of each kind (one str-like, one array-like...) but
        # tagged Structs: each member finds its option by its kind, a Struct by its title.
        for member in members:
            for option in options:
                self._visit(option, member)


_ARRAYS = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)


def _unknown_schema(tp: type) -> dict[str, Any]:
    """The schema of a type msgspec cannot describe (``object``, a class of the user's).

    Such a type is documented as any value rather than left to fail the whole document,
    which would stop the service from starting.
    """
    return {"description": f"Any JSON value ({getattr(tp, '__qualname__', repr(tp))})."}
