"""nameko 2.14 broker RPC over RabbitMQ: the server, or the client that measures it.

nameko runs on eventlet, which must monkey-patch the process before anything else is
imported, so both sides run in processes of their own (``nameko run`` needs
``pkg_resources``, gone from this environment's setuptools: the server is nameko's own
``ServiceRunner``, which is what ``nameko run`` starts)::

    python benchmarks/broker_apps/nameko_rpc.py serve SERVICE_NAME AMQP_URI
    python benchmarks/broker_apps/nameko_rpc.py call SERVICE_NAME AMQP_URI

The server prints ``ready`` once it consumes, and stops on SIGTERM. The client connects a
``ClusterRpcProxy``, prints ``ready``, then reads commands from stdin, one a line:
``MODE SECONDS`` (``seq``: one call after the other; ``N``: N calls in flight, kept so by a
window of ``call_async`` futures, the oldest awaited before the next is sent), and answers each
with one line of JSON: ``{"calls": ..., "seconds": ..., "wrong": ...}``; ``wrong`` counts the
results that were not the sum.
"""

import eventlet

eventlet.monkey_patch()

import collections  # noqa: E402 - after the monkey-patching, as eventlet requires
import json  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

from nameko.rpc import rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

warnings.simplefilter("ignore")


def make_service(name: str) -> type:
    class Calc:
        @rpc
        def add(self, a: int, b: int) -> int:
            return a + b

    Calc.name = name
    return Calc


def serve(name: str, uri: str) -> None:
    runner = ServiceRunner({"AMQP_URI": uri, "max_workers": 100})
    runner.add_service(make_service(name))
    runner.start()
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    print("ready", flush=True)
    runner.wait()


def measure(add: object, mode: str, seconds: float) -> dict[str, float]:
    calls = wrong = 0
    start = time.perf_counter()
    deadline = start + seconds
    if mode == "seq":
        while time.perf_counter() < deadline:
            if add(a=calls, b=2) != calls + 2:
                wrong += 1
            calls += 1
    else:
        window: collections.deque = collections.deque()
        in_flight = int(mode)
        sent = 0
        while sent < in_flight:
            window.append((sent, add.call_async(a=sent, b=2)))
            sent += 1
        while window:
            n, future = window.popleft()
            if future.result() != n + 2:
                wrong += 1
            calls += 1
            if time.perf_counter() < deadline:
                window.append((sent, add.call_async(a=sent, b=2)))
                sent += 1
    return {"calls": calls, "seconds": time.perf_counter() - start, "wrong": wrong}


def call(name: str, uri: str) -> None:
    with ClusterRpcProxy({"AMQP_URI": uri}) as proxy:
        add = getattr(proxy, name).add
        for _ in range(50):  # the reply queue and the connection, before any measure
            add(a=1, b=2)
        print("ready", flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            mode, seconds = line.split()
            print(json.dumps(measure(add, mode, float(seconds))), flush=True)


if __name__ == "__main__":
    {"serve": serve, "call": call}[sys.argv[1]](sys.argv[2], sys.argv[3])
