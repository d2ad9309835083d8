"""GraphQL throughput: atoll's GraphQL against ariadne and strawberry, and atoll's REST, in one run.

One request, the same for every contender: a user and their last 10 runs. The GraphQL
contenders are POSTed, as JSON, the query::

    query($id: Int!) { user(id: $id) { id name email runs(last: 10) { id meters seconds day } } }

with the variables ``{"id": 42}``, and answer ``{"data": {"user": {...}}}``; atoll's REST
route ``GET /users/42/summary`` answers the same user object alone. The apps are in
``benchmarks/graphql_apps/``, one small file per contender, each serving the same data
(``data.py``: 100 users with 50 runs each, built the same way at import, in memory):

- ``atoll-graphql``: ``atoll_graphql_app.py``, a ``service`` (``atoll.Service``) with the query
  on its GraphQL transport at ``POST /graphql``, run by ``atoll run atoll_graphql_app:service``.
  Skipped, with a note, while that module does not exist;
- ``atoll-rest``: ``atoll_rest_app.py``, ``@service.get("/users/{user_id}/summary")``, run by
  ``atoll run atoll_rest_app:service``: what the same answer costs atoll without GraphQL;
- ``ariadne``: ``ariadne_app.py``, schema first (SDL), ``ariadne.asgi.GraphQL`` on Starlette;
- ``strawberry``: ``strawberry_app.py``, code first, ``strawberry.fastapi.GraphQLRouter`` on
  FastAPI.

The method is ``bench_http.py``'s, and so are its command lines and most of its code: the
peers under ``uvicorn --workers 1 --loop uvloop --http httptools --no-access-log --log-level
warning``, atoll's entries under ``atoll run ... --log-level warning`` (uvicorn); every server
pinned to core 0 (``taskset -c 0``) and ``wrk -t1 -c64`` to core 1, the POST body from a small
Lua script. Before any load each answer is checked (status, content type, the decoded JSON
against the data, computed here from ``data.py``): a contender that answers other data stops
the run. Each server is warmed up, then the rounds interleave the contenders, one load each in
turn, so that a noisy moment hurts all alike; a load with any non-2xx answer is discarded with
a warning. The table gives the median requests per second of the rounds with the median p50
and p99 latency, then the ratios: atoll-graphql over each GraphQL peer (the target: above 1,
faster than both), ariadne over strawberry (the choice between the libraries, printed without
atoll too) and each GraphQL contender over atoll-rest.

With ``--instructions``, each contender's server is then also run alone under valgrind's
callgrind and its CPU instructions per request counted, as ``bench_http_instructions.py``
counts them (see its docstring): a figure that the machine's noise does not move.

Run: ``.venv/bin/python benchmarks/bench_graphql.py [--rounds 3] [--duration 5] [--warmup 2]
[--only atoll-rest,ariadne,strawberry] [--instructions [--requests 300]]``. Needs ``wrk``
(``apt-get install -y wrk``), ``taskset`` and two cores; ``--instructions`` needs valgrind.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bench_http_instructions as counting
from bench_http import (
    CONNECTIONS,
    LOAD_CORE,
    SERVER_CORE,
    BenchError,
    Framework,
    Load,
    Scenario,
    Server,
    check_tools,
    lua_script,
    measure,
    median_rate,
    stop_on_sigterm,
    verify,
)
from graphql_apps import data

if TYPE_CHECKING:
    from collections.abc import Iterator

APPS = Path(__file__).resolve().parent / "graphql_apps"
USER_ID = 42
LAST_RUNS = 10
QUERY = (
    "query($id: Int!) { user(id: $id) { id name email runs(last: 10) { id meters seconds day } } }"
)
TARGET = 1.0
"""atoll-graphql's requests per second over each GraphQL peer's: faster than both."""
COUNT_ROUNDS = 2


def expected_user() -> dict[str, Any]:
    """The user object every contender must answer, read from ``data.py`` directly."""
    user = data.USERS[USER_ID]
    runs = sorted(data.RUNS[USER_ID], key=lambda run: run.day, reverse=True)[:LAST_RUNS]
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "runs": [
            {"id": run.id, "meters": run.meters, "seconds": run.seconds, "day": run.day}
            for run in runs
        ],
    }


GRAPHQL = Scenario(
    key="graphql",
    title="POST /graphql: a user and their last 10 runs",
    method="POST",
    path="/graphql",
    body=json.dumps({"query": QUERY, "variables": {"id": USER_ID}}).encode(),
    status=200,
    answer={"data": {"user": expected_user()}},
    target=TARGET,
)
REST = Scenario(
    key="rest",
    title=f"GET /users/{USER_ID}/summary: the same user and runs",
    method="GET",
    path=f"/users/{USER_ID}/summary",
    body=None,
    status=200,
    answer=expected_user(),
    target=0.0,  # no target: the REST route is the reference, not a contender to beat
)
SCENARIOS = {scenario.key: scenario for scenario in (GRAPHQL, REST)}

CONTENDERS = (
    Framework("atoll-graphql", "atoll_graphql_app", "atoll-run", ("graphql",)),
    Framework("atoll-rest", "atoll_rest_app", "atoll-run", ("rest",)),
    Framework("ariadne", "ariadne_app", scenarios=("graphql",)),
    Framework("strawberry", "strawberry_app", scenarios=("graphql",)),
)
"""Each contender serves one scenario; adding one is adding a line here and its app module."""
RATIOS = (
    ("atoll-graphql", "ariadne", "target > 1: faster than ariadne"),
    ("atoll-graphql", "strawberry", "target > 1: faster than strawberry"),
    ("ariadne", "strawberry", "the choice between the two libraries"),
    ("atoll-graphql", "atoll-rest", "what GraphQL costs atoll over REST"),
    ("ariadne", "atoll-rest", ""),
    ("strawberry", "atoll-rest", ""),
)


def scenario_of(contender: Framework) -> Scenario:
    """The one scenario a contender serves."""
    (key,) = contender.scenarios
    return SCENARIOS[key]


class GraphQLServer(Server):
    """A contender's server, run from ``graphql_apps``."""

    apps = APPS


