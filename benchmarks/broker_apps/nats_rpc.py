"""The raw nats-py side of broker RPC: a responder that answers the sum of a JSON body.

No framework: a core NATS subscription in a queue group, whose callback decodes
``{"a": 1, "b": 2}`` and responds ``{"result": 3}`` (JSON both ways, as atoll's JSON-RPC
carries). ``bench_broker.py`` starts it in a process of its own::

    python benchmarks/broker_apps/nats_rpc.py SUBJECT NATS_URL

It prints ``ready`` once subscribed, and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import nats


async def serve(subject: str, url: str) -> None:
    nc = await nats.connect(url, name="bench-raw-responder")

    async def answer(msg: nats.aio.msg.Msg) -> None:
        call = json.loads(msg.data)
        await msg.respond(json.dumps({"result": call["a"] + call["b"]}).encode())

    await nc.subscribe(subject, queue="bench-raw", cb=answer)
    await nc.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await nc.drain()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
