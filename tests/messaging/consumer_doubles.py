"""What the consumer's tests share: a message, a bus bound to its handlers, a bounded wait."""

import asyncio
from dataclasses import dataclass

from atoll.kernel.registry import Registry
from atoll.messaging.bus import MessageBus
from atoll.messaging.handlers import Handler, HandlerKind


@dataclass(frozen=True)
class Shipped:
    order: int


def bound(*handlers):
    """A bus with ``handlers``, bound to a container of its own."""
    bus = MessageBus()
    for handler in handlers:
        bus.add(handler)
    registry = Registry()
    bus.register(registry)
    bus.bind(registry.build())
    return bus


def on(function, message=Shipped, kind=HandlerKind.EVENT, service="shop"):
    """``function`` as a handler of ``message`` in ``service``."""
    return Handler(function, kind, function.__name__, service, message)


async def until(condition, patience=10.0):
    """Return once ``condition()`` holds; fail after ``patience`` seconds."""
    for _ in range(int(patience / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")
