"""Delivery: a message from a broker or an outbox relay, handed to each of its handlers here.

An event goes to each of its handlers, a command to its one handler, each with its
:class:`~atoll.messaging.envelope.Delivery` in the call's scope, so that a unit of work skips a
message it has seen (:class:`~atoll.errors.DuplicateMessageError`) and keeps its id in the
inbox. A handler that fails is logged and the others still run; the failure is raised once
every handler has run (:class:`~atoll.errors.DeliveryError`, naming who failed and what each
raised), so that the message is not acknowledged and is delivered again to those that failed.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any

from atoll.errors import DeliveryError
from atoll.messaging.envelope import Delivery, open_envelope

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection

    from atoll.messaging.dispatch import Dispatch
    from atoll.messaging.envelope import Envelope
    from atoll.messaging.handlers import Handler

    RunOne = Callable[..., Awaitable[Exception | None]]
    """Runs one handler of a message; what it raised, or None."""
    Drain = Callable[[collections.deque[object]], Awaitable[None]]
    """Handles the events (and chained commands) the handlers raised, in order."""

__all__ = ["Deliverer"]


class Deliverer:
    """Delivers envelopes to the handlers a bus dispatches them to.

    Args:
        dispatch: which handlers take which message.
        run_one: runs one handler (``run_one(handler, message, pending, seeds, delivered=)``).
        drain: handles what the handlers raised.
        asks_for_nothing: whether a handler needs nothing from a scope, not even its delivery.
    """

    def __init__(
        self,
        dispatch: Dispatch,
        run_one: RunOne,
        drain: Drain,
        asks_for_nothing: Callable[[Handler], bool],
    ) -> None:
        self._dispatch = dispatch
        self._run_one = run_one
        self._drain = drain
        self._asks_for_nothing = asks_for_nothing

    async def deliver(
        self,
        envelope: Envelope,
        *,
        only: Collection[str] | None = None,
        service: str | None = None,
        broadcast: bool = False,
    ) -> bool:
        """Hand ``envelope`` to its handlers here; whether one took it.

        See :meth:`~atoll.messaging.bus.MessageBus.deliver`.

        Raises:
            DeliveryError: a handler failed (it is logged).
        """
        chosen = self._dispatch.delivered(envelope.type, service, only, broadcast=broadcast)
        if not chosen:
            return False
        # Decoded once per type before any handler runs, so that a payload no type reads is
        # refused whole; types of one name (a consumer's own copy of a contract) each get one.
        kind = chosen[0][2]
        opened = {kind: open_envelope(envelope, kind)}
        for _, _, other in chosen:
            if other not in opened:
                opened[other] = open_envelope(envelope, other)
        pending: collections.deque[object] = collections.deque()
        failed: dict[str, Exception] | None = None
        for handler, consumer, kind in chosen:
            message = opened[kind]
            seeds: dict[Any, Any] | None = None
            if not self._asks_for_nothing(handler):
                seeds = {Delivery: Delivery(envelope.id, consumer, dict(envelope.headers))}
            error = await self._run_one(handler, message, pending, seeds, delivered=envelope)
            if error is not None:
                failed = failed or {}
                failed[consumer] = error
        if pending:
            await self._drain(pending)
        if failed:
            labels = {consumer: handler.label for handler, consumer, _ in chosen}
            told = "; ".join(
                f"{labels[consumer]}: {type(error).__name__}: {error}"
                for consumer, error in failed.items()
            )
            raise DeliveryError(
                f"{len(failed)} handler(s) failed on {envelope.type} (message {envelope.id}): "
                f"{told}",
                failed=tuple(failed),
                causes=tuple(failed.values()),
            )
        return True

    def consumers(self, envelope: Envelope, service: str | None = None) -> list[str]:
        """The consumers (``service.handler``) :meth:`deliver` would hand ``envelope`` to."""
        return [consumer for _, consumer, _ in self._dispatch.delivered(envelope.type, service)]
