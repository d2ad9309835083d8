"""What traces cost a request: GET, POST and JSON-RPC with ``--traces`` against without.

Two servers, each ``atoll run`` (``http_apps/``, uvicorn, ``--log-level warning``):

- off: ``atoll run atoll_app:service``;
- on: the same with ``--traces --traces-exporter none``: every span made, by the
  OpenTelemetry SDK, and dropped as it ends. An exporter's work (encoding, sending) runs in a
  thread of the SDK's, apart from the request, and is not counted here.

Measured as ``bench_http_instructions.py`` measures (see its docstring): the server's CPU
instructions per request under valgrind's callgrind, N sequential keep-alive requests per
count, the server's idle work taken out; off's count over on's predicts on's share of off's
throughput on one core.

Run: ``.venv/bin/python benchmarks/bench_traces.py [--requests 1000] [--rounds 2]``. Needs
valgrind and ``atoll[otel]``; takes about a minute.
"""

from __future__ import annotations

from bench_access import counts
from bench_http import SCENARIOS, Framework


class Off(Framework):
    """``atoll run atoll_app:service``."""


class On(Framework):
    """The same, with ``--traces``: spans made, and dropped."""

    def command(self, port: int) -> list[str]:
        return [*super().command(port), "--traces", "--traces-exporter", "none"]


def main() -> None:
    """Count both servers and print the table."""
    args, (off, on) = counts(
        "bench_traces",
        __doc__,
        Off("atoll", "atoll_app", "atoll-run"),
        On("atoll-traces", "atoll_app", "atoll-run"),
    )
    print(
        f"\nInstructions per request (thousands, callgrind Ir, mean of {args.rounds} rounds of "
        f"{args.requests} sequential keep-alive requests), atoll run:\n"
    )
    print("| scenario | traces off | on | off / on |")
    print("| --- | ---: | ---: | ---: |")
    for scenario in SCENARIOS:
        key = scenario.key
        print(
            f"| {scenario.title} | {off[key] / 1000:,.1f}k | {on[key] / 1000:,.1f}k | "
            f"{off[key] / on[key]:.2f} |"
        )


if __name__ == "__main__":
    main()
