"""A system of two services for the tests of ``atoll shell``: a greeter, and a ledger.

The ledger writes down each ``Greeted`` event it consumes; ``written`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

import atoll


@dataclass(frozen=True)
class Greeted:
    """An event: someone was greeted."""

    name: str


@dataclass(frozen=True)
class Greet:
    """A command: greet someone."""

    name: str


greeter = atoll.Service("greeter", version="1.0.0")
ledger = atoll.Service("ledger", version="1.0.0")
entries: list[str] = []


@greeter.rpc
async def hello(name: str) -> str:
    """A greeting."""
    return f"hello, {name}"


@greeter.rpc
async def whoami(identity: atoll.Identity) -> str:
    """Who is calling."""
    return identity.subject or "nobody"


@greeter.command(Greet)
async def greet(command: Greet, events: atoll.Events) -> str:
    """Greet someone, and say so with an event."""
    events.add(Greeted(command.name))
    return f"greeted {command.name}"


@ledger.on(Greeted)
async def write_down(event: Greeted) -> None:
    """Write a greeting down."""
    entries.append(event.name)


@ledger.rpc
async def written() -> list[str]:
    """The names greeted, in order."""
    return entries


system = atoll.System(greeter, ledger, name="club")
