"""The NATS adapter: the broker port on NATS JetStream, and RPC on core NATS.

- :mod:`~atoll.adapters.nats.broker`: :class:`NatsBroker`, the connection, the streams, the
  publishing and the dead letters;
- :mod:`~atoll.adapters.nats.delivery`: its receivers, what they deliver, and its servings.

The only package of atoll that imports nats-py.
"""

from atoll.adapters.nats.broker import NatsBroker

__all__ = ["NatsBroker"]
