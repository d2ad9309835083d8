"""What the access log costs a request: GET with access lines on (JSON, to a file) against off.

The design's target: with ``--log-access all --log-format json``, the server writing its log to
a file, ``GET /items/42`` keeps at least 85% of the throughput of the same server without
access lines. Both are the same ``atoll run atoll_app:service`` (``http_apps/atoll_app.py``,
uvicorn) at ``--log-level info``; ``bench_http_instructions.py`` starts each with its output
going to a file, so the lines are written as in production, to a file, by the real handler.

Measured as ``bench_http_instructions.py`` measures (see its docstring): the server's CPU
instructions per request under valgrind's callgrind, N sequential keep-alive requests per
count, the server's idle work taken out; off's count over on's predicts on's share of off's
throughput on one core. A POST and a JSON-RPC call are counted too (with ``rpc``, a JSON-RPC
call writes two lines: the request's and the call's), for the record; the target is GET's.

Run: ``.venv/bin/python benchmarks/bench_access.py [--requests 1000] [--rounds 2]``. Needs
valgrind; takes about a minute.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bench_http_instructions as counting
from bench_http import SCENARIOS, Framework

TARGET = 0.85
"""GET with access lines on keeps at least this share of GET without them."""


class AtollAt(Framework):
    """``atoll run atoll_app:service`` at ``--log-level info``, with extra options."""

    extra: tuple[str, ...] = ()

    def command(self, port: int) -> list[str]:
        line = super().command(port)
        line[line.index("--log-level") + 1] = "info"  # access lines are at INFO
        return [*line, *self.extra]


class Off(AtollAt):
    extra = ("--log-format", "json")


class On(AtollAt):
    extra = ("--log-format", "json", "--log-access", "all")


def count(framework: Framework, requests: int, rounds: int) -> dict[str, float]:
    """Instructions per request of each scenario, the mean of ``rounds`` counts."""
    per_request: dict[str, list[float]] = {s.key: [] for s in SCENARIOS}
    with (
        tempfile.TemporaryDirectory() as scratch,
        counting.running(framework, Path(scratch)) as server,
    ):
        for scenario in SCENARIOS:
            counting.verify(server, scenario)
            counting.send(server, scenario, counting.WARMUP_REQUESTS)
        idle = counting.counted(server, lambda: time.sleep(counting.IDLE_SECONDS))
        rate = idle.instructions / idle.seconds
        for _ in range(rounds):
            for scenario in SCENARIOS:
                load = functools.partial(counting.send, server, scenario, requests)
                measured = counting.counted(server, load)
                spent = measured.instructions - rate * measured.seconds
                per_request[scenario.key].append(spent / requests)
    return {key: statistics.mean(values) for key, values in per_request.items()}


def counts(script: str, doc: str, *servers: Framework) -> tuple[argparse.Namespace, list]:
    """The command line of ``script``, and each server's counts (a mean per scenario).

    A missing tool or a server that does not answer ends the script, naming what to fix.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    try:
        counting.check_tools()
        return args, [count(server, args.requests, args.rounds) for server in servers]
    except counting.BenchError as error:
        print(f"{script}: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def main() -> None:
    """Count both servers and print the table."""
    args, (off, on) = counts(
        "bench_access",
        __doc__,
        Off("atoll", "atoll_app", "atoll-run"),
        On("atoll-access", "atoll_app", "atoll-run"),
    )
    print(
        f"\nInstructions per request (thousands, callgrind Ir, mean of {args.rounds} rounds of "
        f"{args.requests} sequential keep-alive requests), atoll run, JSON log to a file:\n"
    )
    print("| scenario | access lines off | on | off / on | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    for scenario in SCENARIOS:
        ratio = off[scenario.key] / on[scenario.key]
        target = "-"
        if scenario.key == "get":
            target = f">= {TARGET:.2f}: {'PASS' if ratio >= TARGET else 'FAIL'}"
        print(
            f"| {scenario.title} | {off[scenario.key] / 1000:,.1f}k | "
            f"{on[scenario.key] / 1000:,.1f}k | {ratio:.2f} | {target} |"
        )


if __name__ == "__main__":
    main()
