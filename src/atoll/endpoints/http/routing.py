"""The router: from a method and a path to an endpoint and its typed path parameters.

Routes are path templates whose parameters fill whole segments, each with a type given when the
route is added::

    router = Router()
    router.add("GET", "/runs/latest", latest_run)
    router.add("GET", "/runs/{run_id}", get_run, {"run_id": int})
    match = router.match("GET", "/runs/42")     # match.endpoint is get_run, params {"run_id": 42}

Matching does no work beyond the match itself, because it runs for every request: a static
path is one dictionary lookup; a templated one splits the path on ``/`` once and compares
literal segments, among only the templates with that many segments. Everything else (parsing
templates, checking types, finding conflicts) happens in :meth:`Router.add`.

The rules, each raised as :class:`~atoll.endpoints.http.problems.HTTPError`:

- A static route beats a templated one (``/runs/latest`` before ``/runs/{run_id}``); between
  two templates, at the first segment where they differ a literal beats a parameter.
- No route for the path: 404. ``/runs/`` and ``/runs`` are different paths, but the detail
  suggests the other one when it exists.
- Routes for the path, none for the method: 405 with an ``Allow`` header. ``HEAD`` is allowed
  wherever ``GET`` is and matches the ``GET`` endpoint, unless a ``HEAD`` route is added
  for the path too (before or after the ``GET`` one).
- A parameter that does not convert to its type: 422, with a detail in msgspec's form, the
  location being ``path.<name>``: ``Expected `int`, got `abc` - at `path.run_id```.
- An empty segment never fills a parameter: ``/runs//laps`` does not match
  ``/runs/{run_id}/laps``.

Parameters are matched on the percent-decoded ``path`` of the ASGI scope, so a parameter
cannot hold a ``/`` (``%2F`` splits a segment, as in other ASGI frameworks).
"""

from __future__ import annotations

import math
from functools import cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from atoll.endpoints.fields import INT64_RANGE
from atoll.endpoints.http.problems import HTTPError
from atoll.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["Match", "Route", "Router"]

E = TypeVar("E")

_BOOLS = {"true": True, "false": False, "1": True, "0": False}
_SHOWN = 40
"""How many characters of a bad parameter value a 422 detail shows."""


def _to_int(text: str) -> int:
    # int() also takes " 42", "4_2" and non-ASCII digits: a path integer is [-]digits.
    if text.isascii() and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())):
        value = int(text)
        if value in INT64_RANGE:  # what a database column holds; outside it, a 422
            return value
    raise ValueError(text)


def _to_float(text: str) -> float:
    # float() also takes "nan", "inf", "1_0" and spaces, none of which JSON would.
    if not text.strip("0123456789.eE+-"):
        value = float(text)
        if math.isfinite(value):
            return value
    raise ValueError(text)


def _to_bool(text: str) -> bool:
    try:
        return _BOOLS[text.lower()]
    except KeyError:
        raise ValueError(text) from None


@cache
def _converters() -> dict[type, Callable[[str], Any]]:
    """How each type a path parameter may have is made from its text.

    ``bool`` takes true/false/1/0 in any case; ``uuid.UUID`` any form ``uuid.UUID()`` takes.
    """
    import uuid  # noqa: PLC0415 - uuid loads the platform module: kept off atoll's import path

    return {int: _to_int, str: str, float: _to_float, uuid.UUID: uuid.UUID, bool: _to_bool}


def _type_name(kind: type) -> str:
    """The name msgspec gives the type in its messages: ``int``, ``uuid``."""
    return kind.__name__.lower()


class Match(Generic[E]):
    """The endpoint a request is routed to, and its converted path parameters.

    Each match has its own ``params``: a caller may change them.
    """

    __slots__ = ("endpoint", "params")

    def __init__(self, endpoint: E, params: dict[str, Any]) -> None:
        self.endpoint = endpoint
        self.params = params

    def __repr__(self) -> str:
        return f"Match({self.endpoint!r}, {self.params!r})"


class Route(NamedTuple, Generic[E]):
    """A route as added: for documentation and ``atoll routes``."""

    method: str
    template: str
    endpoint: E


class _Target(Generic[E]):
    """One method's endpoint on a templated shape, with its parameters' converters."""

    __slots__ = ("convert", "converters", "endpoint", "template", "types")

    def __init__(self, endpoint: E, template: str, types: tuple[type, ...]) -> None:
        self.endpoint = endpoint
        self.template = template
        self.types = types
        converters = _converters()
        self.converters = tuple(converters[kind] for kind in types)
        # The first parameter's converter: the only one of most templates.
        self.convert = self.converters[0]


