"""Publishing: where an outbox relay hands the envelopes it takes from the outbox.

:class:`Publisher` is the port; :class:`LocalPublisher` delivers to the handlers of this
process's bus. A broker adapter is another publisher: the relay does not change for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from atoll.errors import DeliveryError

if TYPE_CHECKING:
    from atoll.messaging.bus import MessageBus
    from atoll.messaging.envelope import Envelope

__all__ = ["LocalPublisher", "Publisher"]


class Publisher(Protocol):
    """Takes envelopes for delivery; returning means the envelope is handed over for good."""

    async def publish(self, envelope: Envelope) -> None:
        """Hand ``envelope`` over; raise if it could not be, so that it is tried again."""
        ...


class LocalPublisher:
    """Delivers each envelope to the handlers of this process's bus, before returning.

    An envelope published again after a :class:`~atoll.errors.DeliveryError` goes to the
    handlers that failed only: those that succeeded are not run twice, whether or not they
    keep an inbox.

    Args:
        bus: the bus whose event handlers consume what is published.
    """

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self._failed: dict[str, tuple[str, ...]] = {}

    async def publish(self, envelope: Envelope) -> None:
        """Deliver ``envelope`` to the handlers of its type here (none is fine).

        Raises:
            DeliveryError: a handler failed; publish the envelope again later.
        """
        only = self._failed.pop(envelope.id, None)
        try:
            await self.bus.deliver(envelope, only=only)
        except DeliveryError as error:
            self._failed[envelope.id] = error.failed
            raise
