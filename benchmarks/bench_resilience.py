"""What an open circuit breaker costs a refused call: the design's target is under 5 ms.

An open breaker refuses a call without sending it, with ``CircuitOpenError``. Measured in
this process: the mean time of a call through ``RemoteService`` whose breaker is open, beside
a call answered by a service in the same process (the floor of any call that is sent).

Run: ``.venv/bin/python benchmarks/bench_resilience.py [--calls 2000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

import atoll
from atoll.clients.protection import Protection
from atoll.errors import CircuitOpenError
from atoll.resilience import CircuitBreaker
from atoll.testing import run

TARGET = 0.005
"""Seconds an open breaker may take to refuse a call."""


async def measure(calls: int) -> tuple[float, float]:
    """Mean seconds of a call refused by an open breaker, and of one answered in the process."""
    service = atoll.Service("near")

    @service.rpc
    async def ping() -> str:
        return "pong"

    async with run(service) as near:
        breaker = CircuitBreaker("near", minimum_calls=1, open_for=3600)
        breaker.admit()
        breaker.failed()  # open from now on, for an hour
        guarded = atoll.RemoteService(
            near.rpc.transport, protection=Protection("near", 5.0, breaker=breaker)
        )
        started = time.perf_counter()
        for _ in range(calls):
            with contextlib.suppress(CircuitOpenError):
                await guarded.methods.ping()
        refused = (time.perf_counter() - started) / calls
        started = time.perf_counter()
        for _ in range(calls):
            await near.rpc.methods.ping()
        answered = (time.perf_counter() - started) / calls
    return refused, answered


def main() -> None:
    """Measure, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls of each kind")
    args = parser.parse_args()
    refused, answered = asyncio.run(measure(args.calls))
    verdict = "PASS" if refused < TARGET else "FAIL"
    print(f"\nMean of {args.calls} calls each:\n")
    print("| call | mean | target |")
    print("| --- | ---: | --- |")
    print(f"| refused by the open breaker | {refused * 1e6:.1f} us | < 5 ms: {verdict} |")
    print(f"| answered by a service in the process | {answered * 1e6:.1f} us | - |")


if __name__ == "__main__":
    main()
