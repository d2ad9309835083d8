"""A service of RPC methods alone, that tests/service/test_broker_link.py runs as a worker.

``atoll run doubler_service:service --no-server --broker-url nats://...`` answers its methods
over the broker, with no HTTP app built and no port opened.
"""

from __future__ import annotations

import atoll

service = atoll.Service("doubler", version="1.0")


@service.rpc
async def double(number: int) -> int:
    """Twice ``number``."""
    return 2 * number
