"""The consumer: one service's messages taken from a broker, handled by the bus, and settled.

Every broker adapter is driven by this one loop, so that the delivery guarantees do not depend
on the broker:

- a message is acknowledged only once :meth:`~atoll.messaging.bus.MessageBus.deliver` returned,
  that is, once each handler (and the unit of work it committed, with its inbox entry) is done;
- a handler that failed gets the message again after a backoff that grows with each delivery
  (:class:`~atoll.messaging.broker.RetryPolicy`); the other messages go on meanwhile;
- a retry in the same instance goes to the handlers that failed only, not to those that
  succeeded (another instance runs them all again: the inbox skips those that committed);
- a delivery whose every failed handler met a dependency out of reach
  (:func:`~atoll.messaging.outage.out_of_reach`: the database, the broker, another service)
  spends none of the message's deliveries: the consumer takes no new message, keeps those in
  hand (in progress, so that no other instance takes them), runs one of them again with backoff
  until it gets past the dependency, then runs the others again and goes on. Meanwhile its
  readiness check says what it cannot reach, and the outage is logged once, not per message;
- on its last allowed delivery, a message that fails again goes to the service's dead-letter
  queue, with what its deliveries met; so does one whose payload no longer decodes, one
  that no handler of the service takes (sent to the wrong service, or its handler removed),
  where the service takes signed messages only, one whose signature is refused, and one
  that each of its failed handlers' policies refused (``policy=``);
- a message delivered more often than allowed because its consumers stopped while handling it
  (a crash, a kill) is not run again: it is acknowledged if each of its handlers committed it
  already (the service's inbox holds it), and goes to the dead-letter queue if not;
- up to ``prefetch`` messages are held at once, fetched in batches; up to ``concurrency`` of
  them are handled at once, by as many workers; those of one stream (one aggregate) one after
  the other, in the order this instance received them;
- a message in hand (being handled, or waiting for the one before it in its stream) is kept
  in progress every third of its ack wait, so that no other instance takes it meanwhile;
- stopping takes no new message, lets those in hand finish and settle, and gives back what the
  receiver holds unstarted, for the next instance.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from typing import TYPE_CHECKING

import msgspec

from atoll.errors import (
    AuthenticationError,
    DeliveryError,
    ForbiddenError,
    UnavailableError,
    UnverifiedMessageError,
)
from atoll.kernel.logs import log_context
from atoll.messaging.envelope import lag_of
from atoll.messaging.outage import Outage, dependency_of, out_of_reach
from atoll.messaging.publishing import Redeliveries
from atoll.messaging.signing import opened

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from atoll.kernel.spans import Span
    from atoll.messaging.broker import Broker, Received, Receiver, RetryPolicy, Subscription
    from atoll.messaging.bus import MessageBus
    from atoll.messaging.envelope import Envelope
    from atoll.messaging.signing import EnvelopeVerifier

__all__ = ["BrokerConsumer"]

logger = logging.getLogger("atoll.broker")

_LONGEST_PAUSE = 30.0
"""Seconds a consumer waits at the most before it asks a broker out of reach again."""

_LONGEST_PROBE = 10.0
"""Seconds a paused consumer waits at the most before it tries a dependency out of reach again."""

REFUSALS = (ForbiddenError, AuthenticationError)
"""What a handler's policy raises: a message it refused is refused again at every delivery."""

_REMEMBERED = 10_000
"""Messages whose deliveries a consumer remembers at the most, for the dead letters' reasons."""


class _Met:
    """What the deliveries of one message met in this instance."""

    __slots__ = ("failures", "unreached")

    def __init__(self) -> None:
        self.failures = 0
        self.unreached: collections.Counter[str] = collections.Counter()


_FAILED = frozenset({"retried", "dead-lettered"})
"""How a message ends when its handling failed."""