class GraphQLCallgrindServer(counting.CallgrindServer):
    """A contender's server under callgrind, run from ``graphql_apps``."""

    apps = APPS


@contextlib.contextmanager
def running(contenders: list[Framework], log_dir: Path) -> Iterator[list[Server]]:
    """Start every server, wait for all of them, and stop them all on the way out."""
    servers: list[Server] = [GraphQLServer(contender, log_dir) for contender in contenders]
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


def measure_rounds(
    servers: list[Server], scratch: Path, args: argparse.Namespace
) -> dict[str, list[Load]]:
    """Check, warm up, then load every server ``args.rounds`` times, interleaved."""
    scripts = {key: lua_script(scenario, scratch) for key, scenario in SCENARIOS.items()}
    for server in servers:
        verify(server, scenario_of(server.framework))
    print(f"all answers checked; warming up ({args.warmup} s per server)")
    for server in servers:
        scenario = scenario_of(server.framework)
        measure(server, scenario, scripts[scenario.key], args.warmup)
    results: dict[str, list[Load]] = {}
    for round_number in range(1, args.rounds + 1):
        # one load per contender, in turn, so that noise is shared alike
        line: list[str] = []
        for server in servers:
            scenario = scenario_of(server.framework)
            result = measure(server, scenario, scripts[scenario.key], args.duration)
            if result is not None:
                results.setdefault(server.framework.name, []).append(result)
            line.append(f"{server.framework.name} {result.rate if result else 0:,.0f}")
        print(f"round {round_number}/{args.rounds}: {', '.join(line)}")
    return results


def count_instructions(contender: Framework, scratch: Path, requests: int) -> list[float]:
    """The contender's instructions per request under callgrind, one count per round."""
    scenario = scenario_of(contender)
    server = GraphQLCallgrindServer(contender, scratch)
    try:
        server.start()
        server.wait_ready()
        verify(server, scenario)
        counting.send(server, scenario, counting.WARMUP_REQUESTS)
        idle = counting.counted(server, functools.partial(time.sleep, counting.IDLE_SECONDS))
        measured = counting.Measured(idle.instructions / idle.seconds, {scenario.key: []})
        for _ in range(COUNT_ROUNDS):
            count = counting.counted(
                server, functools.partial(counting.send, server, scenario, requests)
            )
            measured.counts[scenario.key].append(count)
        per_request = measured.rounds(scenario, requests) or []
    finally:
        server.stop()
    shown = ", ".join(f"{value / 1000:,.1f}k" for value in per_request)
    print(f"{contender.name}: {shown} instructions per request")
    return per_request


