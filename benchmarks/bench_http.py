"""HTTP throughput: atoll against raw ASGI, Starlette, FastAPI and gemstone, in one run.

Three scenarios, each a small request answered in JSON:

- GET JSON: ``GET /items/42`` answers ``{"id": 42, "name": "item 42", "price": 9.99, "tags": []}``
  (every app answers with the same item type, whose tags default to empty);
- POST JSON with a typed body: ``POST /items`` with ``{"name": "pen", "price": 1.5, "tags":
  ["a", "b"]}``, validated into a typed object the way each framework does it (a dataclass
  decoded by msgspec for raw, Starlette and atoll; a pydantic model for FastAPI) and answered
  201 with the created item;
- JSON-RPC 2.0 over HTTP: ``POST /rpc`` calling ``add(a=1, b=2)``, answered
  ``{"jsonrpc": "2.0", "result": 3, "id": 1}`` (gemstone serves it at ``/api``).

The apps are in ``benchmarks/http_apps/``, one small file per framework; ``raw.py`` (plain
ASGI and msgspec, no framework) is the limit the targets are measured against. Every ASGI app
runs under the same server settings, ``uvicorn --workers 1 --loop uvloop --http httptools
--no-access-log --log-level warning``; gemstone runs on its own Tornado server, its access log
off too. Every server is pinned to core 0 (``taskset -c 0``) and the load generator to core 1
(``taskset -c 1 wrk -t1 -c64``), so client and server never share a core; POST bodies go
through a small Lua script.

Before any load, each app's answer to each scenario is checked (status, content type and the
decoded JSON body), and an invalid POST body must be refused with a 4xx: an app that answers
wrongly or skips validation stops the run instead of reporting a fast number. Each server is
then warmed up, and the rounds interleave the frameworks (round 1: raw, atoll, starlette,
fastapi, gemstone; round 2: the same...), so that a noisy moment on the machine hurts every
framework alike. A load whose responses were not all 2xx is discarded with a warning. The
table gives the median requests per second of the rounds, atoll's ratio to raw, and the
design's targets with PASS or MISS.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_http.py [--rounds 5] [--duration 5]
[--warmup 2] [--only raw,atoll,...]``. Needs ``wrk`` (``apt-get install -y wrk``) and
``taskset`` (util-linux) on a machine with at least two cores.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

APPS = Path(__file__).resolve().parent / "http_apps"
HOST = "127.0.0.1"
SERVER_CORE = "0"
LOAD_CORE = "1"
CONNECTIONS = 64
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
UVICORN_OPTIONS = (
    "--workers", "1", "--loop", "uvloop", "--http", "httptools",
    "--no-access-log", "--log-level", "warning",
)  # fmt: skip
GRANIAN_OPTIONS = (
    "--interface", "asginl", "--workers", "1", "--runtime-threads", "1", "--loop", "uvloop",
    "--no-ws", "--backlog", "2048", "--log-level", "warning",
)  # fmt: skip
"""As atoll's granian adapter runs granian: ASGI without lifespan, one runtime thread."""
LATENCY_CONNECTIONS = (1, 64, 256)


class BenchError(RuntimeError):
    """The benchmark cannot give an honest number; the message says why and what to do."""


@dataclass(frozen=True)
class Scenario:
    """One kind of request, its expected answer and atoll's target against raw."""

    key: str
    title: str
    method: str
    path: str
    body: bytes | None
    status: int
    answer: dict[str, Any]
    target: float
    invalid_body: bytes | None = None


RPC_CALL = {"jsonrpc": "2.0", "method": "add", "params": {"a": 1, "b": 2}, "id": 1}
SCENARIOS = (
    Scenario(
        key="get",
        title="GET /items/42",
        method="GET",
        path="/items/42",
        body=None,
        status=200,
        answer={"id": 42, "name": "item 42", "price": 9.99, "tags": []},
        target=0.85,
    ),
    Scenario(
        key="post",
        title="POST /items (typed body)",
        method="POST",
        path="/items",
        body=json.dumps({"name": "pen", "price": 1.5, "tags": ["a", "b"]}).encode(),
        status=201,
        answer={"id": 1, "name": "pen", "price": 1.5, "tags": ["a", "b"]},
        target=0.80,
        invalid_body=json.dumps({"name": "pen", "price": "cheap"}).encode(),
    ),
    Scenario(
        key="rpc",
        title="JSON-RPC add over HTTP",
        method="POST",
        path="/rpc",
        body=json.dumps(RPC_CALL).encode(),
        status=200,
        answer={"jsonrpc": "2.0", "result": 3, "id": 1},
        target=0.80,
    ),
)
RPC_OVER_GEMSTONE = 7.0


