"""The atoll side of broker RPC: a service with ``add(a, b)``, served over a broker.

Run as ``atoll run`` runs a service, without its HTTP server: the composed app, started with
``--broker-url``, whose broker link answers the JSON-RPC calls that come over the broker with
the service's own engine. ``bench_broker.py`` starts it in a process of its own::

    python benchmarks/broker_apps/atoll_rpc.py SERVICE_NAME BROKER_URL

It prints ``ready`` once it serves, and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import atoll
from atoll.kernel.entrypoint import load_config, running
from atoll.service.composition import compose_target


def make_service(name: str) -> atoll.Service:
    service = atoll.Service(name)

    @service.rpc
    async def add(a: int, b: int) -> int:
        """The sum of two integers."""
        return a + b

    return service


async def serve(name: str, url: str) -> None:
    app = compose_target(make_service(name), serve=False)
    config = load_config(app, ["--broker-url", url], {})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running(app, config):
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