class _Shape(Generic[E]):
    """The templates with the same literal segments in the same places, one per method."""

    __slots__ = (
        "literals",
        "many",
        "name",
        "names",
        "pick_literals",
        "pick_values",
        "rank",
        "targets",
    )

    def __init__(self, segments: list[str]) -> None:
        literal_at = [i for i, part in enumerate(segments) if not part.startswith("{")]
        value_at = [i for i, part in enumerate(segments) if part.startswith("{")]
        # itemgetter picks several segments in one C call; given one index it returns the
        # item itself rather than a 1-tuple, which the comparisons below are built to expect.
        self.pick_literals = itemgetter(*literal_at)
        self.literals = self.pick_literals(segments)
        self.pick_values = itemgetter(*value_at)
        self.names = tuple(segments[i][1:-1] for i in value_at)
        self.many = len(value_at) > 1
        self.name = self.names[0]
        self.rank = tuple(part.startswith("{") for part in segments)
        self.targets: dict[str, _Target[E]] = {}

    def fits(self, parts: list[str]) -> bool:
        """Whether ``parts`` has this shape's literals, and a non-empty value per parameter."""
        if self.pick_literals(parts) != self.literals:
            return False
        values = self.pick_values(parts)
        return all(values) if self.many else bool(values)


class Router(Generic[E]):
    """Routes (method, path template) to endpoints of type ``E``."""

    def __init__(self) -> None:
        self._static: dict[str, dict[str, E]] = {}
        self._shapes: dict[tuple[str | None, ...], _Shape[E]] = {}
        self._by_size: dict[int, list[_Shape[E]]] = {}
        self._routes: list[Route[E]] = []
        # Where GET implied HEAD: a HEAD route added later may replace it, and only there.
        self._implicit_head: set[object] = set()

    @property
    def routes(self) -> list[Route[E]]:
        """Every route as added, in order (without the implicit ``HEAD`` routes)."""
        return list(self._routes)

    def add(
        self,
        method: str,
        template: str,
        endpoint: E,
        params: Mapping[str, type] | None = None,
    ) -> None:
        """Route ``method`` on paths of ``template`` to ``endpoint``.

        Args:
            method: the HTTP method, such as ``"GET"`` (case does not matter).
            template: the path, with ``{name}`` for a parameter filling a whole segment:
                ``/users/{user_id}/runs/{day}``.
            endpoint: what the match returns (anything but ``None``); the router never calls
                it.
            params: each parameter's type: ``int``, ``str``, ``float``, ``uuid.UUID`` or
                ``bool`` (which takes true/false/1/0 in any case).

        Raises:
            ConfigError: the method or template is malformed, ``params`` does not name exactly
                the template's parameters, a type is not supported, or the route conflicts
                with one added before (same method and template, or the same shape with other
                parameter names).
        """
        route = f"{method} {template}"
        if not (method.isascii() and method.isalpha()):
            raise ConfigError(f"route {route!r}: the method must be a word such as GET or POST")
        method = method.upper()
        segments = _parse(route, template)
        names = [part[1:-1] for part in segments if part.startswith("{")]
        types = _check_params(route, names, params or {})
        if not names:
            self._add_static(method, template, endpoint)
        else:
            self._add_templated(method, template, endpoint, segments, types)
        self._routes.append(Route(method, template, endpoint))

    def _add_static(self, method: str, template: str, endpoint: E) -> None:
        methods = self._static.setdefault(template, {})
        self._claim(template, method, template, methods, endpoint)
        methods[method] = endpoint
        if method == "GET" and "HEAD" not in methods:
            methods["HEAD"] = endpoint
            self._implicit_head.add(template)

    def _add_templated(
        self,
        method: str,
        template: str,
        endpoint: E,
        segments: list[str],
        types: tuple[type, ...],
    ) -> None:
        key = tuple(None if part.startswith("{") else part for part in segments)
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shapes[key] = _Shape(segments)
            group = self._by_size.setdefault(len(segments), [])
            group.append(shape)
            group.sort(key=lambda each: each.rank)
        other = next(iter(shape.targets.values()), None)
        if other is not None and other.template != template:
            raise ConfigError(
                f"route '{method} {template}' has the shape of {other.template!r} with other "
                "parameter names; one path, one set of names: rename them to match"
            )
        self._claim(key, method, template, shape.targets, endpoint)
        shape.targets[method] = target = _Target(endpoint, template, types)
        if method == "GET" and "HEAD" not in shape.targets:
            shape.targets["HEAD"] = target
            self._implicit_head.add(key)

    def _claim(
        self,
        key: object,
        method: str,
        template: str,
        taken: Mapping[str, E] | Mapping[str, _Target[E]],
        endpoint: E,
    ) -> None:
        """Make room for ``method``: only the HEAD route a GET route implied may be replaced."""
        if method not in taken:
            return
        if method == "HEAD" and key in self._implicit_head:
            self._implicit_head.discard(key)
            return
        raise ConfigError(
            f"route '{method} {template}' is added twice: for "
            f"{_name(_endpoint(taken[method]))} and for {_name(endpoint)}; remove one"
        )

    def match(self, method: str, path: str) -> Match[E]:
        """The endpoint for ``method`` on ``path``, and its converted parameters.

        Args:
            method: the request's method, upper-case.
            path: the path below the application's root (see
                :func:`~atoll.endpoints.http.requests.route_path`).

        Raises:
            HTTPError: 404 when no route has this path, 405 (with ``Allow``) when none of its
                routes has this method, 422 when a parameter does not convert to its type.
        """
        # The hot path of every request: each line here is paid per request, so _Shape.fits and
        # the one-parameter conversion are inlined, and a miss is explained by _miss, later.
        methods = self._static.get(path)
        if methods is not None:
            found = methods.get(method)
            if found is not None:
                return Match(found, {})
        parts = path.split("/")
        for shape in self._by_size.get(len(parts), ()):
            if shape.pick_literals(parts) != shape.literals:
                continue
            values = shape.pick_values(parts)
            if not (all(values) if shape.many else values):
                continue
            target = shape.targets.get(method)
            if target is None:
                continue
            if shape.many:
                return Match(target.endpoint, _convert(shape.names, target, values))
            try:
                return Match(target.endpoint, {shape.name: target.convert(values)})
            except ValueError:
                raise _unconvertible(shape.name, target.types[0], values) from None
        raise self._miss(method, path)

    def _miss(self, method: str, path: str) -> HTTPError:
        """Why nothing matched: a 405 if some route has the path, else a 404."""
        allowed = set(self._static.get(path, ()))
        parts = path.split("/")
        for shape in self._by_size.get(len(parts), ()):
            if shape.fits(parts):
                allowed.update(shape.targets)
        if allowed:
            return _not_allowed(method, path, allowed)
        return self._not_found(path)

    def _knows(self, path: str) -> bool:
        if path in self._static:
            return True
        parts = path.split("/")
        return any(shape.fits(parts) for shape in self._by_size.get(len(parts), ()))

    def _not_found(self, path: str) -> HTTPError:
        other = path[:-1] if path.endswith("/") else f"{path}/"
        if other and self._knows(other):
            hint = f"did you mean {other}? (a trailing slash makes another path)"
        else:
            hint = "check the path against the service's routes (`atoll routes` lists them)"
        return HTTPError(404, f"no route matches the path {path}; {hint}")


