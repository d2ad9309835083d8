"""What a rate limit costs a request, and how exactly it counts.

1. **Cost.** One service answers ``GET /runs/7`` two ways: a handler without a limit, and
   the same handler with ``limit=atoll.limit("1000000/second", per="ip")`` (room for every
   request, so that each is counted and served), the counts in the process's memory
   (``moving-window``, the default, and ``fixed-window``). Measured twice: through the
   service's ASGI app in this process (no server, no socket: the app's work alone, the
   harshest ratio), and over real HTTP (``atoll run`` with uvicorn pinned to one core, wrk
   to the other, as ``bench_http.py`` does; skipped without wrk). The target, over HTTP: a
   limited route keeps at least 85% of the throughput of the same route without one.
2. **Accuracy.** A client calls a route limited to 10 calls a second at 30 a second for
   ``--seconds`` seconds, while a second client calls at 5 a second: the first should get
   10 a second (within 10%), the second every call. Paced on the wall clock, so a busy
   machine sends less than asked: the figures printed say what was sent.

On a shared machine the HTTP figures move by a third from one run to the next (steal time
from the host), so the cost over HTTP is also counted in CPU instructions per request, as
``bench_http_instructions.py`` counts them: the server (``atoll run``) under valgrind's
callgrind, each route sent N times in turn over one keep-alive connection, the server's idle
work taken out. The count does not depend on what else the machine does, and the plain
route's count over the limited route's predicts the share of throughput the limit keeps
(skipped without valgrind, or with ``--no-instructions``).

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_limits.py [--rounds N]
[--requests N] [--seconds N] [--no-instructions]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import atoll
import atoll.testing
from bench_auth import Answer, receive  # the same ASGI doubles: a request without a body

TARGET = 0.85
STRATEGIES = ("moving-window", "fixed-window", "sliding-window-counter")
APPS = Path(__file__).parent / "http_apps"
SRC = Path(__file__).parents[1] / "src"


def service() -> atoll.Service:
    runs = atoll.Service("runs")

    @runs.get("/runs/{run_id}")
    async def plain(run_id: int) -> dict[str, int]:
        return {"run_id": run_id}

    @runs.get("/limited/{run_id}", limit=atoll.limit("1000000/second", per="ip"))
    async def limited(run_id: int) -> dict[str, int]:
        return {"run_id": run_id}

    @runs.get("/paced", limit=atoll.limit("10/second", per="ip"))
    async def paced() -> str:
        return "ok"

    return runs


def scope(path: str, client: str = "127.0.0.1") -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
            "query_string": b"", "headers": [(b"host", b"bench")], "http_version": "1.1",
            "scheme": "http", "client": (client, 5000), "server": ("bench", 80),
            "root_path": ""}  # fmt: skip


async def measure(app: Any, path: str, requests: int) -> float:
    """Requests per second of ``path``, each answered 200."""
    answer = Answer()
    one = scope(path)
    gc.collect()
    started = time.perf_counter()
    for _ in range(requests):
        await app(one, receive, answer)
    elapsed = time.perf_counter() - started
    if answer.status != 200:
        raise SystemExit(f"{path} answered {answer.status}: the benchmark is broken")
    return requests / elapsed


async def cost(rounds: int, requests: int) -> None:
    print(f"Requests per second through the service's ASGI app, best of {rounds} rounds of "
          f"{requests} (the contenders interleaved):\n")  # fmt: skip
    print("| storage, strategy | no limit | limited | limited / no limit | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    for strategy in STRATEGIES:
        argv = ["--limits-strategy", strategy]
        async with atoll.testing.run(service(), argv=argv) as harness:
            app = harness.http.entry
            best = {"plain": 0.0, "limited": 0.0}
            for _ in range(rounds):
                best["plain"] = max(best["plain"], await measure(app, "/runs/7", requests))
                best["limited"] = max(best["limited"], await measure(app, "/limited/7", requests))
        ratio = best["limited"] / best["plain"]
        verdict = "PASS" if ratio >= TARGET else "FAIL"
        print(f"| memory, {strategy} | {best['plain']:,.0f} | {best['limited']:,.0f} | "
              f"{ratio:.2f} | >= {TARGET:.2f}: {verdict} |")  # fmt: skip


async def accuracy(seconds: float) -> None:
    async with atoll.testing.run(service()) as harness:
        app = harness.http.entry
        served = {"fast": 0, "slow": 0}
        sent = {"fast": 0, "slow": 0}

        async def client(name: str, address: str, rate: float) -> None:
            answer = Answer()
            start = time.monotonic()
            while (now := time.monotonic() - start) < seconds:
                await app(scope("/paced", address), receive, answer)
                sent[name] += 1
                served[name] += answer.status == 200
                await asyncio.sleep(max(0.0, sent[name] / rate - now))

        await asyncio.gather(client("fast", "10.0.0.1", 30.0), client("slow", "10.0.0.2", 5.0))
    print(f"\nA route limited to 10/second, {seconds:g} s, two clients:\n")
    print("| client | asked | sent per s | served per s | expected per s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, asked, expected in (("fast", 30, 10.0), ("slow", 5, 5.0)):
        rate, got = sent[name] / seconds, served[name] / seconds
        print(f"| {name} | {asked}/s | {rate:.1f} | {got:.1f} | {min(expected, rate):.1f} |")


def http_cost(rounds: int, seconds: int, strategy: str) -> None:
    """Requests per second over real HTTP: ``atoll run`` on core 0, wrk on core 1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        "taskset", "-c", "0", sys.executable, "-m", "atoll", "run", "limited_app:service",
        "--server-port", str(port), "--log-level", "warning", "--limits-strategy", strategy,
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": f"{APPS}{os.pathsep}{SRC}"}
    server = subprocess.Popen(command, cwd=APPS, env=environment)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.1)
        best = dict.fromkeys(("/runs/7", "/limited/7"), 0.0)
        for _ in range(rounds):
            for path, rate in best.items():
                best[path] = max(rate, _wrk(port, path, seconds))
    finally:
        server.terminate()
        server.wait(timeout=30)
    ratio = best["/limited/7"] / best["/runs/7"]
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    print(f"| memory, {strategy} | {best['/runs/7']:,.0f} | {best['/limited/7']:,.0f} | "
          f"{ratio:.2f} | >= {TARGET:.2f}: {verdict} |")  # fmt: skip