@dataclass(frozen=True)
class Framework:
    """A contender: how to start its server and which scenarios it serves.

    ``server`` says how it is started: ``uvicorn`` or ``granian`` (the servers' own command
    lines, for the ASGI apps of the peers and raw), ``atoll-run`` (``atoll run
    MODULE:service``, the entry users run, on the server ``impl`` chooses), ``python-m``
    (``python -m MODULE``, whose ``__main__`` calls ``atoll.main``), or ``gemstone`` (its
    own Tornado server).
    """

    name: str
    module: str
    server: str = "uvicorn"
    scenarios: tuple[str, ...] = ("get", "post", "rpc")
    rpc_path: str = "/rpc"
    rpc_extra: dict[str, Any] = field(default_factory=dict)
    impl: str = "uvicorn"

    def command(self, port: int) -> list[str]:
        """The server's command line, without the CPU pinning; run in ``APPS``."""
        where = ["--host", HOST, "--port", str(port)]
        if self.server == "gemstone":
            return [sys.executable, str(APPS / f"{self.module}.py"), "--port", str(port)]
        if self.server == "granian":
            return [sys.executable, "-m", "granian", *where, *GRANIAN_OPTIONS, f"{self.module}:app"]
        if self.server == "atoll-run":
            entry = [sys.executable, "-m", "atoll", "run", f"{self.module}:service"]
            return [*entry, *self.atoll_options(port), "--server-impl", self.impl]
        if self.server == "python-m":
            return [sys.executable, "-m", self.module, *self.atoll_options(port)]
        return [sys.executable, "-m", "uvicorn", f"{self.module}:app", *where, *UVICORN_OPTIONS]

    @staticmethod
    def atoll_options(port: int) -> list[str]:
        """An atoll service's options: the address, and no log line per start and stop."""
        return ["--server-host", HOST, "--server-port", str(port), "--log-level", "warning"]

    def path(self, scenario: Scenario) -> str:
        """Where this framework serves the scenario."""
        return self.rpc_path if scenario.key == "rpc" else scenario.path


FRAMEWORKS = (
    Framework("raw", "raw"),
    Framework("atoll", "atoll_app", "atoll-run"),
    Framework("atoll-m", "atoll_app", "python-m"),
    Framework("atoll-asgi", "atoll_app"),
    Framework("starlette", "starlette_app"),
    Framework("fastapi", "fastapi_app"),
    # gemstone also answers "error": null beside the result, which JSON-RPC 2.0 forbids; the
    # check tolerates that one deviation so that the peer can be measured at all.
    Framework("gemstone", "gemstone_app", "gemstone", ("rpc",), "/api", {"error": None}),
    Framework("raw-granian", "raw", "granian"),
    Framework("atoll-granian", "atoll_app", "atoll-run", impl="granian"),
)
ENTRIES = {
    "atoll": "`atoll run atoll_app:service` (uvicorn)",
    "atoll-m": "`python -m atoll_app`",
    "atoll-asgi": "`service.asgi()` under the uvicorn command line",
    "atoll-granian": "`atoll run atoll_app:service --server-impl granian`",
}
"""The entries of atoll measured, each against raw on the same server."""
LATENCY_FRAMEWORKS = ("raw", "atoll", "raw-granian", "atoll-granian")
GRANIAN_TARGET = 0.85
"""atoll run on granian against raw ASGI on granian, every scenario."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """One framework's server process, pinned to the server core, in its own process group."""

    apps: ClassVar[Path] = APPS
    """The folder of the app modules, the server's working directory."""

    def __init__(self, framework: Framework, log_dir: Path) -> None:
        self.framework = framework
        self.port = free_port()
        self.log = log_dir / f"{framework.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process; ``wait_ready`` waits for its port."""
        command = ["taskset", "-c", SERVER_CORE, *self.framework.command(self.port)]
        with self.log.open("wb") as log:
            # a session of its own: Ctrl-C reaches the benchmark, which then stops the group
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.apps
            )

    def wait_ready(self) -> None:
        """Return once the server accepts connections; raise if it died or never listened."""
        assert self.process is not None  # noqa: S101 - start() comes first
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.fail(f"exited with status {self.process.returncode} before listening")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.5):
                return
            time.sleep(0.05)
        self.fail(f"did not listen on {HOST}:{self.port} within {START_TIMEOUT:.0f} s")

    def where(self) -> str:
        """The app module's file, relative to the repository."""
        return f"benchmarks/{self.apps.name}/{self.framework.module}.py"

    def fail(self, what: str) -> NoReturn:
        """Raise a BenchError with the end of the server's output."""
        output = self.log.read_text(errors="replace").strip().splitlines()[-15:]
        shown = "\n    ".join(output) or "(no output)"
        raise BenchError(
            f"the {self.framework.name} server {what}. Its output ends with:\n    {shown}\n"
            f"Fix {self.where()}, or leave it out with --only."
        )

    def stop(self) -> None:
        """Stop the process group: politely, then for good."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextlib.contextmanager
def running(frameworks: list[Framework], log_dir: Path) -> Iterator[list[Server]]:
    """Start every server, wait for all of them, and stop them all on the way out."""
    servers = [Server(framework, log_dir) for framework in frameworks]
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


def exchange(port: int, method: str, path: str, body: bytes | None) -> tuple[int, str, bytes]:
    """One request; the status, content type and body of the answer."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        headers = {} if body is None else {"Content-Type": "application/json"}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("content-type", ""), response.read()
    finally:
        connection.close()


