"""HTTP cost in CPU instructions per request: atoll against raw ASGI, Starlette, FastAPI, gemstone.

``bench_http.py`` measures requests per second with ``wrk``; on a shared virtual machine that
figure moves by a third from one run to the next (steal time from the host), which drowns the
few percent the design's targets speak of. This benchmark measures the same three scenarios
(imported from ``bench_http.py``) by a count that does not depend on what else the machine
does: the CPU instructions the server process executes per request, counted by valgrind's
callgrind. The same work executes the same instructions however slowly the machine runs it,
so two runs agree to a fraction of a percent, and raw's count over atoll's predicts atoll's
share of raw's throughput (a server that executes 15% more instructions per request serves
about 15% fewer requests per second on one core); likewise gemstone's count over atoll's
predicts how many times gemstone's throughput atoll serves on JSON-RPC.

Method, for each app in ``benchmarks/http_apps``:

- start it under ``valgrind --tool=callgrind --instr-atstart=no`` with the command line
  ``bench_http.py`` uses (the ASGI apps under the same uvicorn settings, uvloop and httptools
  running under valgrind; gemstone on its own Tornado server), and wait for its port
  (start-up under valgrind is slow);
- for each scenario the app serves (gemstone serves JSON-RPC only), check its answer with
  ``bench_http.verify``, then send 200 warm-up requests with instrumentation off (Python
  specializes its bytecode; caches fill);
- measure the server's idle work, the instructions it executes per second while nobody
  calls it, so that it can be taken out of each count: uvicorn's main loop ticks 10 times a
  second, work that grows with wall-clock time, which is exactly what must not count.
  Tornado, with no periodic task, sleeps until a request comes: its idle "work" is a few
  hundred instructions per count whatever the time (the wake-up for ``callgrind_control``),
  so its rate is tiny and taking it out changes nothing visible;
- per scenario and round: zero the counters, switch instrumentation on, send exactly N
  requests sequentially over one keep-alive connection from this process (every answer must
  be 2xx, and the connection must stay open), dump the counters (``callgrind_control -d``
  writes a new ``cg.<pid>.<n>`` file), switch instrumentation off, and read the dump's total
  ``Ir`` (instructions executed). Per request: (total - idle rate x elapsed time) / N;
- every scenario is measured in each of ``--rounds`` rounds (default 2), and the spread
  between rounds shows how repeatable the count is (it should be well under 1%).

The counts include the server's own work (uvicorn, httptools, uvloop), the same for every
ASGI app, so ratios understate differences between the apps' own code; gemstone's include
Tornado's HTTP server, written in Python, and the worker thread gemstone runs each method in
(callgrind counts every thread of the process). Only the server process is counted: the
client in this process costs nothing.

Run: ``.venv/bin/python benchmarks/bench_http_instructions.py [--requests 2000] [--rounds 2]
[--only raw,atoll,starlette,fastapi,gemstone] [--keep DIR]``; ``--keep`` copies the dumps to DIR for
``callgrind_annotate``. Needs valgrind (``apt-get install -y valgrind``, which brings
``callgrind_control``); takes 6 to 8 minutes with the defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench_http import (
    FRAMEWORKS,
    HOST,
    RPC_OVER_GEMSTONE,
    SCENARIOS,
    BenchError,
    Framework,
    Scenario,
    Server,
    stop_on_sigterm,
    verdict,
    verify,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

START_TIMEOUT = 120.0
WARMUP_REQUESTS = 200
IDLE_SECONDS = 5.0
AGREEMENT = 0.01


class CallgrindServer(Server):
    """One app's server, run under callgrind with instrumentation off until asked."""

    def __init__(self, framework: Framework, scratch: Path) -> None:
        super().__init__(framework, scratch)
        self.dumps = scratch / f"{framework.name}-dumps"
        self.dumps.mkdir()

    @property
    def pid(self) -> int:
        """The process id, which is valgrind's and the app's (valgrind runs in the process)."""
        assert self.process is not None  # noqa: S101 - start() comes first
        return self.process.pid

    def start(self) -> None:
        """Start the server under callgrind, counting nothing yet; ``wait_ready`` waits for it."""
        callgrind = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={self.dumps}/cg.%p",
        ]
        with self.log.open("wb") as log:
            # a session of its own: Ctrl-C reaches the benchmark, which then stops the group
            self.process = subprocess.Popen(
                [*callgrind, *self.framework.command(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.apps,
            )

    def wait_ready(self) -> None:
        """Return once the server accepts connections; raise if it died or never listened."""
        assert self.process is not None  # noqa: S101 - start() comes first
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.fail(f"exited with status {self.process.returncode} before listening")
            with contextlib.suppress(OSError):
                probe = http.client.HTTPConnection(HOST, self.port, timeout=5)
                probe.connect()
                probe.close()
                return
            time.sleep(0.5)
        self.fail(f"did not listen on {HOST}:{self.port} under valgrind within {START_TIMEOUT} s")

    def control(self, *options: str) -> None:
        """Send one ``callgrind_control`` command to the server; raise if it was not done."""
        command = ["callgrind_control", *options, str(self.pid)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0 or "OK." not in done.stdout:
            raise BenchError(
                f"`{' '.join(command)}` failed for the {self.framework.name} server:\n"
                f"{done.stdout}{done.stderr}Check that valgrind's vgdb may attach to it "
                "(ptrace allowed in this container)."
            )

    def dump(self) -> Path:
        """Dump the counters to a new file and return that file's path."""
        before = set(self.dumps.glob(f"cg.{self.pid}.*"))
        self.control("--dump")
        written = set(self.dumps.glob(f"cg.{self.pid}.*")) - before
        if len(written) != 1:
            names = sorted(path.name for path in written) or "none"
            raise BenchError(
                f"callgrind_control --dump on the {self.framework.name} server wrote {names}, "
                f"expected one new cg.{self.pid}.<n> file in {self.dumps}."
            )
        return written.pop()


def total_instructions(dump: Path) -> int:
    """The total ``Ir`` of a callgrind dump, from its ``totals:`` or ``summary:`` line."""
    events: list[str] = []
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith(("totals:", "summary:")) and "Ir" in events:
            return int(line.split()[1 + events.index("Ir")])
    raise BenchError(f"{dump} has no Ir total; is it a callgrind dump? Its events: {events}.")


def send(server: CallgrindServer, scenario: Scenario, requests: int) -> None:
    """Send the scenario's request ``requests`` times, in turn, over one keep-alive connection."""
    path = server.framework.path(scenario)
    headers = {} if scenario.body is None else {"Content-Type": "application/json"}
    connection = http.client.HTTPConnection(HOST, server.port, timeout=60)
    try:
        for _ in range(requests):
            connection.request(scenario.method, path, body=scenario.body, headers=headers)
            response = connection.getresponse()
            body = response.read()
            if not 200 <= response.status < 300:
                raise BenchError(
                    f"{server.framework.name} answered {scenario.method} {path} with "
                    f"{response.status} {body[:200]!r} during the count; every answer must be "
                    "2xx. Fix the app, or run bench_http.py to see its checks."
                )
            if response.will_close:
                # http.client would reconnect silently, and the count would include a connect
                raise BenchError(
                    f"{server.framework.name} closed the connection after {scenario.method} "
                    f"{path}; the count needs one keep-alive connection."
                )
    finally:
        connection.close()


@dataclass(frozen=True)
class Count:
    """One counted load: instructions executed, the time it took and the dump holding it."""

    instructions: int
    seconds: float
    dump: Path


def counted(server: CallgrindServer, load: Callable[[], object]) -> Count:
    """Count the server's instructions while ``load`` runs (sends requests, or just waits)."""
    server.control("--zero")  # so that the dump holds this load only
    server.control("--instr=on")
    started = time.monotonic()
    load()
    seconds = time.monotonic() - started
    dump = server.dump()
    server.control("--instr=off")
    return Count(total_instructions(dump), seconds, dump)


@dataclass(frozen=True)
class Measured:
    """Every count of one server: its idle rate and, per scenario, one count per round."""

    idle_per_second: float
    counts: dict[str, list[Count]]

    def per_request(self, count: Count, requests: int) -> float:
        """Instructions per request, the server's idle work over the same time taken out."""
        return (count.instructions - self.idle_per_second * count.seconds) / requests

    def rounds(self, scenario: Scenario, requests: int) -> list[float] | None:
        """Instructions per request in each round of a scenario, or None if it is not served."""
        counts = self.counts.get(scenario.key)
        if counts is None:
            return None
        return [self.per_request(count, requests) for count in counts]


def measure_server(server: CallgrindServer, args: argparse.Namespace) -> Measured:
    """Check and warm up one server, measure its idle rate, then count each scenario per round.

    Only the scenarios the server's framework serves are checked, warmed up and counted.
    """
    scenarios = [s for s in SCENARIOS if s.key in server.framework.scenarios]
    for scenario in scenarios:
        verify(server, scenario)
        send(server, scenario, WARMUP_REQUESTS)
    idle = counted(server, functools.partial(time.sleep, IDLE_SECONDS))
    measured = Measured(idle.instructions / idle.seconds, {s.key: [] for s in scenarios})
    print(
        f"{server.framework.name}: idle work {measured.idle_per_second / 1000:,.1f}k Ir/s "
        f"({idle.instructions:,} Ir in {idle.seconds:.1f} s)"
    )
    for round_number in range(1, args.rounds + 1):
        for scenario in scenarios:
            count = counted(server, functools.partial(send, server, scenario, args.requests))
            measured.counts[scenario.key].append(count)
            if args.keep is not None:
                name = f"{server.framework.name}-{scenario.key}-{round_number}.callgrind.out"
                shutil.copyfile(count.dump, args.keep / name)
            share = measured.idle_per_second * count.seconds / count.instructions
            print(
                f"  round {round_number} {scenario.key}: "
                f"{measured.per_request(count, args.requests) / 1000:,.1f}k Ir/request "
                f"({count.seconds:.1f} s; idle work taken out: {share:.2%})"
            )
    return measured


@contextlib.contextmanager
def running(framework: Framework, scratch: Path) -> Iterator[CallgrindServer]:
    """Start one server under callgrind, wait for it, and stop it on the way out."""
    server = CallgrindServer(framework, scratch)
    try:
        server.start()
        server.wait_ready()
        yield server
    finally:
        server.stop()


def target_cell(scenario: Scenario, row: dict[str, float]) -> str:
    """The scenario's targets with their verdicts: atoll against raw, and for RPC gemstone.

    Fewer instructions per request mean more requests per second, so raw's count over atoll's
    is atoll's predicted share of raw's throughput, and gemstone's count over atoll's is how
    many times gemstone's throughput atoll is predicted to serve.
    """
    target = f">= {scenario.target:.0%}"
    if "raw" in row and "atoll" in row:
        target += f": {verdict(row['raw'] / row['atoll'] >= scenario.target)}"
    else:
        target += ": n/a"
    if scenario.key == "rpc":
        target += f"; >= {RPC_OVER_GEMSTONE:.0f}x gemstone"
        if "gemstone" in row and "atoll" in row:
            times = row["gemstone"] / row["atoll"]
            target += f" ({times:.2f}x): {verdict(times >= RPC_OVER_GEMSTONE)}"
        else:
            target += ": n/a"
    return target


def print_tables(results: dict[str, Measured], args: argparse.Namespace) -> None:
    """The markdown table of instructions per request and the repeat-agreement table."""
    names = [framework.name for framework in FRAMEWORKS if framework.name in results]
    print()
    print(
        f"Instructions per request (thousands, callgrind Ir, mean of {args.rounds} rounds of "
        f"{args.requests} sequential keep-alive requests), Python {sys.version.split()[0]}"
    )
    print()
    print(f"| scenario | {' | '.join(names)} | raw/atoll | target |")
    print("| --- |" + " ---: |" * (len(names) + 1) + " --- |")
    for scenario in SCENARIOS:
        row: dict[str, float] = {}
        for name in names:
            values = results[name].rounds(scenario, args.requests)
            if values is not None:
                row[name] = statistics.mean(values)
        cells = [scenario.title, *(f"{row[n] / 1000:,.1f}" if n in row else "-" for n in names)]
        cells.append(f"{row['raw'] / row['atoll']:.2f}" if "raw" in row and "atoll" in row else "-")
        cells.append(target_cell(scenario, row))
        print("| " + " | ".join(cells) + " |")
    print()
    print(
        "raw/atoll is raw's count over atoll's: the predicted share of raw's throughput; "
        "gemstone's count over atoll's predicts atoll's multiple of gemstone's throughput. The "
        "ASGI apps' counts include uvicorn's work (uvicorn, httptools, uvloop), the same for "
        "each; gemstone's include its Tornado server's. The server's idle work over the same "
        "time is taken out; '-': the app does not serve the scenario."
    )
    if args.rounds > 1:
        print_agreement(results, names, args)


def print_agreement(
    results: dict[str, Measured], names: list[str], args: argparse.Namespace
) -> None:
    """How far apart the rounds' counts of each scenario are, against the 1% agreement."""
    print()
    print("Repeatability: spread between rounds, (max - min) / min of instructions per request")
    print()
    print(f"| scenario | {' | '.join(names)} |")
    print("| --- |" + " ---: |" * len(names))
    worst = 0.0
    for scenario in SCENARIOS:
        cells = [scenario.title]
        for name in names:
            values = results[name].rounds(scenario, args.requests)
            if values is None:
                cells.append("-")
                continue
            spread = (max(values) - min(values)) / min(values)
            worst = max(worst, spread)
            cells.append(f"{spread:.3%}")
        print("| " + " | ".join(cells) + " |")
    print()
    within = "within" if worst <= AGREEMENT else "NOT within"
    print(f"Worst spread {worst:.3%}: {within} {AGREEMENT:.0%}.")


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests per count (default 2000)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="counts per scenario, compared (default 2)"
    )
    names = ",".join(framework.name for framework in COUNTED)
    parser.add_argument(
        "--only", default=names, help=f"comma-separated apps to measure (default {names})"
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="copy the dumps here, for callgrind_annotate"
    )
    args = parser.parse_args()
    if args.requests < 1 or args.rounds < 1:
        parser.error("--requests and --rounds must be at least 1")
    return args


def check_tools() -> None:
    """Fail early, naming the install command, if valgrind or callgrind_control is missing."""
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not installed: run `apt-get install -y valgrind`.")


COUNTED = tuple(
    framework
    for framework in FRAMEWORKS
    # granian's own command line serves from a worker process, which callgrind does not
    # follow; both granian entries are left to bench_http.py, which measures them side by side
    if "granian" not in (framework.server, framework.impl)
)


def choose(only: str) -> list[Framework]:
    """The apps named by ``--only``, in the table's order."""
    wanted = {name.strip() for name in only.split(",") if name.strip()}
    unknown = wanted - {framework.name for framework in COUNTED}
    if unknown:
        known = ", ".join(framework.name for framework in COUNTED)
        raise BenchError(f"--only names unknown apps {sorted(unknown)}; known: {known}.")
    return [framework for framework in COUNTED if framework.name in wanted]


def run(args: argparse.Namespace) -> None:
    """Count every chosen app, one server at a time, and print the tables."""
    check_tools()
    frameworks = choose(args.only)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results: dict[str, Measured] = {}
    with tempfile.TemporaryDirectory(prefix="bench-http-instructions-") as scratch:
        for framework in frameworks:
            print(f"{framework.name}: starting under valgrind")
            with running(framework, Path(scratch)) as server:
                results[framework.name] = measure_server(server, args)
    print_tables(results, args)
    print()
    print(f"Total run time {time.monotonic() - started:.0f} s.")


def main() -> None:
    """Run the benchmark; a BenchError ends it with its message and status 1, Ctrl-C with 130."""
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        run(parse_args())
    except BenchError as exc:
        print(f"bench_http_instructions: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench_http_instructions: interrupted; the server is stopped", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