class _Watched:
    """A received message, noting how it was settled."""

    __slots__ = ("_received", "outcome")

    def __init__(self, received: Received) -> None:
        self._received = received
        self.outcome = "held"  # given back unsettled, unless settled

    @property
    def envelope(self) -> Envelope:
        return self._received.envelope

    @property
    def attempt(self) -> int:
        return self._received.attempt

    async def ack(self) -> None:
        await self._received.ack()
        self.outcome = "handled"

    async def in_progress(self) -> None:
        await self._received.in_progress()

    async def retry(self, delay: float) -> None:
        await self._received.retry(delay)
        self.outcome = "retried"

    async def dead_letter(self, error: str) -> None:
        await self._received.dead_letter(error)
        self.outcome = "dead-lettered"


class BrokerConsumer:
    """Takes one service's messages from a broker and has the bus handle them.

    A component: :meth:`start` subscribes and starts the loop, :meth:`stop` ends it
    gracefully.

    Args:
        broker: where the messages come from.
        bus: who handles them.
        subscription: what the service takes.
        policy: when a failed message is tried again, and when it is given up.
        concurrency: messages handled at once at the most.
        poll: seconds each wait for messages lasts before it is asked again; the first pause
            after a dependency was found out of reach, too.
        committed: whether each of the consumers named has committed an envelope (its id is in
            their inbox); without it, no message is taken for committed.
        verifier: what checks each message's signature, when the service takes signed
            messages only (:mod:`~atoll.messaging.signing`): one that fails it goes to the
            dead-letter queue at once; one whose key cannot be fetched waits, as for a
            dependency out of reach. Without it, an ``atoll-signed-by`` header a message
            came with is removed.
        forget_subjects: remove the ``subject`` of each message taken, unchecked: the
            process signs what it publishes and would vouch for it (without a verifier).
        handled: told of each message once it is settled, in its log context: its type,
            the service, its delivery, how it ended (``handled``, ``retried``,
            ``dead-lettered``, or ``held`` when given back unsettled), the seconds it took,
            and the seconds from its sealing to its delivery (None when it does not say);
            the access log's line and the metrics per message.
        traced: starts the span of a message taken (CONSUMER, under the ``traceparent`` of
            its headers), when traces are on; it is current while the message is handled,
            and tells how it ended (``atoll.message.outcome``).
    """

    def __init__(
        self,
        broker: Broker,
        bus: MessageBus,
        subscription: Subscription,
        policy: RetryPolicy,
        *,
        concurrency: int = 16,
        poll: float = 1.0,
        committed: Callable[[Envelope, tuple[str, ...]], Awaitable[bool]] | None = None,
        verifier: EnvelopeVerifier | None = None,
        forget_subjects: bool = False,
        handled: Callable[[str, str, int, str, float, float | None], None] | None = None,
        traced: Callable[[Envelope, str], Span] | None = None,
    ) -> None:
        self.broker = broker
        self.told = handled
        self.traced = traced
        self.bus = bus
        self.subscription = subscription
        self.policy = policy
        self.concurrency = concurrency
        self.poll = poll
        self.committed = committed
        self.verifier = verifier
        self.forget_subjects = forget_subjects and verifier is None
        self.handled = 0
        self.dead = 0
        who = f"the consumer of {subscription.service}"
        self.outage = Outage(
            logger, who, "it takes no new message and runs those in hand again once it answers"
        )
        self.broker_outage = Outage(logger, who, "it takes no new message")
        self.keep_outage = Outage(
            logger,
            who,
            "another instance may get the messages in hand once their ack wait has passed",
        )
        self._receiver: Receiver | None = None
        self._task: asyncio.Task[None] | None = None
        self._receiving = False  # the fetch task waits for its receiver
        self._stopping = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._buffer: collections.deque[Received] = collections.deque()
        self._waiting: dict[str, collections.deque[Received]] = {}
        self._busy: set[str] = set()
        self._idle: collections.deque[asyncio.Future[None]] = collections.deque()
        self._waking = 0  # workers woken that have not run yet
        self._room = asyncio.Event()
        self._redeliveries = Redeliveries()
        # What is in hand, by id(): the message and when the broker last heard of it.
        self._held: dict[int, tuple[Received, float]] = {}
        self._keeper: asyncio.Task[None] | None = None
        # Set but while a dependency is out of reach; one worker (the prober) tries it again.
        self._back = asyncio.Event()
        self._back.set()
        self._prober: asyncio.Task[None] | None = None
        self._probes = 0
        self._met: dict[str, _Met] = {}

    @property
    def service(self) -> str:
        """The service whose messages these are."""
        return self.subscription.service

    async def start(self) -> None:
        """Subscribe, and handle messages in the background from now on.

        Raises:
            BrokerUnavailableError: the broker is out of reach.
        """
        self._stopping.clear()
        self._prober = None  # a worker that probed before a stop is gone
        self._idle.clear()  # the waits of workers a kill ended
        self._waking = 0
        self._back.set()
        self._receiver = await self.broker.subscribe(self.subscription)
        name = self.service
        self._task = asyncio.create_task(self._fetch(), name=f"consumer of {name}")
        self._workers = [
            asyncio.create_task(self._work(), name=f"worker {n} of {name}")
            for n in range(self.concurrency)
        ]
        self._keeper = asyncio.create_task(self._keep(), name=f"keeper of {name}")

    async def stop(self) -> None:
        """Take no more; let the messages in hand finish and settle; give back the rest."""
        task, self._task = self._task, None
        workers, self._workers = self._workers, []
        self._stopping.set()
        self._wake_workers(len(self._idle))
        self._room.set()
        self._back.set()  # a paused worker gives its message back with the rest
        if task is not None:
            if self._receiving:
                task.cancel()
            await task
        if workers:
            await asyncio.wait(workers)
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        receiver, self._receiver = self._receiver, None
        self._buffer.clear()
        self._waiting.clear()
        self._busy.clear()
        self._held.clear()
        if receiver is not None:
            try:
                await receiver.close()  # what was received and not started goes back
            except Exception as error:  # noqa: BLE001 - what it held is redelivered anyway
                logger.warning(
                    "the consumer of %s could not give back what it held (%s: %s); the "
                    "broker delivers it again once its ack wait has passed",
                    self.service,
                    type(error).__name__,
                    error,
                )

    def kill(self) -> None:
        """Stop at once: what is in hand is delivered again, as after a crash."""
        for task in [*self._workers, *(t for t in (self._task, self._keeper) if t)]:
            task.cancel()

    async def ping(self) -> None:
        """Return if the consumer goes on; raise while a dependency of its handlers is away.

        Raises:
            UnavailableError: its handlers cannot reach a dependency (it says which), so it
                takes no new message.
        """
        if self.outage.active:
            raise UnavailableError(self.outage.reason())

    @property
    def in_hand(self) -> int:
        """The messages received and not settled yet: being handled, or waiting their turn."""
        return len(self._held)

    async def _fetch(self) -> None:
        """Keep the buffer filled up to the prefetch, while not stopping.

        It awaits the receiver itself, not a task of its own beside a wait for the stop: a
        stop cancels it while it waits for the receiver (:attr:`_receiving`), and only then.
        """
        receiver = self._receiver
        assert receiver is not None  # noqa: S101 - start() set it
        prefetch = self.subscription.prefetch
        loop = asyncio.get_running_loop()
        failures = 0
        while not self._stopping.is_set():
            if not self._back.is_set():  # paused: no new message until it is back
                await self._back.wait()
                continue
            room = prefetch - len(self._held)
            if room <= 0 or (self._buffer and room * 2 < prefetch):
                self._room.clear()  # refilled in batches, not a message at a time
                await self._room.wait()
                continue
            self._receiving = True
            try:
                batch = await receiver.receive(room, self.poll)
            except asyncio.CancelledError:
                if not self._stopping.is_set():
                    raise  # killed
                break  # stopping: what the receiver held goes back when it closes
            except Exception as error:  # logged, waited for, asked again
                failures += 1
                pause = min(self.poll * 2 ** (failures - 1), _LONGEST_PAUSE)
                if out_of_reach(error):  # told once per outage
                    self.broker_outage.failed(error)
                else:
                    logger.log(  # the level passed: a traceback, with the error's text
                        logging.ERROR,
                        "the consumer of %s cannot receive (%s: %s); trying again in %.1f s",
                        self.service,
                        type(error).__name__,
                        error,
                        pause,
                        exc_info=True,
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), pause)
                continue
            finally:
                self._receiving = False
            failures = 0
            self.broker_outage.recovered()
            if batch:
                now = loop.time()
                for received in batch:
                    self._held[id(received)] = (received, now)
                self._buffer.extend(batch)
                self._wake_worker()

    def _next(self) -> Received | None:
        """The next message whose stream no worker is handling; those behind one wait."""
        buffer = self._buffer
        while buffer:
            received = buffer.popleft()
            stream = received.envelope.stream
            if not stream:
                return received
            if stream in self._busy:
                self._waiting.setdefault(stream, collections.deque()).append(received)
                continue
            self._busy.add(stream)
            return received
        return None

    def _wake_worker(self) -> None:
        """Wake an idle worker, unless one woken already has not run yet.

        A worker that takes a message and leaves more in the buffer wakes the next: a handler
        that waits (on a database, say) lets it run and take one, so that the messages are
        handled side by side; one that does not wait handles the batch alone, without a
        worker woken for each message.
        """
        if not self._waking:
            self._wake_workers(1)

    def _wake_workers(self, count: int) -> None:
        """Wake up to ``count`` idle workers."""
        idle = self._idle
        while idle and count > 0:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._waking += 1
                count -= 1

    async def _work(self) -> None:
        """Handle messages, one at a time, until stopping; a stream's in the order received."""
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            if not self._back.is_set():  # paused: no new message until it is back
                await self._back.wait()
                continue
            received = self._next()
            if received is None:
                waiter = loop.create_future()
                self._idle.append(waiter)
                await waiter
                self._waking -= 1
                continue
            while received is not None:
                if self._buffer:  # more than this one: another worker, should this one wait
                    self._wake_worker()
                await self.handle(received)
                self._held.pop(id(received), None)
                self._room.set()
                received = self._after(received.envelope.stream)

    def _after(self, stream: str) -> Received | None:
        """The message waiting behind the one just handled in ``stream``; none when stopping.

        What still waits when stopping goes back to the broker with the rest.
        """
        if not stream:
            return None
        waiting = self._waiting.get(stream)
        if waiting and not self._stopping.is_set():
            received = waiting.popleft()
            if not waiting:
                del self._waiting[stream]
            return received
        self._busy.discard(stream)
        return None

    async def _keep(self) -> None:
        """Keep what is in hand in progress, every third of the ack wait."""
        every = self.subscription.ack_wait / 3
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(every / 2)
            now = loop.time()
            due = [(k, r) for k, (r, last) in self._held.items() if now - last >= every]
            for key, received in due:
                self._held[key] = (received, now)
            outcomes = await asyncio.gather(
                *(received.in_progress() for _, received in due), return_exceptions=True
            )
            for outcome in outcomes:
                if isinstance(outcome, Exception) and out_of_reach(outcome):
                    self.keep_outage.failed(outcome)  # told once, not for each message
                elif isinstance(outcome, Exception):
                    logger.warning(
                        "the consumer of %s could not keep a message in progress (%s: %s); "
                        "another instance may get it once its ack wait has passed",
                        self.service,
                        type(outcome).__name__,
                        outcome,
                    )
            if outcomes and not any(isinstance(o, Exception) for o in outcomes):
                self.keep_outage.recovered()

    async def handle(self, received: Received) -> None:
        """Deliver one message to the bus and settle it: ack, retry or dead letter.

        While a dependency of its handlers is out of reach, it is kept in hand and run again
        once the dependency answers, without spending a delivery; stopping meanwhile leaves
        it unsettled, to be delivered again. Every record logged meanwhile, by its handlers
        too, carries the message's id, type and correlation id (:func:`log_context`).
        """
        envelope = received.envelope
        with log_context(
            message_id=envelope.id,
            message_type=envelope.type,
            correlation_id=str(envelope.headers.get("correlation_id") or envelope.id),
        ):
            if self.told is None and self.traced is None:
                await self._handle(received)
                return
            span = None if self.traced is None else self.traced(envelope, self.service)
            lag = lag_of(envelope)  # from its sealing to this delivery
            started = time.perf_counter()
            watched = _Watched(received)
            try:
                await self._handle(watched)
            finally:
                if self.told is not None:
                    took = time.perf_counter() - started
                    self.told(
                        envelope.type, self.service, received.attempt, watched.outcome, took, lag
                    )
                if span is not None:
                    span.set("atoll.message.outcome", watched.outcome)
                    if watched.outcome in _FAILED:
                        span.fail(watched.outcome)
                    span.end()

    async def _handle(self, received: Received) -> None:
        envelope = received.envelope
        try:
            if received.attempt > self.policy.deliveries:
                await self._past_limit(received)
                return
            only = self._redeliveries.only(envelope.id)
            while True:
                try:
                    opened = await self._opened(envelope, only)
                    took = await self.bus.deliver(opened, service=self.service, only=only)
                except DeliveryError as error:
                    if not (error.causes and all(map(out_of_reach, error.causes))):
                        self._got_past()
                        self._redeliveries.failed(envelope.id, error)
                        await self._failed_delivery(received, error)
                        return
                    only = error.failed or only  # those that succeeded are not run again
                    self._remember(envelope.id).unreached.update(map(dependency_of, error.causes))
                    if await self._sit_out(error):
                        continue
                    if error.failed:
                        self._redeliveries.failed(envelope.id, error)
                    return  # stopping: given back unsettled, with what the receiver holds
                except (msgspec.DecodeError, UnverifiedMessageError) as error:
                    await self._give_up(received, _unreadable(envelope, error))
                    return
                break
            self._got_past()
            if not took:
                await self._give_up(
                    received,
                    f"no handler of {envelope.type} in service {self.service}; deploy one, "
                    f"then redrive it: atoll dlq redrive {self.service}",
                )
                return
            await received.ack()
            self._met.pop(envelope.id, None)
            self.handled += 1
        except Exception as error:  # noqa: BLE001 - a settle the broker refused
            logger.warning(
                "the consumer of %s could not settle %s (message %s) (%s: %s); the broker "
                "delivers it again",
                self.service,
                envelope.type,
                envelope.id,
                type(error).__name__,
                error,
            )

    async def _opened(self, envelope: Envelope, only: tuple[str, ...] | None) -> Envelope:
        """``envelope`` as its handlers see it: its signature checked, or its signer unsaid.

        Raises:
            UnverifiedMessageError: its signature was refused.
            DeliveryError: its key cannot be fetched now (caused by an UnavailableError).
        """
        try:
            return await opened(envelope, self.verifier, forget_subject=self.forget_subjects)
        except UnavailableError as error:
            raise DeliveryError(str(error), failed=only or (), causes=(error,)) from error

    async def _sit_out(self, error: DeliveryError) -> bool:
        """Wait while a dependency is out of reach; False if stopping meanwhile.

        The first worker to meet the outage probes it: it waits with backoff and runs its
        message again, until the message gets past the dependency. The others wait for that.
        """
        me = asyncio.current_task()
        if self.outage.failed(error.causes[0]) or self._prober is None:
            self._prober, self._probes = me, 0
            self._back.clear()
        if self._prober is me:
            self._probes += 1
            pause = min(self.poll * 2 ** (self._probes - 1), _LONGEST_PROBE)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), pause)
        else:
            await self._back.wait()
        return not self._stopping.is_set()

    def _got_past(self) -> None:
        """A delivery got past the dependencies (its handlers ran): a paused consumer goes on."""
        prober = self._prober
        if prober is None:  # the hot path: no outage (or one whose prober a stop ended)
            if self.outage.active:
                self.outage.recovered()
            return
        if prober is asyncio.current_task():  # the others wait for what the prober finds
            self._prober = None
            self.outage.recovered()
            self._back.set()

    def _remember(self, envelope_id: str) -> _Met:
        met = self._met.get(envelope_id)
        if met is None:
            met = self._met[envelope_id] = _Met()
            if len(self._met) > _REMEMBERED:
                del self._met[next(iter(self._met))]
        return met

    async def _past_limit(self, received: Received) -> None:
        """A message delivered more often than allowed: acked if committed, or dead-lettered."""
        envelope = received.envelope
        consumers = tuple(self.bus.consumers(envelope, self.service))
        if consumers and self.committed is not None and await self.committed(envelope, consumers):
            await received.ack()
            self._met.pop(envelope.id, None)
            self.handled += 1
            logger.info(
                "%s (message %s) was delivered %d times, more than the %d allowed, and each of "
                "its handlers had committed it already: acknowledged",
                envelope.type,
                envelope.id,
                received.attempt,
                self.policy.deliveries,
            )
            return
        await self._give_up(
            received,
            f"more than the {self.policy.deliveries} allowed, and its consumers stopped while "
            "handling it (a crash, a kill, a timeout), so it is not run again",
        )

    async def _failed_delivery(self, received: Received, error: DeliveryError) -> None:
        envelope = received.envelope
        self._remember(envelope.id).failures += 1
        refused = bool(error.causes) and all(isinstance(c, REFUSALS) for c in error.causes)
        if received.attempt >= self.policy.deliveries or refused:  # a refusal stays one
            await self._give_up(received, str(error), counted=True)
            return
        delay = self.policy.delay(received.attempt)
        logger.warning(
            "%s (message %s): delivery %d of %d failed; trying again in %.1f s",
            envelope.type,
            envelope.id,
            received.attempt,
            self.policy.deliveries,
            delay,
        )
        await received.retry(delay)

    async def _give_up(self, received: Received, error: str, *, counted: bool = False) -> None:
        """Dead-letter ``received`` with ``error`` and what its deliveries met.

        ``counted``: this delivery's failure is among those remembered already.
        """
        envelope = received.envelope
        self._redeliveries.forget(envelope.id)
        met = self._deliveries_met(received, counted=counted)
        reason = f"{met}: {error}" if met else error
        await received.dead_letter(reason)
        self.dead += 1
        logger.error(
            "%s (message %s) is in the dead-letter queue of %s: %s; once fixed, redrive it "
            "with: atoll dlq redrive %s",
            envelope.type,
            envelope.id,
            self.service,
            reason,
            self.service,
        )

    def _deliveries_met(self, received: Received, *, counted: bool) -> str:
        """What the deliveries of a message met: ``delivered 5 time(s) (4 failure(s)...)``.

        Empty for a message given up on its first delivery, which met nothing else.
        """
        met = self._met.pop(received.envelope.id, None) or _Met()
        told = [f"{met.failures} failure(s) of its handlers"] if met.failures else []
        # The deliveries this instance did not see end: another instance's, or a consumer
        # stopped while handling it.
        elsewhere = received.attempt - met.failures - (0 if counted else 1)
        if elsewhere > 0:
            told.append(
                f"{elsewhere} that ended elsewhere (a consumer stopped while handling it: a "
                "crash, a kill, a timeout; or another instance's failure)"
            )
        told.extend(
            f"{count} {kind} failure(s) that did not count" for kind, count in met.unreached.items()
        )
        if not told and received.attempt == 1:
            return ""  # the error says it all
        what = f" ({', '.join(told)})" if told else ""
        return f"delivered {received.attempt} time(s){what}"

    def __repr__(self) -> str:
        return f"BrokerConsumer({self.service!r} on {self.broker.describe()})"


def _unreadable(envelope: Envelope, error: Exception) -> str:
    """Why a message no handler can take is dead-lettered."""
    if isinstance(error, UnverifiedMessageError):
        return f"its signature was refused: {error}"
    return f"cannot be read as {envelope.type}: {type(error).__name__}: {error}"
