"""A JSON-RPC method as callers see it: its name, its parameters, what runs it, its result.

The engine (:mod:`~atoll.endpoints.rpc.jsonrpc`) answers calls of these, and the OpenRPC
document (:mod:`~atoll.endpoints.rpc.openrpc`) describes them; neither needs the other's
module for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["NO_DEFAULT", "Param", "RpcMethod"]


class _NoDefault(Enum):
    NO_DEFAULT = "NO_DEFAULT"

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Final = _NoDefault.NO_DEFAULT
"""The default of a required parameter."""


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a method, as callers see it."""

    name: str
    hint: Any
    """A type msgspec converts to: ``int``, ``list[int]``, a dataclass, ``X | None``..."""
    default: Any = NO_DEFAULT
    """The value when the caller gives none; :data:`NO_DEFAULT` makes the parameter required."""
    positional: bool = True
    """False for a keyword-only parameter, which callers must pass by name."""

    @property
    def required(self) -> bool:
        """Whether a caller must give this parameter."""
        return self.default is NO_DEFAULT


@dataclass(frozen=True, slots=True)
class RpcMethod:
    """A method callers may invoke: its name, parameters and the coroutine that runs it."""

    name: str
    params: tuple[Param, ...]
    """The parameters, in signature order."""
    call: Callable[[dict[str, Any]], Awaitable[Any]]
    """Runs the method with its validated, converted arguments, by name; returns the result."""
    result: Any = Any
    """The result's type hint, for the OpenRPC document."""
    summary: str = ""
    """The first line of the docstring."""
    description: str = ""
    """The rest of the docstring."""
    policy: str = ""
    """Who may call it, in a few words, when a policy says (``scopes runs:read``)."""
    keyed_call: Callable[[dict[str, Any]], Awaitable[Any]] | None = None
    """Runs a call that carries an idempotency key; ``None``: the method takes no key, and
    such a call runs as any other."""
    admit: Callable[[], Awaitable[None]] | None = None
    """Admits a call before its params are read (counts its limits, authenticates it);
    ``None``: nothing to admit."""