def _parse(route: str, template: str) -> list[str]:
    if not template.startswith("/"):
        raise ConfigError(f"route {route!r}: the path must start with '/', as in '/{template}'")
    segments = template.split("/")
    seen: set[str] = set()
    for part in segments:
        if "{" not in part and "}" not in part:
            continue
        name = part[1:-1]
        if not (part.startswith("{") and part.endswith("}") and name.isidentifier()):
            raise ConfigError(
                f"route {route!r}: segment {part!r} is not a parameter; a parameter fills a "
                "whole segment and is named like a Python identifier, as in '/runs/{run_id}'"
            )
        if name in seen:
            raise ConfigError(f"route {route!r}: parameter {name!r} appears twice; rename one")
        seen.add(name)
    return segments


def _check_params(route: str, names: list[str], params: Mapping[str, type]) -> tuple[type, ...]:
    for name in names:
        if name not in params:
            raise ConfigError(
                f"route {route!r}: parameter {name!r} has no type; "
                f"give it one in params, such as {{{name!r}: int}}"
            )
    for name, kind in params.items():
        if name not in names:
            raise ConfigError(
                f"route {route!r}: params gives a type for {name!r}, which the path does not "
                "have; remove it or add {" + name + "} to the path"
            )
        if kind not in _converters():
            supported = ", ".join(_type_name(each) for each in _converters())
            raise ConfigError(
                f"route {route!r}: parameter {name!r} has type {_name(kind)}, which a path "
                f"parameter cannot have; use one of: {supported} (uuid is uuid.UUID)"
            )
    return tuple(params[name] for name in names)


def _convert(
    names: tuple[str, ...], target: _Target[Any], values: tuple[str, ...]
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, convert, value in zip(names, target.converters, values, strict=True):
        try:
            params[name] = convert(value)
        except ValueError:
            raise _unconvertible(name, target.types[names.index(name)], value) from None
    return params


def _unconvertible(name: str, kind: type, value: str) -> HTTPError:
    shown = value if len(value) <= _SHOWN else f"{value[:_SHOWN]}..."
    expected = f"`{_type_name(kind)}`"
    if kind is int and value.isascii() and value.lstrip("-").isdigit():  # too many digits
        expected = "`int` of 64 bits at the most (-2**63 to 2**63 - 1)"
    return HTTPError(422, f"Expected {expected}, got `{shown}` - at `path.{name}`")


def _not_allowed(method: str, path: str, allowed: set[str]) -> HTTPError:
    methods = ", ".join(sorted(allowed))
    return HTTPError(
        405,
        f"{method} is not allowed on {path}; use {methods}",
        headers=((b"allow", methods.encode("ascii")),),
    )


def _endpoint(entry: object) -> object:
    return entry.endpoint if isinstance(entry, _Target) else entry


def _name(thing: object) -> str:
    name = getattr(thing, "__qualname__", None)
    return name if isinstance(name, str) and not hasattr(thing, "__origin__") else repr(thing)
