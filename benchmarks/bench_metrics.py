"""What metrics cost a request: GET with ``--metrics`` against without, and the library's way.

The design's target: with ``--metrics``, ``GET /items/42`` keeps at least 90% of the
throughput of the same server without metrics. Three servers, each ``atoll run``
(``http_apps/``, uvicorn, ``--log-level warning``):

- off: ``atoll run atoll_app:service``;
- on: the same with ``--metrics`` (atoll's own counting, ``/metrics`` on the same port);
- prometheus_client: ``atoll run atoll_prometheus_app:service --metrics``, the same service
  whose requests are counted by prometheus_client's ``Histogram.labels(...).observe()``
  instead, on the very same path: the cost atoll's own counting avoids.

Measured as ``bench_http_instructions.py`` measures (see its docstring): the server's CPU
instructions per request under valgrind's callgrind, N sequential keep-alive requests per
count, the server's idle work taken out; off's count over on's predicts on's share of off's
throughput on one core. A POST and a JSON-RPC call are counted too, for the record; the
target is GET's.

Run: ``.venv/bin/python benchmarks/bench_metrics.py [--requests 1000] [--rounds 2]``. Needs
valgrind; takes about a minute and a half.
"""

from __future__ import annotations

from bench_access import counts
from bench_http import SCENARIOS, Framework

TARGET = 0.90
"""GET with metrics on keeps at least this share of GET without them."""


class Off(Framework):
    """``atoll run atoll_app:service``."""


class On(Framework):
    """The same, with ``--metrics``."""

    def command(self, port: int) -> list[str]:
        return [*super().command(port), "--metrics"]


def main() -> None:
    """Count the three servers and print the table."""
    args, (off, on, library) = counts(
        "bench_metrics",
        __doc__,
        Off("atoll", "atoll_app", "atoll-run"),
        On("atoll-metrics", "atoll_app", "atoll-run"),
        On("atoll-prometheus", "atoll_prometheus_app", "atoll-run"),
    )
    print(
        f"\nInstructions per request (thousands, callgrind Ir, mean of {args.rounds} rounds of "
        f"{args.requests} sequential keep-alive requests), atoll run:\n"
    )
    print(
        "| scenario | metrics off | on (atoll's counting) | off / on | target "
        "| on (prometheus_client's Histogram) | off / that |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: |")
    for scenario in SCENARIOS:
        key = scenario.key
        ratio = off[key] / on[key]
        target = "-"
        if key == "get":
            target = f">= {TARGET:.2f}: {'PASS' if ratio >= TARGET else 'FAIL'}"
        print(
            f"| {scenario.title} | {off[key] / 1000:,.1f}k | {on[key] / 1000:,.1f}k | "
            f"{ratio:.2f} | {target} | {library[key] / 1000:,.1f}k | "
            f"{off[key] / library[key]:.2f} |"
        )


if __name__ == "__main__":
    main()