def verify(server: Server, scenario: Scenario) -> None:
    """Check the server's answer to the scenario, and that it refuses an invalid body."""
    framework = server.framework
    path = framework.path(scenario)
    where = server.where()
    status, content_type, body = exchange(server.port, scenario.method, path, scenario.body)
    expected = scenario.answer
    if scenario.key == "rpc":
        expected = {**expected, **framework.rpc_extra}
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    json_type = content_type.startswith("application/json")
    if status != scenario.status or not json_type or answer != expected:
        raise BenchError(
            f"{framework.name} answered {scenario.method} {path} wrongly: expected "
            f"{scenario.status} application/json {expected}, got {status} "
            f"{content_type or 'no content type'} {body[:300]!r}. Fix {where} before measuring it."
        )
    if scenario.invalid_body is not None:
        status, _, body = exchange(server.port, scenario.method, path, scenario.invalid_body)
        if not 400 <= status < 500:
            raise BenchError(
                f"{framework.name} accepted an invalid body at {scenario.method} {path} "
                f"({scenario.invalid_body!r} answered {status} {body[:200]!r}): it must validate "
                f"the body and answer 4xx. Fix {where} before measuring it."
            )


@dataclass(frozen=True)
class Load:
    """What one wrk run reports: the rate, the 50th and 99th percentile latency (ms)."""

    rate: float
    p50: float
    p99: float
    non_2xx: int
    socket_errors: str


