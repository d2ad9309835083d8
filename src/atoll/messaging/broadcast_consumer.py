"""The broadcast consumer: every instance of a service runs its broadcast handlers of each event.

::

    @service.on(PriceChanged, broadcast=True)      # each instance drops its cached price
    async def forget_price(event: PriceChanged, cache: PriceCache) -> None: ...

A service's other event handlers share its queue: each event is handled once, by one instance.
A broadcast handler runs on every instance running when the event is published, from a
receiver of the instance's own (:meth:`~atoll.messaging.broker.Broker.broadcast`, see
:mod:`atoll.messaging.broadcast`), apart from the queue. The guarantee is weaker, and said
so: at most once per running instance. An instance that is not running when an event is
published never gets it; a handler that fails is logged and the event dropped, not delivered
again. It suits what can be made again from the source of truth, such as a cache: losing an
invalidation must cost a stale read until the entry expires, never a wrong write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from atoll.errors import BrokerUnavailableError, DeliveryError, UnverifiedMessageError
from atoll.kernel.logs import log_context
from atoll.messaging.signing import opened

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from atoll.messaging.broker import Broker, Received, Receiver
    from atoll.messaging.bus import MessageBus
    from atoll.messaging.signing import EnvelopeVerifier

__all__ = ["BroadcastConsumer", "take_forever"]

logger = logging.getLogger("atoll.messaging")

_BATCH = 16
"""Events taken from the receiver at once, at the most."""
_WAIT = 1.0
"""Seconds each wait for events lasts before it is asked again."""
_LONGEST_PAUSE = 30.0
"""Seconds between two tries of a broker out of reach, at the most."""


class BroadcastConsumer:
    """Takes the events of one service's broadcast handlers, on this instance, and runs them.

    Args:
        broker: where the events come from.
        bus: who handles them: the service's broadcast handlers only.
        service: the service.
        topics: the :func:`~atoll.messaging.envelope.message_name` of each event they take.
        verifier: what checks each event's signature, when the service takes signed messages
            only; an event it refuses is dropped and logged.
        forget_subjects: remove the ``subject`` of each event taken, unchecked.
    """

    def __init__(
        self,
        broker: Broker,
        bus: MessageBus,
        service: str,
        topics: Sequence[str],
        *,
        verifier: EnvelopeVerifier | None = None,
        forget_subjects: bool = False,
    ) -> None:
        self.broker = broker
        self.bus = bus
        self.service = service
        self.topics = tuple(topics)
        self.verifier = verifier
        self.forget_subjects = forget_subjects and verifier is None
        self.handled = 0
        """The events this instance ran its broadcast handlers for."""
        self._receiver: Receiver | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the instance's receiver, and run the handlers in the background from now on.

        Raises:
            BrokerUnavailableError: the broker is out of reach.
        """
        self._receiver = await self.broker.broadcast(self.topics)
        self._task = asyncio.create_task(self._take(), name=f"broadcast of {self.service}")

    async def stop(self) -> None:
        """Take no more: the event being handled finishes, the others are dropped."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            with contextlib.suppress(BrokerUnavailableError):
                await receiver.close()

    def kill(self) -> None:
        """Stop at once, as after a crash: what was taken is dropped."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()

    async def _take(self) -> None:
        receiver = self._receiver
        assert receiver is not None  # noqa: S101 - started

        async def run(received: Received) -> None:
            await asyncio.shield(self._run(received))  # a stop lets it finish

        await take_forever(receiver, run, f"the broadcast of {self.service}")

    async def _run(self, received: Received) -> None:
        """Run the broadcast handlers of one event; drop it, whatever they did."""
        envelope = received.envelope
        with log_context(message_id=envelope.id, message_type=envelope.type):
            try:
                checked = await opened(envelope, self.verifier, forget_subject=self.forget_subjects)
                await self.bus.deliver(checked, service=self.service, broadcast=True)
                self.handled += 1
            except UnverifiedMessageError as error:
                logger.error("%s drops broadcast event %s: %s", self.service, envelope.id, error)  # noqa: TRY400 - the refusal says it all
            except DeliveryError:
                pass  # logged by the bus, with its traceback: at most once, so dropped
            except Exception:
                logger.exception("%s failed on broadcast event %s", self.service, envelope.id)
            finally:
                with contextlib.suppress(BrokerUnavailableError):
                    await received.ack()

    def __repr__(self) -> str:
        return f"BroadcastConsumer({self.service!r}, {list(self.topics)})"


async def take_forever(
    receiver: Receiver, each: Callable[[Received], Awaitable[None]], what: str
) -> None:
    """Take what ``receiver`` holds and pass each to ``each``, until cancelled.

    While the broker is out of reach, wait and ask again (half a second, doubling, up to
    :data:`_LONGEST_PAUSE`), with a warning naming ``what`` each time.
    """
    failures = 0
    while True:
        try:
            batch = await receiver.receive(_BATCH, _WAIT)
        except BrokerUnavailableError as error:
            failures += 1
            logger.warning("%s waits for the broker: %s", what, error)
            await asyncio.sleep(min(0.5 * 2 ** (failures - 1), _LONGEST_PAUSE))
            continue
        failures = 0
        for received in batch:
            await each(received)
