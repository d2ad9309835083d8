"""``import atoll`` against ``import starlette.applications``: time, and what gets loaded.

Each import runs in a fresh interpreter with ``-X importtime``; the figure is the cumulative
microseconds of the top-level module, the median over several runs. The same runs check that
``import atoll`` loads none of the optional extras.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_import.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

OPTIONAL = (
    "sqlalchemy",
    "aiosqlite",
    "alembic",
    "asyncpg",
    "nats",
    "aio_pika",
    "redis",
    "jwt",
    "ariadne",
    "prometheus_client",
    "opentelemetry",
    "granian",
    "click",
    "uvicorn",
)


# Bytecode caches are allowed (and written by a first, unmeasured run), as on any installed
# package: otherwise atoll, installed editable, would be compiled from source on every run
# while its peer loads cached bytecode.
ENVIRONMENT = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def import_time(module: str) -> float:
    """Cumulative milliseconds of importing ``module`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        env=ENVIRONMENT,
    )
    for line in reversed(done.stderr.splitlines()):
        fields = [field.strip() for field in line.removeprefix("import time:").split("|")]
        if len(fields) == 3 and fields[2] == module:
            return int(fields[1]) / 1000
    msg = f"no importtime line for {module}"
    raise RuntimeError(msg)


def loaded_extras() -> list[str]:
    """The optional libraries present in ``sys.modules`` after ``import atoll``."""
    probe = (
        "import atoll, sys; "
        f"print(*sorted({{m.split('.')[0] for m in sys.modules}} & set({OPTIONAL!r})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.split()


def main() -> None:
    """Print the median import times side by side, and the optional modules loaded."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    modules = ("atoll", "starlette.applications")
    times: dict[str, list[float]] = {module: [] for module in modules}
    for module in modules:
        import_time(module)  # writes the bytecode caches
    for _ in range(args.runs):  # interleaved, so noise hits both alike
        for module in modules:
            times[module].append(import_time(module))
    print(f"import time, median of {args.runs} fresh interpreters (-X importtime, cumulative)")
    print(f"{'module':<26}{'ms':>8}{'min ms':>9}")
    for module in modules:
        print(f"{module:<26}{statistics.median(times[module]):>8.1f}{min(times[module]):>9.1f}")
    extras = loaded_extras()
    print("optional libraries loaded by `import atoll`:", ", ".join(extras) or "none")


if __name__ == "__main__":
    main()