def lua_script(scenario: Scenario, directory: Path) -> Path | None:
    """A wrk script sending the scenario's body, or None for a bodiless GET."""
    if scenario.body is None:
        return None
    script = directory / f"{scenario.key}.lua"
    script.write_text(
        f'wrk.method = "{scenario.method}"\n'
        f"wrk.body = [==[{scenario.body.decode()}]==]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return script


MS_PER_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def percentile(output: str, which: int) -> float:
    """The ``which``th percentile latency of wrk's ``--latency`` report, in ms."""
    found = re.search(rf"^\s+{which}%\s+([\d.]+)(us|ms|s|m)\s*$", output, flags=re.MULTILINE)
    if found is None:
        raise BenchError(f"wrk printed no {which}% latency:\n{output}")
    return float(found.group(1)) * MS_PER_UNIT[found.group(2)]


def load(
    port: int, path: str, script: Path | None, seconds: int, connections: int = CONNECTIONS
) -> Load:
    """Run wrk on the load core against one URL for ``seconds``."""
    command = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    command.append("--latency")
    if script is not None:
        command += ["-s", str(script)]
    command.append(f"http://{HOST}:{port}{path}")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if done.returncode != 0 or rate is None:
        raise BenchError(f"wrk failed ({' '.join(command)}):\n{done.stdout}{done.stderr}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", done.stdout)
    errors = re.search(r"Socket errors:\s+(.+)", done.stdout)
    return Load(
        rate=float(rate.group(1)),
        p50=percentile(done.stdout, 50),
        p99=percentile(done.stdout, 99),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=errors.group(1).strip() if errors else "",
    )


def measure(
    server: Server,
    scenario: Scenario,
    script: Path | None,
    seconds: int,
    connections: int = CONNECTIONS,
) -> Load | None:
    """One load; what it measured, or None (with a warning) if it cannot count."""
    result = load(server.port, server.framework.path(scenario), script, seconds, connections)
    if result.socket_errors:
        print(f"  warning: {server.framework.name} {scenario.key}: {result.socket_errors}")
    if result.non_2xx:
        print(
            f"  warning: {server.framework.name} {scenario.key}: {result.non_2xx} answers "
            "were not 2xx; this load is discarded"
        )
        return None
    return result


Results = dict[str, dict[str, list[Load]]]
"""The loads that counted, by scenario and framework."""


def median_rate(loads: list[Load]) -> float:
    """The median requests per second of some loads."""
    return statistics.median(load.rate for load in loads)


def fmt_rate(loads: list[Load]) -> str:
    """A median rate for the table, or a dash."""
    return f"{median_rate(loads):,.0f}" if loads else "-"


def verdict(ok: bool) -> str:  # noqa: FBT001 - a plain predicate
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def ratio(results: dict[str, list[Load]], name: str, base: str) -> float | None:
    """The median rate of ``name`` over that of ``base``; None if either has none."""
    if not results.get(name) or not results.get(base):
        return None
    return median_rate(results[name]) / median_rate(results[base])


def table_row(scenario: Scenario, results: dict[str, list[Load]], names: list[str]) -> str:
    """One markdown row: the medians, atoll's ratios to raw and the targets' verdicts."""
    cells = [scenario.title, *(fmt_rate(results.get(name, [])) for name in names)]
    shares = {
        entry: ratio(results, entry, "raw-granian" if entry == "atoll-granian" else "raw")
        for entry in ENTRIES
    }
    cells += [f"{share:.0%}" if share is not None else "-" for share in shares.values()]
    atoll = shares["atoll"]
    target = f"atoll run >= {scenario.target:.0%} of raw"
    target += f": {verdict(atoll >= scenario.target)}" if atoll is not None else ": n/a"
    if scenario.key == "rpc":
        times = ratio(results, "atoll", "gemstone")
        target += f"; >= {RPC_OVER_GEMSTONE:.0f}x gemstone"
        target += f" ({times:.1f}x): {verdict(times >= RPC_OVER_GEMSTONE)}" if times else ": n/a"
    granian = shares["atoll-granian"]
    target += f"; granian >= {GRANIAN_TARGET:.0%}"
    target += f": {verdict(granian >= GRANIAN_TARGET)}" if granian is not None else ": n/a"
    cells.append(target)
    return "| " + " | ".join(cells) + " |"


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per load (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds (default 2)")
    parser.add_argument(
        "--latency-rounds",
        type=int,
        default=1,
        help="loads per server and scenario at 1 and 256 connections (default 1; 0: none)",
    )
    names = ",".join(framework.name for framework in FRAMEWORKS)
    parser.add_argument(
        "--only", default=names, help=f"comma-separated frameworks to measure (default {names})"
    )
    return parser.parse_args()


def check_tools() -> None:
    """Fail early, naming the install command, if wrk, taskset or a second core is missing."""
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed: run `apt-get install -y wrk` and try again.")
    if shutil.which("taskset") is None:
        raise BenchError("taskset is not installed: run `apt-get install -y util-linux`.")
    if len(os.sched_getaffinity(0)) < 2:  # a server core and a load core
        raise BenchError("this benchmark needs two cores: one for the servers, one for wrk.")


def choose(only: str) -> list[Framework]:
    """The frameworks named by ``--only``, in the table's order."""
    wanted = {name.strip() for name in only.split(",") if name.strip()}
    unknown = wanted - {framework.name for framework in FRAMEWORKS}
    if unknown:
        known = ", ".join(framework.name for framework in FRAMEWORKS)
        raise BenchError(f"--only names unknown frameworks {sorted(unknown)}; known: {known}.")
    return [framework for framework in FRAMEWORKS if framework.name in wanted]


def stop_on_sigterm(signum: int, frame: FrameType | None) -> NoReturn:
    """Turn SIGTERM into SystemExit, so that the servers are stopped on the way out."""
    del frame
    raise SystemExit(128 + signum)


def served(servers: list[Server]) -> Iterator[tuple[Server, Scenario]]:
    """Every (server, scenario) pair the servers serve, scenario by scenario."""
    for scenario in SCENARIOS:
        for server in servers:
            if scenario.key in server.framework.scenarios:
                yield server, scenario


def measure_rounds(
    servers: list[Server], scripts: dict[str, Path | None], args: argparse.Namespace
) -> Results:
    """Check, warm up, then measure every pair ``args.rounds`` times, interleaved."""
    for server, scenario in served(servers):
        verify(server, scenario)
    print(f"all answers checked; warming up ({args.warmup} s per server and scenario)")
    for server, scenario in served(servers):
        measure(server, scenario, scripts[scenario.key], args.warmup)
    results: Results = {scenario.key: {} for scenario in SCENARIOS}
    for round_number in range(1, args.rounds + 1):
        # one load per framework and scenario, in turn, so that noise is shared alike
        line: list[str] = []
        for server, scenario in served(servers):
            result = measure(server, scenario, scripts[scenario.key], args.duration)
            if result is not None:
                results[scenario.key].setdefault(server.framework.name, []).append(result)
            line.append(
                f"{scenario.key} {server.framework.name} {result.rate if result else 0:,.0f}"
            )
        print(f"round {round_number}/{args.rounds}: {', '.join(line)}")
    return results


def measure_latency(
    servers: list[Server], scripts: dict[str, Path | None], args: argparse.Namespace
) -> dict[int, Results]:
    """The latency of raw and atoll at each of ``LATENCY_CONNECTIONS``, interleaved.

    At ``CONNECTIONS`` the throughput rounds' loads are used; the other counts get
    ``args.latency_rounds`` loads of their own.
    """
    chosen = [server for server in servers if server.framework.name in LATENCY_FRAMEWORKS]
    found: dict[int, Results] = {}
    for connections in LATENCY_CONNECTIONS:
        if connections == CONNECTIONS:
            continue
        found[connections] = {scenario.key: {} for scenario in SCENARIOS}
        for round_number in range(1, args.latency_rounds + 1):
            line: list[str] = []
            for server, scenario in served(chosen):
                result = measure(
                    server, scenario, scripts[scenario.key], args.duration, connections
                )
                if result is not None:
                    loads = found[connections][scenario.key]
                    loads.setdefault(server.framework.name, []).append(result)
                    line.append(f"{scenario.key} {server.framework.name} p50 {result.p50:.2f} ms")
            print(f"latency at {connections} connections, round {round_number}: {', '.join(line)}")
    return found


def print_table(results: Results, args: argparse.Namespace) -> None:
    """The markdown table of medians, ratios and targets."""
    names = [framework.name for framework in FRAMEWORKS]
    print()
    print(
        f"HTTP requests/s, median of {args.rounds} interleaved rounds of {args.duration} s "
        f"(servers on core {SERVER_CORE}, `wrk -t1 -c{CONNECTIONS}` on core {LOAD_CORE}), "
        f"Python {sys.version.split()[0]}. atoll's entries:"
    )
    print()
    for name, entry in ENTRIES.items():
        print(f"- {name}: {entry}")
    print()
    shares = " | ".join(f"{name}/raw" for name in ENTRIES)
    print(f"| scenario | {' | '.join(names)} | {shares} | targets |")
    print("| --- |" + " ---: |" * (len(names) + len(ENTRIES)) + " --- |")
    for scenario in SCENARIOS:
        print(table_row(scenario, results[scenario.key], names))


def latency_cell(loads: list[Load]) -> str:
    """Median p50 / median p99 in ms, or a dash."""
    if not loads:
        return "-"
    p50 = statistics.median(load.p50 for load in loads)
    p99 = statistics.median(load.p99 for load in loads)
    return f"{p50:.2f} / {p99:.2f}"


def print_latency(results: Results, latency: dict[int, Results]) -> None:
    """The markdown table of p50 / p99 latency by scenario and connections."""
    every = {**latency, CONNECTIONS: results}
    print()
    print("Latency in ms, p50 / p99 (median over the loads), by connections:")
    print()
    print(f"| scenario | connections | {' | '.join(LATENCY_FRAMEWORKS)} |")
    print("| --- | ---: |" + " ---: |" * len(LATENCY_FRAMEWORKS))
    for scenario in SCENARIOS:
        for connections in LATENCY_CONNECTIONS:
            loads = every.get(connections, {}).get(scenario.key, {})
            cells = [latency_cell(loads.get(name, [])) for name in LATENCY_FRAMEWORKS]
            print(f"| {scenario.title} | {connections} | {' | '.join(cells)} |")


def run(args: argparse.Namespace) -> None:
    """Start the servers, check them, warm them up, measure the rounds, print the tables."""
    check_tools()
    frameworks = choose(args.only)
    with (
        tempfile.TemporaryDirectory(prefix="bench-http-") as scratch,
        running(frameworks, Path(scratch)) as servers,
    ):
        scripts = {scenario.key: lua_script(scenario, Path(scratch)) for scenario in SCENARIOS}
        results = measure_rounds(servers, scripts, args)
        latency = measure_latency(servers, scripts, args) if args.latency_rounds else {}
    print_table(results, args)
    print_latency(results, latency)


def main() -> None:
    """Run the benchmark; a BenchError ends it with its message and status 1, Ctrl-C with 130."""
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        run(parse_args())
    except BenchError as exc:
        print(f"bench_http: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench_http: interrupted; the servers are stopped", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
