"""The RabbitMQ adapter: the broker port on RabbitMQ (quorum queues, publisher confirms).

- :mod:`~atoll.adapters.rabbitmq.broker`: :class:`RabbitBroker`, the connection, the
  publishing, the declaring, retries' delay queues and dead letters;
- :mod:`~atoll.adapters.rabbitmq.delivery`: its receivers, what they deliver, and its servings.

The only package of atoll that imports aio-pika.
"""

from atoll.adapters.rabbitmq.broker import RabbitBroker

__all__ = ["RabbitBroker"]
