"""The in-memory broker: the broker port in one process, for tests and embedded runs.

It keeps what a real broker keeps (a queue per service, the topics each subscribed to, the
unsettled messages with their ack waits, the dead letters) in this process's memory, and
passes the same conformance suite as the adapters of real brokers. ``memory://`` is a broker of
its own for each instance; ``memory://NAME`` is shared by every instance of that name in the
process, so that services composed apart in one test talk through it. Nothing survives the
process.

An application run on ``--broker-url memory://`` (the default) gets a broker of its own, made
with ``until_handled=True``: it has no store that outlives the process, so a publish returns
only once the consumers took the message and settled its first delivery (handled, or failed
and due again after a backoff, or dead-lettered). Until then the outbox keeps the event, and
a crash or a stop cannot lose it; only a message waiting for a retry lives in memory alone.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from atoll.errors import (
    BrokerUnavailableError,
    ConfigError,
    DeadlineExceededError,
    RemoteUnavailableError,
)
from atoll.messaging.broadcast import BroadcastBuffer, broadcast_topics
from atoll.messaging.broker import DeadLetter, check_name, request_headers

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from atoll.messaging.broker import Received, Responder, Subscription
    from atoll.messaging.envelope import Envelope

__all__ = ["MemoryBroker"]

_SHARED: dict[str, _State] = {}

_CLOCK_SLACK = 0.001
"""Seconds by which a timer may run before its time; an ack wait ending within is over."""


@dataclass(eq=False)
class _Message:
    envelope: Envelope
    attempt: int = 1
    # The publish waiting for its first delivery to be settled (``until_handled``), if any.
    waiter: asyncio.Future[None] | None = None

    def settled(self, error: Exception | None = None) -> None:
        """Let the publish waiting for this message return (or raise ``error``)."""
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)


@dataclass(eq=False)
class _Queue:
    """One service's queue: ready messages, and the receivers waiting for one to arrive."""

    ready: collections.deque[_Message] = field(default_factory=collections.deque)
    waiting: list[asyncio.Future[None]] = field(default_factory=list)
    ack_wait: float = 30.0
    dead: dict[str, DeadLetter] = field(default_factory=dict)
    receivers: int = 0
    received_once: bool = False
    # Messages put here and not yet acknowledged or dead-lettered: ready, in hand, or due again.
    outstanding: int = 0
    empty: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.empty.set()

    def add(self, message: _Message) -> None:
        """A new message: one more to be settled."""
        self.outstanding += 1
        self.empty.clear()
        self.put(message)

    def put(self, message: _Message) -> None:
        self.ready.append(message)
        self.wake()

    def wake(self) -> None:
        """Wake the receivers waiting for a message."""
        if not self.waiting:
            return
        waiting, self.waiting = self.waiting, []
        for waiter in waiting:
            if not waiter.done():
                waiter.set_result(None)

    async def arrival(self, wait: float) -> None:
        """Return once a message is put here, or after ``wait`` seconds."""
        loop = asyncio.get_running_loop()
        # A future and a timer: cheaper than wait_for on an event, which makes a task per wait.
        waiter: asyncio.Future[None] = loop.create_future()
        self.waiting.append(waiter)
        timer = loop.call_later(wait, _wake, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            if waiter in self.waiting:
                self.waiting.remove(waiter)

    def done(self) -> None:
        """A message was acknowledged or dead-lettered."""
        self.outstanding -= 1
        if self.outstanding <= 0:
            self.outstanding = 0
            self.empty.set()


@dataclass(eq=False)
class _State:
    queues: dict[str, _Queue] = field(default_factory=dict)
    topics: dict[str, set[str]] = field(default_factory=lambda: collections.defaultdict(set))
    responders: dict[str, list[Responder]] = field(
        default_factory=lambda: collections.defaultdict(list)
    )
    turns: itertools.count[int] = field(default_factory=itertools.count)
    handles: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # The queues each topic goes to, by service name in order; made again after a declare.
    routes: dict[str, list[tuple[str, _Queue]]] = field(default_factory=dict)
    # The broadcast receivers of each topic, which get a copy of each of its events.
    listeners: dict[str, list[BroadcastBuffer]] = field(
        default_factory=lambda: collections.defaultdict(list)
    )

    def route(self, topic: str) -> list[tuple[str, _Queue]]:
        """The services subscribed to ``topic``, in order, with their queues."""
        route = self.routes.get(topic)
        if route is None:
            services = sorted(self.topics.get(topic, ()))
            route = self.routes[topic] = [(name, self.queue(name)) for name in services]
        return route

    def queue(self, service: str) -> _Queue:
        queue = self.queues.get(service)
        if queue is None:
            queue = self.queues[service] = _Queue()
        return queue


class _Received:
    """A message taken from a queue, until settled; one left unsettled comes back."""

    __slots__ = ("_message", "_queue", "_receiver", "_settled", "attempt", "envelope")

    def __init__(self, message: _Message, queue: _Queue, receiver: _Receiver) -> None:
        self._message = message
        self._queue = queue
        self._receiver = receiver
        self._settled = False
        self.envelope = message.envelope
        self.attempt = message.attempt

    def _settle(self) -> bool:
        if self._settled:
            return False
        self._settled = True
        self._receiver.unsettled.pop(self, None)
        return True

    def give_back(self, delay: float = 0.0) -> None:
        """Deliver it again after ``delay`` seconds, counted as another delivery."""
        if not self._settle():
            return
        message = self._message
        # Given back unhandled (its ack wait passed, its receiver closed): the publish waiting
        # for it goes on waiting for the next delivery.
        again = _Message(message.envelope, message.attempt + 1, waiter=message.waiter)
        message.waiter = None
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._queue.put, again)
        else:
            self._queue.put(again)

    async def ack(self) -> None:
        if self._settle():
            self._message.settled()
            self._queue.done()

    async def in_progress(self) -> None:
        if not self._settled:
            self._receiver.hold([self], self._queue.ack_wait)

    async def retry(self, delay: float) -> None:
        self._message.settled()  # its first delivery is settled: it failed, and is due again
        self.give_back(delay)

    async def dead_letter(self, error: str) -> None:
        if self._settle():
            self._message.settled()
            self._queue.done()
            handle = str(next(self._receiver.state.handles))
            self._queue.dead[handle] = DeadLetter(
                handle, self._receiver.service, self.envelope, error, self.attempt
            )