def _wrk(port: int, path: str, seconds: int) -> float:
    command = ["taskset", "-c", "1", "wrk", "-t1", "-c64", f"-d{seconds}s"]
    done = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    )
    if "Non-2xx" in done.stdout:
        raise SystemExit(f"{path} answered other than 200: the benchmark is broken")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if rate is None:
        raise SystemExit(f"wrk printed no rate:\n{done.stdout}")
    return float(rate.group(1))


def instructions_cost(requests: int, strategy: str) -> None:
    """Instructions per request of each route over HTTP, the server under callgrind."""
    import tempfile  # noqa: PLC0415 - this mode alone

    import bench_http_instructions as counting  # noqa: PLC0415 - as above
    from bench_http import Framework, Scenario  # noqa: PLC0415 - as above

    class LimitedApp(Framework):
        def command(self, port: int) -> list[str]:
            return [*super().command(port), "--limits-strategy", strategy]

    routes = {
        path: Scenario(path, f"GET {path}", "GET", path, None, 200, {"run_id": 7}, TARGET)
        for path in ("/runs/7", "/limited/7")
    }
    per_request: dict[str, list[float]] = {path: [] for path in routes}
    with tempfile.TemporaryDirectory() as scratch:
        framework = LimitedApp("atoll", "limited_app", "atoll-run", scenarios=tuple(routes))
        with counting.running(framework, Path(scratch)) as server:
            for scenario in routes.values():
                counting.send(server, scenario, counting.WARMUP_REQUESTS)
            idle = counting.counted(server, lambda: time.sleep(counting.IDLE_SECONDS))
            rate = idle.instructions / idle.seconds
            for _ in range(2):
                for path, scenario in routes.items():
                    load = functools.partial(counting.send, server, scenario, requests)
                    count = counting.counted(server, load)
                    per_request[path].append((count.instructions - rate * count.seconds) / requests)
    plain, limited = (sum(counts) / len(counts) for counts in per_request.values())
    ratio = plain / limited
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    print(f"| memory, {strategy} | {plain / 1000:,.1f}k | {limited / 1000:,.1f}k | "
          f"{ratio:.2f} | >= {TARGET:.2f}: {verdict} |")  # fmt: skip


async def run(rounds: int, requests: int, seconds: float, *, instructions: bool = True) -> None:
    await cost(rounds, requests)
    if instructions and shutil.which("valgrind") is not None:
        print("\nOver HTTP in CPU instructions per request (atoll run, uvicorn, under "
              "callgrind; mean of 2 rounds of 1000 sequential keep-alive requests); the "
              "ratio is no limit's count over limited's:\n")  # fmt: skip
        print("| storage, strategy | no limit | limited | predicted limited / no limit | target |")
        print("| --- | ---: | ---: | ---: | --- |")
        for strategy in STRATEGIES:
            instructions_cost(1000, strategy)
    if shutil.which("wrk") is None:
        print("\nOver HTTP: skipped, wrk is not installed (apt-get install -y wrk)")
    else:
        print("\nOver HTTP (atoll run, uvicorn, on core 0; wrk -t1 -c64 on core 1), best of "
              "3 rounds of 5 s:\n")  # fmt: skip
        print("| storage, strategy | no limit | limited | limited / no limit | target |")
        print("| --- | ---: | ---: | ---: | --- |")
        for strategy in STRATEGIES:
            http_cost(3, 5, strategy)
    await accuracy(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--no-instructions", dest="instructions", action="store_false",
        help="skip the count of instructions under callgrind",
    )  # fmt: skip
    args = parser.parse_args()
    asyncio.run(run(args.rounds, args.requests, args.seconds, instructions=args.instructions))


if __name__ == "__main__":
    main()
