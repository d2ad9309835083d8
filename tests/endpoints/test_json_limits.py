"""The limits on a decoded JSON body: its depth read from bytes, its lengths put into types."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any, NewType

import msgspec
import pytest

from atoll.endpoints.json_limits import JsonLimits, nests_deeper

SHORT = JsonLimits(max_depth=4, max_string_length=3, max_array_length=2)


def chain(levels: int) -> Any:
    """``levels`` arrays and objects, one in the other."""
    value: Any = 1
    for level in range(levels):
        value = [value, 2] if level % 2 else {"a": value, "b": 2}
    return value


# --- depth --------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [1, 8, 31, 32])
def test_a_body_nested_up_to_the_depth_is_let_through(levels: int) -> None:
    assert not nests_deeper(json.dumps([chain(levels - 1)] * 50).encode(), levels)


@pytest.mark.parametrize("levels", [2, 9, 32, 33])
def test_a_body_nested_past_the_depth_is_told(levels: int) -> None:
    assert nests_deeper(json.dumps([[], chain(levels), []]).encode(), levels - 1)


@pytest.mark.parametrize(
    "text", ["[[[[[[[[[[", "]]]]]]]]", '\\"[[[[[[[[', "\\\\", 'a\\\\"', "{[{[{[{[{[", "\\u005b"]
)
def test_brackets_and_escapes_inside_strings_do_not_nest(text: str) -> None:
    body = json.dumps({"k": [[text, text], {"x": text}], text: [1, 2, 3, 4, 5, 6, 7, 8]})
    assert not nests_deeper(body.encode(), 3)
    assert nests_deeper(body.encode(), 2)


def test_a_body_that_never_closes_nests_as_deep_as_it_opens() -> None:
    assert nests_deeper(b"[" * 200, 64)
    assert not nests_deeper(b'{"a": [1, 2}' + b" " * 200, 64)  # the decoder refuses it


# --- lengths ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Item:
    name: str
    tags: list[str] = dataclasses.field(default_factory=list)
    blurb: Annotated[str, msgspec.Meta(max_length=10)] = ""

    def __post_init__(self) -> None:
        if self.name == "no":
            raise ValueError("an item may not be named no")


@dataclasses.dataclass(frozen=True)
class Order:
    items: list[Item]
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class Point:
    x: float
    y: float


@dataclasses.dataclass(frozen=True)
class Node:
    name: str
    children: list[Node] = dataclasses.field(default_factory=list)


class Circle(msgspec.Struct, tag=True, rename="camel"):
    fill_colour: str


class Square(msgspec.Struct, tag=True, forbid_unknown_fields=True):
    side: int


def decode(tp: Any, body: bytes, limits: JsonLimits = SHORT) -> Any:
    """``body`` decoded as a REST body of type ``tp`` is."""
    decoded, check = limits.body_check(tp)
    if check is not None:
        check(body)
    return msgspec.json.decode(body, type=decoded)


def refusal(tp: Any, body: bytes) -> str:
    with pytest.raises(msgspec.ValidationError) as refused:
        decode(tp, body)
    return SHORT.explain(str(refused.value))


def test_a_string_is_limited_in_place() -> None:
    limited, mirrored = SHORT.limited(str)
    assert not mirrored
    assert msgspec.convert("abc", limited) == "abc"
    with pytest.raises(msgspec.ValidationError, match="length <= 3"):
        msgspec.convert("abcd", limited)


@pytest.mark.parametrize(
    ("tp", "body", "detail"),
    [
        (Order, b'{"items": [{"name": "a"}, {"name": "abcd"}]}', "$.items[1].name"),
        (Order, b'{"items": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}', "$.items"),
        (Order, b'{"items": [{"name": "a", "tags": ["b", "cdef"]}]}', "$.items[0].tags[1]"),
        (Order, b'{"items": [], "note": "long"}', "$.note"),
        (Node, b'{"name": "a", "children": [{"name": "b", "children": [{"name": "cd"}]}]}', ""),
        (
            Node,
            b'{"name": "a", "children": [{"name": "b", "children": [{"name": "cdef"}]}]}',
            "$.children[0].children[0].name",
        ),
        (list[Circle | Square], b'[{"type": "Circle", "fillColour": "blue"}]', "$[0].fillColour"),
        (dict[str, int], b'{"a": 1, "b": 2, "c": 3}', "Expected `object` of length <= 2"),
        (dict[str, int], b'{"abcd": 1}', "at `key`"),
        (tuple[str, ...], b'["a", "b", "c"]', "Expected `array` of length <= 2"),
        (tuple[str, int], b'["abcd", 1]', "$[0]"),
        (NewType("Code", str), b'"abcd"', "Expected `str` of length <= 3"),
    ],
)
def test_strings_and_arrays_are_held_to_the_lengths_at_any_depth(
    tp: Any, body: bytes, detail: str
) -> None:
    if not detail:
        decode(tp, body)
        return
    said = refusal(tp, body)
    assert "(--server-max-" in said
    assert detail in said


def test_a_field_with_a_max_length_of_its_own_keeps_it() -> None:
    assert decode(Item, b'{"name": "a", "blurb": "0123456789"}').blurb == "0123456789"
    assert "length <= 10 -" in refusal(Item, b'{"name": "a", "blurb": "0123456789a"}')


def test_a_body_decodes_into_the_users_own_types() -> None:
    order = decode(Order, b'{"items": [{"name": "a", "tags": ["b"]}], "note": "c"}')
    assert order == Order([Item("a", ["b"])], "c")
    assert type(order) is Order
    assert type(order.items[0]) is Item
    shapes = decode(list[Circle | Square], b'[{"type": "Circle", "fillColour": "red"}]')
    assert shapes == [Circle("red")]


def test_a_types_own_check_still_runs() -> None:
    assert "may not be named no" in refusal(Order, b'{"items": [{"name": "no"}]}')


def test_the_outermost_object_refuses_unknown_keys_and_nested_ones_ignore_them() -> None:
    assert refusal(Order, b'{"items": [], "extra": 1}') == "Object contains unknown field `extra`"
    assert decode(Order, b'{"items": [{"name": "a", "extra": 1}]}') == Order([Item("a")])
    assert "unknown field" in refusal(list[Square], b'[{"type": "Square", "side": 1, "x": 2}]')


def test_a_type_with_nothing_to_limit_gets_no_mirror() -> None:
    assert SHORT.limited(Point) == (Point, False)
    assert SHORT.limited(list[int]) != (list[int], False)  # its length only
    assert SHORT.limited(list[int])[1] is False
    assert SHORT.body_check(Point) == (Point, None)  # the guard runs, as without limits


def test_a_body_shorter_than_checked_from_cannot_hold_anything_too_long() -> None:
    assert SHORT.checked_from == len(b'"abcd"')  # the shortest string past 3 characters
    assert JsonLimits(max_array_length=2).checked_from == len(b"[1,1,1]")
    assert JsonLimits().checked_from == 20_003  # 10001 one-digit items and their commas


def test_mirrors_are_made_once_per_type_and_lengths() -> None:
    first, mirrored = SHORT.limited(Order)
    assert mirrored
    assert SHORT.limited(Order)[0] is first
    assert dataclasses.replace(SHORT, max_depth=9).limited(Order)[0] is first
    assert JsonLimits().limited(Order)[0] is not first


@pytest.mark.parametrize(
    ("tp", "deeper"),
    [
        (Point, False),
        (Order, False),  # an order, its items, an item, its tags: 4
        (dict[str, list[Order]], True),
        (Node, True),
        (dict[str, Any], True),
        (list, True),
        (msgspec.Raw, True),
        (int | None, False),
        (Annotated[list[list[int]], "documented"], False),
    ],
)
def test_only_a_type_that_may_nest_past_the_depth_needs_measuring(tp: Any, deeper: bool) -> None:
    assert SHORT.may_nest_deeper(tp) is deeper


def test_explain_leaves_other_details_alone() -> None:
    detail = "Expected `str` of length <= 10 - at `$.blurb`"
    assert SHORT.explain(detail) == detail
    assert SHORT.explain("Expected `int`, got `str`") == "Expected `int`, got `str`"