class _Receiver:
    def __init__(self, state: _State, subscription: Subscription) -> None:
        self.state = state
        self.service = subscription.service
        self.queue = state.queue(subscription.service)
        self.queue.ack_wait = subscription.ack_wait
        self.queue.receivers += 1
        self.queue.received_once = True
        # What was received and is not settled yet, with when its ack wait ends (loop time).
        self.unsettled: dict[_Received, float] = {}
        # One timer for the receiver's ack waits, not one per message: at the earliest end.
        self._sweep: asyncio.TimerHandle | None = None
        self.closed = False

    def hold(self, taken: list[_Received], ack_wait: float) -> None:
        """Keep ``taken`` unsettled for ``ack_wait`` seconds from now, then give them back."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + ack_wait
        for received in taken:
            self.unsettled[received] = ends
        if self._sweep is None:
            self._sweep = loop.call_at(ends, self._expire)
        elif ends < self._sweep.when():  # a shorter ack wait than those in hand
            self._sweep.cancel()
            self._sweep = loop.call_at(ends, self._expire)

    def _expire(self) -> None:
        """Give back what is unsettled past its ack wait; wait for the next one to end."""
        self._sweep = None
        loop = asyncio.get_running_loop()
        now = loop.time() + _CLOCK_SLACK
        for received in [r for r, ends in self.unsettled.items() if ends <= now]:
            received.give_back()
        if self.unsettled:
            self._sweep = loop.call_at(min(self.unsettled.values()), self._expire)

    async def receive(self, limit: int, wait: float) -> list[Received]:
        if self.closed:
            raise BrokerUnavailableError(
                f"the receiver of {self.service} is closed; subscribe again to receive"
            )
        queue = self.queue
        if not queue.ready:
            await queue.arrival(wait)
        taken: list[_Received] = []
        while queue.ready and len(taken) < limit and not self.closed:
            taken.append(_Received(queue.ready.popleft(), queue, self))
        if taken:
            self.hold(taken, queue.ack_wait)
        if queue.ready:
            queue.wake()  # what is left is for the other instances
        return cast("list[Received]", taken)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for received in list(self.unsettled):
            received.give_back()
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        queue = self.queue
        queue.receivers -= 1
        if not queue.receivers:  # the publishes waiting for these keep their events
            for message in queue.ready:
                message.settled(_no_consumer(self.service))


class _Broadcast:
    """A broadcast receiver: a copy of each event of its topics, from its making to its close."""

    def __init__(self, state: _State, topics: tuple[str, ...]) -> None:
        self._state = state
        self._topics = topics
        self.buffer = BroadcastBuffer(", ".join(topics))
        for topic in topics:
            state.listeners[topic].append(self.buffer)

    async def receive(self, limit: int, wait: float) -> list[Received]:
        return await self.buffer.receive(limit, wait)

    async def close(self) -> None:
        if self.buffer.closed:
            return
        self.buffer.close()
        listeners = self._state.listeners
        for topic in self._topics:
            buffers = listeners.get(topic, [])
            if self.buffer in buffers:
                buffers.remove(self.buffer)
            if not buffers:
                listeners.pop(topic, None)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _no_consumer(service: str) -> BrokerUnavailableError:
    return BrokerUnavailableError(
        f"no consumer of {service} takes messages from this process's memory broker: its "
        "services are stopping; the outbox keeps the event for their next start"
    )


class _Serving:
    def __init__(self, state: _State, service: str, respond: Responder) -> None:
        self._state = state
        self._service = service
        self._respond = respond
        self._calls: set[asyncio.Task[bytes]] = set()

    async def answer(self, body: bytes, headers: Mapping[str, str]) -> bytes:
        task = asyncio.ensure_future(self._respond(body, headers))
        self._calls.add(task)
        try:
            return await asyncio.shield(task)
        finally:
            self._calls.discard(task)

    async def close(self) -> None:
        responders = self._state.responders[self._service]
        if self.answer in responders:
            responders.remove(self.answer)
        if self._calls:
            await asyncio.wait(self._calls)


class MemoryBroker:
    """The broker port in this process's memory.

    Args:
        url: ``memory://`` for a broker of this instance's own, ``memory://NAME`` for the one
            every instance of that name shares in this process.
        until_handled: whether :meth:`publish` returns only once the first delivery of the
            message is settled in each queue it went to (handled, failed and due again, or
            dead-lettered), rather than once it is queued: for a publisher that must not
            forget the message before then, such as an outbox relay.
    """

    def __init__(self, url: str = "memory://", *, until_handled: bool = False) -> None:
        if not url.startswith("memory://"):
            raise ConfigError(f"a memory broker's URL is memory:// or memory://NAME; got {url!r}")
        self.url = url
        self.until_handled = until_handled
        self._name = url.removeprefix("memory://").strip("/")
        self._state: _State | None = None
        self._receivers: list[_Receiver] = []
        self._servings: list[_Serving] = []
        self._broadcasts: list[_Broadcast] = []
        self.stopped = False

    def describe(self) -> str:
        """The URL."""
        return self.url

    @property
    def state(self) -> _State:
        """What this broker keeps: its own, or the one its name shares."""
        if self._state is None:
            if self._name:
                self._state = _SHARED.setdefault(self._name, _State())
            else:
                self._state = _State()
        return self._state

    async def start(self) -> None:
        """Take messages from now on."""
        self.stopped = False
        _ = self.state

    async def stop(self) -> None:
        """Close every serving and receiver made here; take nothing more."""
        for serving in self._servings:
            await serving.close()
        for receiver in self._receivers:
            await receiver.close()
        for broadcast in self._broadcasts:
            await broadcast.close()
        self._servings.clear()
        self._receivers.clear()
        self._broadcasts.clear()
        self.stopped = True

    async def ping(self) -> None:
        """Raise BrokerUnavailableError once stopped."""
        self._running()

    def _running(self) -> None:
        if self.stopped:
            raise BrokerUnavailableError(f"the broker {self.url} is stopped")

    def publish(self, envelope: Envelope) -> asyncio.Future[Any]:
        """Put ``envelope`` in the queue of every service subscribed to its type.

        Each broadcast receiver of its type gets a copy too, which no publish waits for.

        The message is put at once, when called; the future returned is done once the
        message is queued, or with ``until_handled`` once its first delivery is settled in
        each queue. A future rather than a coroutine, so that a relay publishing side by side
        needs no task for each message.

        Raises:
            BrokerUnavailableError: (from the future) the broker is stopped; or, with
                ``until_handled``, the consumers of a queue it goes to have stopped.
        """
        loop = asyncio.get_running_loop()
        try:
            waiters = self._put(envelope)
        except BrokerUnavailableError as error:
            failed: asyncio.Future[None] = loop.create_future()
            failed.set_exception(error)
            return failed
        return waiters[0] if len(waiters) == 1 else asyncio.gather(*waiters)

    def _put(self, envelope: Envelope) -> list[asyncio.Future[None]]:
        """Put ``envelope`` in its queues; with ``until_handled``, a future for each."""
        self._running()
        state = self.state
        route = state.route(envelope.type)
        if self.until_handled:
            for service, queue in route:
                if queue.received_once and not queue.receivers:
                    raise _no_consumer(service)
        if state.listeners:
            for buffer in state.listeners.get(envelope.type, ()):
                buffer.put(envelope)
        if not self.until_handled:
            for _, queue in route:
                queue.add(_Message(envelope))
            return []
        loop = asyncio.get_running_loop()
        waiters: list[asyncio.Future[None]] = []
        for _, queue in route:
            waiter: asyncio.Future[None] = loop.create_future()
            waiters.append(waiter)
            queue.add(_Message(envelope, waiter=waiter))
        return waiters

    async def send(self, envelope: Envelope, service: str) -> None:
        """Put ``envelope`` in ``service``'s queue."""
        await self.ping()
        check_name(service, "service name")
        self.state.queue(service).add(_Message(envelope))

    def declare(self, subscription: Subscription) -> None:
        """Keep ``subscription``'s messages from now on, before a consumer subscribes.

        As a real broker keeps a durable queue between the runs of its consumers: what is
        published meanwhile waits in the queue.
        """
        state = self.state
        for topic in subscription.events:
            state.topics[topic].add(subscription.service)
        state.routes.clear()
        state.queue(subscription.service).ack_wait = subscription.ack_wait

    async def subscribe(self, subscription: Subscription) -> _Receiver:
        """A receiver of ``subscription``'s queue, which now takes its topics."""
        await self.ping()
        self.declare(subscription)
        receiver = _Receiver(self.state, subscription)
        self._receivers.append(receiver)
        return receiver

    async def broadcast(self, topics: Sequence[str]) -> _Broadcast:
        """A receiver of a copy of each event of ``topics`` published from now on.

        Every broadcast receiver of a topic, made on any broker sharing this one's name, gets
        its own copy, beside the queues of the services subscribed to it.
        """
        names = broadcast_topics(topics)
        await self.ping()
        broadcast = _Broadcast(self.state, names)
        self._broadcasts.append(broadcast)
        return broadcast

    async def settled(self, services: Collection[str]) -> None:
        """Wait until the queues of ``services`` hold nothing unsettled.

        Nothing ready, nothing in hand, nothing due again after a backoff: every message put
        in them was acknowledged or dead-lettered.
        """
        queues = self.state.queues
        while True:
            pending = [
                queues[name].empty
                for name in services
                if name in queues and not queues[name].empty.is_set()
            ]
            if not pending:
                return
            await pending[0].wait()

    async def request(
        self,
        service: str,
        body: bytes,
        wait: float,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """Ask the servings of ``service`` in turn; they get a copy of ``headers``."""
        carried = dict(request_headers(headers))
        await self.ping()
        state = self.state
        responders = state.responders.get(service)
        if not responders:
            raise RemoteUnavailableError(
                f"no instance of {service!r} serves requests on the broker {self.url}; check "
                "that it runs with the same --broker-url"
            )
        respond = responders[next(state.turns) % len(responders)]
        try:
            return await asyncio.wait_for(respond(body, carried), wait)
        except TimeoutError:
            raise DeadlineExceededError(
                f"{service!r} did not answer within {wait} s on the broker {self.url}; the "
                "call may have run"
            ) from None

    async def serve(self, service: str, respond: Responder) -> _Serving:
        """Answer requests to ``service`` in turn with the other servings."""
        await self.ping()
        check_name(service, "service name")
        serving = _Serving(self.state, service, respond)
        self.state.responders[service].append(serving.answer)
        self._servings.append(serving)
        return serving

    async def dead_letters(self, service: str, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters of ``service``."""
        queue = self.state.queues.get(service)
        return [] if queue is None else list(queue.dead.values())[:limit]

    async def dead_letter_count(self, service: str) -> int:
        """How many dead letters ``service`` has."""
        queue = self.state.queues.get(service)
        return 0 if queue is None else len(queue.dead)

    async def redrive(self, service: str, ids: Collection[str] | None = None) -> int:
        """Put dead letters back in the queue, as first deliveries."""
        queue = self.state.queues.get(service)
        if queue is None:
            return 0
        chosen = [h for h in queue.dead if ids is None or h in ids]
        for handle in chosen:
            queue.add(_Message(queue.dead.pop(handle).envelope))
        return len(chosen)

    async def purge(self, service: str, ids: Collection[str] | None = None) -> int:
        """Forget dead letters."""
        queue = self.state.queues.get(service)
        if queue is None:
            return 0
        chosen = [h for h in queue.dead if ids is None or h in ids]
        for handle in chosen:
            del queue.dead[handle]
        return len(chosen)

    def __repr__(self) -> str:
        return f"MemoryBroker({self.url!r})"
