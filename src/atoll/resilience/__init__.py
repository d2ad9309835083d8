"""What protects every outbound call: deadlines, retries, breakers, bulkheads, shedding.

Each protection is a pure policy that needs only the standard library and atoll's errors; its
clock, sleep and randomness are arguments, so that tests never wait:

- :mod:`atoll.resilience.deadlines`: the time a call may take, carried to every service it
  reaches, which refuse and cancel its work once it has passed.
- :class:`Retry` and :func:`retried`: try a call again after an error that may pass, with
  exponential backoff and full jitter, within a deadline.
- :class:`CircuitBreaker`: refuse the calls to a remote service while too many of them fail.
- :class:`Bulkhead`: bound the calls in flight to a remote service.

To hold also the service registry port, with client-side load balancing. The clients use it;
it may import the kernel, messaging, security and observability, never a transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atoll._lazy import lazy_names

if TYPE_CHECKING:
    from atoll.resilience.breaker import CircuitBreaker
    from atoll.resilience.bulkhead import Bulkhead
    from atoll.resilience.retries import Retry, retried

__all__ = ["Bulkhead", "CircuitBreaker", "Retry", "retried"]

# Loaded on first use: the services import the deadlines at `import atoll`, which must not
# load asyncio.
_LAZY = {
    "Bulkhead": "atoll.resilience.bulkhead",
    "CircuitBreaker": "atoll.resilience.breaker",
    "Retry": "atoll.resilience.retries",
    "retried": "atoll.resilience.retries",
}

__getattr__, __dir__ = lazy_names("atoll.resilience", __all__, _LAZY, globals())
