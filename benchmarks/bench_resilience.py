"""What the protections cost and keep: an open breaker's refusal, and load shedding.

1. An open circuit breaker refuses a call without sending it. The target: under 5 ms.
   Measured in this process: the mean time of a call through ``RemoteService`` whose breaker
   is open, beside a call answered by a service in the same process (the floor of a call).
2. Load shedding (``--server-max-in-flight``). ``atoll run busy_app:service`` (a route that
   waits on a dependency serving 8 calls at once, 20 ms each: 400 a second) is called by
   four times more callers than the dependency serves at once (each calling again as soon as
   it is answered, after 10 ms on a 503), for a few seconds, then by two: once without a
   bound, once with ``--server-max-in-flight 8``. For each: the accepted requests' median
   and 99th percentile latency under the overload, the share of answers that were 503, and
   the errors once the load dropped.
   Without a bound, every request queues behind all the others; with one, the excess is
   refused at once and the accepted keep their pace.

Figures are read, not asserted: the machine is shared.

Run: ``.venv/bin/python benchmarks/bench_resilience.py [--calls 2000] [--callers 32]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

import atoll
from atoll.clients.protection import Protection
from atoll.errors import CircuitOpenError
from atoll.resilience import CircuitBreaker
from atoll.testing import run
from bench_http import BenchError, Framework, Server

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


class Busy(Framework):
    """``atoll run busy_app:service``, with extra options."""

    extra: tuple[str, ...] = ()

    def command(self, port: int) -> list[str]:
        return [*super().command(port), *self.extra]


class Bounded(Busy):
    extra = ("--server-max-in-flight", "8")


async def callers(url: str, count: int, seconds: float) -> list[tuple[int, float]]:
    """``count`` callers, each calling again once answered, for ``seconds``: status, latency."""
    results: list[tuple[int, float]] = []
    ends = time.perf_counter() + seconds

    async def caller() -> None:
        async with httpx.AsyncClient(timeout=30.0) as client:
            while time.perf_counter() < ends:
                started = time.perf_counter()
                try:
                    status = (await client.get(url)).status_code
                except httpx.HTTPError:
                    status = 0
                results.append((status, time.perf_counter() - started))
                if status == 503:  # as a client honouring Retry-After would, in short
                    await asyncio.sleep(0.01)

    await asyncio.gather(*(caller() for _ in range(count)))
    return results


async def overload(port: int, count: int, seconds: float) -> dict[str, float]:
    """``count`` callers for ``seconds``, then two: what the server kept, shed and failed."""
    url = f"http://127.0.0.1:{port}/work"
    high = await callers(url, count, seconds)
    low = await callers(url, 2, seconds)
    accepted = sorted(latency for status, latency in high if status == 200)
    return {
        "served": len(accepted) / seconds,
        "p50": statistics.median(accepted) if accepted else float("nan"),
        "p99": accepted[max(int(len(accepted) * 0.99) - 1, 0)] if accepted else float("nan"),
        "shed": sum(status == 503 for status, _ in high) / max(len(high), 1),
        "errors": sum(status not in {200, 503} for status, _ in high),
        "after": sum(status != 200 for status, _ in low),
    }


def main() -> None:
    """Measure both, and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls of each kind")
    parser.add_argument("--callers", type=int, default=32, help="callers in the overload")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds of each load")
    args = parser.parse_args()
    refused, answered = asyncio.run(measure(args.calls))
    verdict = "PASS" if refused < TARGET else "FAIL"
    print(f"\nMean of {args.calls} calls each:\n")
    print("| call | mean | target |")
    print("| --- | ---: | --- |")
    print(f"| refused by the open breaker | {refused * 1e6:.1f} us | < 5 ms: {verdict} |")
    print(f"| answered by a service in the process | {answered * 1e6:.1f} us | - |")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for framework in (
            Busy("no bound", "busy_app", "atoll-run"),
            Bounded("--server-max-in-flight 8", "busy_app", "atoll-run"),
        ):
            server = Server(framework, Path(scratch))
            try:
                server.start()
                server.wait_ready()
                measured = asyncio.run(overload(server.port, args.callers, args.seconds))
            finally:
                server.stop()
            rows.append((framework.name, measured))
    print(
        f"\nGET /work (a dependency of 8 slots, 20 ms each) by {args.callers} callers for "
        f"{args.seconds:g} s, then by two:\n"
    )
    print("| server | served/s | accepted p50 | accepted p99 | shed | errors | errors after |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, row in rows:
        print(
            f"| {name} | {row['served']:.0f} | {row['p50'] * 1000:.0f} ms | "
            f"{row['p99'] * 1000:.0f} ms | {row['shed']:.0%} | {row['errors']:.0f} | "
            f"{row['after']:.0f} |"
        )


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        print(f"bench_resilience: {error}", file=sys.stderr)
        sys.exit(1)
