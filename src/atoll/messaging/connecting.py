"""A broker that a service starts with whether or not it answers, connecting in the background.

A producer restarted while its broker is away must still serve its callers: its commits go to
its outbox, which is the reason the outbox exists, and the outbox relay hands them over once
the broker answers. :class:`ConnectingBroker` wraps a broker adapter so that starting never
fails for a broker out of reach: it tells the outage once, tries again with backoff in the
background, and until it connects every call raises
:class:`~atoll.errors.BrokerUnavailableError` at once (the relay keeps its records, readiness
reports the broker, the consumers wait). Once connected, it is the adapter, which reconnects
by itself from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from atoll.errors import BrokerUnavailableError
from atoll.messaging.outage import Outage

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from atoll.messaging.broker import (
        Broker,
        DeadLetter,
        Receiver,
        Responder,
        Serving,
        Subscription,
    )
    from atoll.messaging.envelope import Envelope

__all__ = ["ConnectingBroker"]

logger = logging.getLogger("atoll.broker")


class ConnectingBroker:
    """A :class:`~atoll.messaging.broker.Broker` whose start succeeds while it is out of reach.

    Args:
        broker: the adapter to connect.
        backoff: seconds before the first attempt again; it doubles after each failure.
        longest: seconds between two attempts at the most.
    """

    def __init__(self, broker: Broker, *, backoff: float = 0.5, longest: float = 10.0) -> None:
        self.broker = broker
        self.backoff = backoff
        self.longest = longest
        self.connected = False
        self.outage = Outage(
            logger,
            f"this service's link to {broker.describe()}",
            "it serves what needs no broker, its outbox keeps what is to be published, and "
            "its consumers wait",
        )
        self._connecting: asyncio.Task[None] | None = None
        self._joined = asyncio.Event()

    def describe(self) -> str:
        """The broker's URL without its password."""
        return self.broker.describe()

    async def start(self) -> None:
        """Connect, or go on connecting in the background if the broker is out of reach."""
        try:
            await self.broker.start()
        except BrokerUnavailableError as error:
            self.outage.failed(error)
            self._connecting = asyncio.create_task(
                self._connect(), name=f"connecting to {self.describe()}"
            )
            return
        self.connected = True
        self._joined.set()

    async def wait_connected(self) -> None:
        """Return once the broker is connected (at once if it is)."""
        await self._joined.wait()

    async def _connect(self) -> None:
        failures = 0
        while True:
            failures += 1
            await asyncio.sleep(min(self.backoff * 2 ** (failures - 1), self.longest))
            try:
                await self.broker.start()
            except BrokerUnavailableError as error:
                self.outage.failed(error)
                continue
            self.connected = True
            self._joined.set()
            self.outage.recovered()
            return

    async def stop(self) -> None:
        """Stop connecting; close the connection if there is one."""
        connecting, self._connecting = self._connecting, None
        if connecting is not None:
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connecting
        if self.connected:
            self.connected = False
            self._joined.clear()
            await self.broker.stop()

    def _ready(self, doing: str) -> Broker:
        if not self.connected:
            error = self.outage.error
            raise BrokerUnavailableError(
                f"cannot {doing}: the broker at {self.describe()} has not answered since this "
                f"service started ({error}); it connects by itself once the broker answers"
            )
        return self.broker

    async def ping(self) -> None:
        """Return if the broker is reachable now.

        Raises:
            BrokerUnavailableError: it is not, or not connected yet.
        """
        await self._ready("answer a ping").ping()

    async def publish(self, envelope: Envelope) -> None:
        """As :meth:`Broker.publish`; out of reach until connected."""
        await self._ready(f"publish {envelope.type}").publish(envelope)

    async def send(self, envelope: Envelope, service: str) -> None:
        """As :meth:`Broker.send`; out of reach until connected."""
        await self._ready(f"send {envelope.type} to {service}").send(envelope, service)

    async def subscribe(self, subscription: Subscription) -> Receiver:
        """As :meth:`Broker.subscribe`; out of reach until connected."""
        return await self._ready(f"subscribe {subscription.service}").subscribe(subscription)

    async def broadcast(self, topics: Sequence[str]) -> Receiver:
        """As :meth:`Broker.broadcast`; out of reach until connected."""
        return await self._ready(f"broadcast {', '.join(topics)}").broadcast(topics)

    async def request(
        self,
        service: str,
        body: bytes,
        wait: float,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """As :meth:`Broker.request`; out of reach until connected."""
        return await self._ready(f"call {service}").request(service, body, wait, headers=headers)

    async def serve(self, service: str, respond: Responder) -> Serving:
        """As :meth:`Broker.serve`; out of reach until connected."""
        return await self._ready(f"serve {service}").serve(service, respond)

    async def dead_letters(self, service: str, limit: int = 100) -> list[DeadLetter]:
        """As :meth:`Broker.dead_letters`; out of reach until connected."""
        return await self._ready("list dead letters").dead_letters(service, limit)

    async def dead_letter_count(self, service: str) -> int:
        """As :meth:`Broker.dead_letter_count`; out of reach until connected."""
        return await self._ready("count dead letters").dead_letter_count(service)

    async def redrive(self, service: str, ids: Collection[str] | None = None) -> int:
        """As :meth:`Broker.redrive`; out of reach until connected."""
        return await self._ready("redrive dead letters").redrive(service, ids)

    async def purge(self, service: str, ids: Collection[str] | None = None) -> int:
        """As :meth:`Broker.purge`; out of reach until connected."""
        return await self._ready("purge dead letters").purge(service, ids)

    def __repr__(self) -> str:
        return f"ConnectingBroker({self.broker!r})"