def print_rates(results: dict[str, list[Load]], names: list[str], args: argparse.Namespace) -> None:
    """The markdown table of rates and latencies, then the ratios."""
    print()
    print(
        f"Requests/s, median of {args.rounds} interleaved rounds of {args.duration} s (servers "
        f"on core {SERVER_CORE}, `wrk -t1 -c{CONNECTIONS}` on core {LOAD_CORE}), Python "
        f"{sys.version.split()[0]}:"
    )
    print()
    print("| contender | request | req/s | p50 ms | p99 ms |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name in names:
        loads = results.get(name, [])
        contender = next(c for c in CONTENDERS if c.name == name)
        title = scenario_of(contender).title.split(":")[0]
        if not loads:
            print(f"| {name} | {title} | - | - | - |")
            continue
        p50 = statistics.median(load.p50 for load in loads)
        p99 = statistics.median(load.p99 for load in loads)
        print(f"| {name} | {title} | {median_rate(loads):,.0f} | {p50:.2f} | {p99:.2f} |")
    rates = {name: median_rate(loads) for name, loads in results.items() if loads}
    print_ratios("Ratios of requests per second", rates)


def print_ratios(title: str, speeds: dict[str, float]) -> None:
    """Each ratio of ``RATIOS`` whose two sides were measured (higher is faster)."""
    print()
    print(f"{title}:")
    print()
    for name, base, meaning in RATIOS:
        missing = [side for side in (name, base) if side not in speeds]
        if missing and not meaning:
            continue
        if missing:
            shown = f"n/a ({' and '.join(missing)} not measured)"
        else:
            shown = f"{speeds[name] / speeds[base]:.2f}x"
            if meaning.startswith("target"):
                shown += " PASS" if speeds[name] / speeds[base] > TARGET else " MISS"
        print(f"- {name} / {base}: {shown}" + (f" ({meaning})" if meaning else ""))


def print_instructions(counts: dict[str, list[float]], requests: int) -> None:
    """The table of instructions per request and the ratios they predict."""
    print()
    print(
        f"Instructions per request (thousands, callgrind Ir, mean of {COUNT_ROUNDS} rounds of "
        f"{requests} sequential keep-alive requests; the server's idle work taken out):"
    )
    print()
    print("| contender | k instructions/request | spread between rounds |")
    print("| --- | ---: | ---: |")
    for name, values in counts.items():
        spread = (max(values) - min(values)) / min(values)
        print(f"| {name} | {statistics.mean(values) / 1000:,.1f} | {spread:.2%} |")
    # fewer instructions per request serve more requests: the predicted rate is the inverse
    speeds = {name: 1 / statistics.mean(values) for name, values in counts.items()}
    print_ratios("Ratios predicted by the counts (the inverse ratio of instructions)", speeds)


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per load (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds (default 2)")
    names = ",".join(contender.name for contender in CONTENDERS)
    parser.add_argument(
        "--only", default=names, help=f"comma-separated contenders to measure (default {names})"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count CPU instructions per request under callgrind (needs valgrind)",
    )
    parser.add_argument(
        "--requests", type=int, default=300, help="requests per callgrind count (default 300)"
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.requests < 1:
        parser.error("--rounds and --requests must be at least 1")
    return args


def choose(only: str) -> list[Framework]:
    """The contenders named by ``--only`` whose app module exists, in the table's order."""
    wanted = {name.strip() for name in only.split(",") if name.strip()}
    unknown = wanted - {contender.name for contender in CONTENDERS}
    if unknown:
        known = ", ".join(contender.name for contender in CONTENDERS)
        raise BenchError(f"--only names unknown contenders {sorted(unknown)}; known: {known}.")
    chosen = []
    for contender in CONTENDERS:
        if contender.name not in wanted:
            continue
        if not (APPS / f"{contender.module}.py").exists():
            print(
                f"note: {contender.name} skipped: benchmarks/graphql_apps/{contender.module}.py "
                "does not exist yet (see this script's docstring for what it must serve)"
            )
            continue
        chosen.append(contender)
    if not chosen:
        raise BenchError("no contender left to measure; name some with --only.")
    return chosen


def run(args: argparse.Namespace) -> None:
    """Start the servers, check them, warm them up, measure the rounds, print the tables."""
    check_tools()
    if args.instructions:
        counting.check_tools()
    contenders = choose(args.only)
    names = [contender.name for contender in contenders]
    with tempfile.TemporaryDirectory(prefix="bench-graphql-") as scratch:
        with running(contenders, Path(scratch)) as servers:
            results = measure_rounds(servers, Path(scratch), args)
        counts = {}
        if args.instructions:
            for contender in contenders:
                print(f"{contender.name}: counting under valgrind")
                counts[contender.name] = count_instructions(contender, Path(scratch), args.requests)
    print_rates(results, names, args)
    if counts:
        print_instructions(counts, args.requests)


def main() -> None:
    """Run the benchmark; a BenchError ends it with its message and status 1, Ctrl-C with 130."""
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        run(parse_args())
    except BenchError as exc:
        print(f"bench_graphql: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench_graphql: interrupted; the servers are stopped", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
