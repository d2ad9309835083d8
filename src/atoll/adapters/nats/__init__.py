"""The NATS adapter: the broker port on NATS JetStream, RPC on core NATS, the registry on KV.

- :mod:`~atoll.adapters.nats.broker`: :class:`NatsBroker`, the connection, the streams, the
  publishing and the dead letters;
- :mod:`~atoll.adapters.nats.delivery`: its receivers, what they deliver, and its servings;
- :mod:`~atoll.adapters.nats.registry`: :class:`~atoll.adapters.nats.registry.NatsRegistry`,
  the registry port on a JetStream key-value bucket.

The only package of atoll that imports nats-py.
"""

from atoll.adapters.nats.broker import NatsBroker

__all__ = ["NatsBroker"]
