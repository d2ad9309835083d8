"""The Redis adapter: the broker port on Redis Streams, and the registry port, through redis-py.

- :mod:`~atoll.adapters.redis.broker`: :class:`RedisBroker`, the connections, publishing,
  requests and dead letters (its docstring draws the keys);
- :mod:`~atoll.adapters.redis.delivery`: its receivers and what they deliver;
- :mod:`~atoll.adapters.redis.serving`: an instance answering a service's requests;
- :mod:`~atoll.adapters.redis.scripts`: the Lua scripts, each one atomic step on Redis;
- :mod:`~atoll.adapters.redis.layout`: what those share (entries, limits, names);
- :mod:`~atoll.adapters.redis.registry`: :class:`RedisRegistry`, the registry port on keys
  that expire.

The only package of atoll that imports redis-py.
"""

from atoll.adapters.redis.broker import RedisBroker

__all__ = ["RedisBroker"]
