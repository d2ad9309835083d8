"""Publishing: where an outbox relay hands the envelopes it takes from the outbox.

:class:`Publisher` is the port; every :class:`~atoll.messaging.broker.Broker` is one, the
in-memory broker of ``memory://`` included, so the relay does not change with the URL.
:class:`Redeliveries` is what a consumer remembers of a failed delivery, for the next one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from atoll.errors import DeliveryError
    from atoll.messaging.envelope import Envelope

__all__ = ["Publisher", "Redeliveries"]


class Publisher(Protocol):
    """Takes envelopes for delivery; returning means the envelope is handed over for good."""

    def publish(self, envelope: Envelope) -> Awaitable[None]:
        """Hand ``envelope`` over; raise if it could not be, so that it is tried again.

        A coroutine, or a future that took the envelope when called (no task is made for it
        when publishing side by side).
        """
        ...


class Redeliveries:
    """The handlers that failed on each envelope, so that its next delivery here goes to them.

    Those that succeeded are not run twice, whether or not they keep an inbox. Bounded: an
    envelope that is never delivered here again (retried by another process, dead-lettered)
    is forgotten once ``most`` others came after it.
    """

    def __init__(self, most: int = 10_000) -> None:
        self.most = most
        self._failed: dict[str, tuple[str, ...]] = {}

    def only(self, envelope_id: str) -> tuple[str, ...] | None:
        """The consumers to deliver ``envelope_id`` to this time: those that failed, or all."""
        return self._failed.pop(envelope_id, None)

    def failed(self, envelope_id: str, error: DeliveryError) -> None:
        """Remember who failed on ``envelope_id``, for its next delivery."""
        self._failed[envelope_id] = error.failed
        if len(self._failed) > self.most:
            del self._failed[next(iter(self._failed))]

    def forget(self, envelope_id: str) -> None:
        """It will not be delivered here again."""
        self._failed.pop(envelope_id, None)
