"""Dispatch: which handlers take which message, and what a handler's result raises next.

A command or a query has exactly one handler, an event any number; RPC methods and routes are
handlers that take no message, only remembered. Once indexed, a delivered message's type is
found by its name on the wire, and the handlers (with their consumer names,
``service.handler``) that a delivery runs are made once per type and service.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

from atoll.errors import ConfigError
from atoll.messaging.envelope import message_name
from atoll.messaging.handlers import Handler, HandlerKind

if TYPE_CHECKING:
    from collections.abc import Collection

__all__ = ["RAISING", "Dispatch"]

RAISING = frozenset({HandlerKind.COMMAND, HandlerKind.EVENT})
"""The kinds of handler whose returned events are raised."""


class Dispatch:
    """The handlers of a bus, by the message each takes."""

    def __init__(self) -> None:
        self.commands: dict[type, Handler] = {}
        """The one handler of each command and query type."""
        self.events: dict[type, list[Handler]] = collections.defaultdict(list)
        """The handlers of each event type, in the order added."""
        self._others: list[Handler] = []
        self._named: dict[str, tuple[type, ...]] = {}
        self._chosen: dict[tuple[type, str | None, bool], list[tuple[Handler, str]]] = {}
        self._delivered: dict[tuple[str, str | None, bool], list[tuple[Handler, str, type]]] = {}

    def add(self, handler: Handler) -> None:
        """Route ``handler``'s message to it; RPC and route handlers are only remembered.

        Raises:
            ConfigError: a command or query already has a handler.
        """
        message = handler.message
        if handler.kind is HandlerKind.EVENT and message is not None:
            self.events[message].append(handler)
        elif handler.kind.takes_message and message is not None:
            existing = self.commands.get(message)
            if existing is not None:
                raise ConfigError(
                    f"{message.__qualname__} has two handlers, {existing.label} and "
                    f"{handler.label}; a {handler.kind.value} has exactly one handler"
                )
            self.commands[message] = handler
        else:
            self._others.append(handler)

    @property
    def handlers(self) -> list[Handler]:
        """Every handler, commands and queries first, then events, then the rest."""
        events = [h for handlers in self.events.values() for h in handlers]
        return [*self.commands.values(), *events, *self._others]

    def index(self) -> None:
        """Name the types a delivery may carry: the events, and the commands (not queries)."""
        self._chosen = {}
        self._delivered = {}
        named: dict[str, list[type]] = collections.defaultdict(list)
        for event_type in self.events:
            named[message_name(event_type)].append(event_type)
        for message, handler in self.commands.items():
            if handler.kind is HandlerKind.COMMAND:
                named[message_name(message)].append(message)
        self._named = {name: tuple(types) for name, types in named.items()}

    def delivered(
        self,
        name: str,
        service: str | None,
        only: Collection[str] | None = None,
        *,
        broadcast: bool = False,
    ) -> list[tuple[Handler, str, type]]:
        """The handlers a delivery of the message named ``name`` runs.

        Each with its consumer name and the type it takes the message as; ``service``,
        ``only`` and ``broadcast`` as in :meth:`consumers`.
        """
        chosen = self._delivered.get((name, service, broadcast))
        if chosen is None:
            if name not in self._named:
                return []  # not kept: names from outside would grow the cache without end
            chosen = self._delivered[name, service, broadcast] = [
                (handler, consumer, kind)
                for kind in self._named.get(name, ())
                for handler, consumer in self.consumers(kind, service, broadcast=broadcast)
            ]
        if only is not None:
            return [entry for entry in chosen if entry[1] in only]
        return chosen

    def consumers(
        self,
        message_type: type,
        service: str | None,
        only: Collection[str] | None = None,
        *,
        broadcast: bool = False,
    ) -> list[tuple[Handler, str]]:
        """The handlers a delivery of ``message_type`` runs, with their consumer names.

        Args:
            message_type: a delivered event or command type.
            service: that service's handlers only; every service's by default.
            only: those consumers only; all by default.
            broadcast: the handlers of a delivery to every instance (``on(...,
                broadcast=True)``) rather than those of one to the service's queue.
        """
        chosen = self._chosen.get((message_type, service, broadcast))
        if chosen is None:
            command = self.commands.get(message_type)
            handlers = [command] if command is not None else self.events.get(message_type, [])
            chosen = self._chosen[message_type, service, broadcast] = [
                (handler, f"{handler.service}.{handler.name}")
                for handler in handlers
                if (service is None or handler.service == service)
                and handler.broadcast is broadcast
            ]
        if only is not None:
            return [(handler, consumer) for handler, consumer in chosen if consumer in only]
        return chosen

    def returned_events(self, handler: Handler, result: object) -> list[object]:
        """What is handled next of what ``handler`` returned: events, chained commands.

        Only a command handler's result can raise events, and only an event handler's can also
        chain a command: what queries, RPC methods and routes return is data (a history of
        events, say), never news. The result counts when it is an instance of a handled event
        type, or a list or tuple made only of those.
        """
        if result is None or handler.kind not in RAISING:
            return []
        items = result if isinstance(result, list | tuple) else (result,)
        follow = [item for item in items if self._is_followed(handler, item)]
        return follow if len(follow) == len(items) else []

    def _is_followed(self, handler: Handler, item: object) -> bool:
        kind = type(item)
        if kind in self.events:
            return True
        return handler.kind is HandlerKind.EVENT and kind in self.commands

    def no_handler(self, message: object) -> str:
        """Why ``message`` cannot be handled, and how to declare its handler."""
        kind = type(message)
        known = ", ".join(sorted(t.__qualname__ for t in self.commands)) or "none"
        return (
            f"no handler for {kind.__module__}.{kind.__qualname__}; declare one with "
            f"@service.command({kind.__qualname__}) (or .query, or .on for an event). "
            f"Commands and queries handled here: {known}"
        )
