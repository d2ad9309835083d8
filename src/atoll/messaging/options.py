"""The options of the broker a process's services talk through: ``--broker-url`` and the rest.

One ``broker`` section per process, shared by the services it runs (``--broker-url``, or
``--broker`` for short; ``<PREFIX>_BROKER_URL``; ``[broker]`` in the config file).
Whatever the URL, the outbox relays publish to the broker and each service consumes its own
messages from it, with the same retries, delivery limit and dead-letter queue. ``memory://``,
the default, is a broker in the process's memory, of this application's own: no other
process, nor another application in this one, reaches it, so it answers no broker RPC and
clients find no other service on it. Any other URL names a broker adapter (or
``memory://NAME``, one shared by name in the process), on which each service also answers
broker RPC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from atoll.kernel.options import masked_url, option
from atoll.messaging.broker import ADAPTERS, RetryPolicy

__all__ = ["LOCAL", "BrokerOptions"]

LOCAL = "memory://"
"""The broker URL of a broker in the process's memory, of the application's own."""


@dataclass(frozen=True)
class BrokerOptions:
    """The broker, and how its messages are retried, held and handled."""

    url: str = option(
        LOCAL,
        alias="--broker",
        help=(
            "the broker: nats://host:4222, amqp://user:password@host:5672/, "
            "redis://host:6379/0; memory:// keeps messages in this process's memory"
        ),
    )
    deliveries: int = option(
        5, help="deliveries of a message at the most; then it goes to the dead-letter queue"
    )
    retry_backoff: float = option(
        0.5, help="seconds before a failed message is delivered again; doubling each time"
    )
    retry_longest: float = option(60.0, help="seconds a retry waits at the most")
    ack_wait: float = option(
        30.0,
        help="seconds a message may be in hand before it is delivered to another instance",
    )
    prefetch: int = option(64, help="messages an instance holds unsettled at the most")
    concurrency: int = option(16, help="messages an instance handles at once at the most")
    rpc: bool = option(default=True, help="answer JSON-RPC calls that come over the broker")

    def __post_init__(self) -> None:
        for name in ("retry_backoff", "retry_longest", "ack_wait"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                msg = f"{name} must be a finite number of seconds, 0 or more; got {value}"
                raise ValueError(msg)
        if self.ack_wait == 0:
            msg = "ack_wait must be above 0 seconds, such as 30"
            raise ValueError(msg)
        if "://" not in self.url or self.url.partition(":")[0].lower() not in ADAPTERS:
            msg = (
                f"url {masked_url(self.url)!r} names no broker atoll has an adapter for; use "
                f"one of {', '.join(f'{s}://' for s in ADAPTERS)} (nats://127.0.0.1:4222, "
                "amqp://guest:guest@127.0.0.1:5672/, redis://127.0.0.1:6379/0, memory://)"
            )
            raise ValueError(msg)
        for name in ("deliveries", "prefetch", "concurrency"):
            if getattr(self, name) < 1:
                msg = f"{name} must be 1 or more; got {getattr(self, name)}"
                raise ValueError(msg)
        if self.retry_longest < self.retry_backoff:
            msg = (
                f"retry_longest ({self.retry_longest}) must be at least retry_backoff "
                f"({self.retry_backoff})"
            )
            raise ValueError(msg)

    @property
    def private(self) -> bool:
        """Whether the broker is the application's own (``memory://``), reached by no other."""
        return self.url == LOCAL

    def policy(self) -> RetryPolicy:
        """How failed messages are retried, from these options."""
        return RetryPolicy(
            deliveries=self.deliveries, backoff=self.retry_backoff, longest=self.retry_longest
        )
