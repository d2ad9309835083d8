"""Formatting one log record, with and without redaction, in the text and the JSON formats.

Three records, each from a logger of the application with two fields of log context: one
with ``%`` arguments, one without, and one whose argument holds an ``Authorization`` header
(the only one with something to mask). The redactor knows three secrets, as an application
with three ``Secret`` options set. Without redaction means ``logging.Formatter`` for text, and
``JsonFormatter`` with a redactor that hands its fields back untouched for JSON.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_logs.py [--rounds N]``.
Prints microseconds per record (the best of several rounds, each formatting many records).
"""

from __future__ import annotations

import argparse
import logging
import timeit
from typing import Any

from atoll.kernel.logs import JsonFormatter, TextFormatter
from atoll.kernel.redaction import Redactor

TEXT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
SECRETS = ["s3cr3t-vault-key-0123", "another-long-secret-value", "db-password-xyz"]
RECORDS = {
    "arguments": ("recorded run %d of user %d: %.1f m in %d s", (42, 7, 5000.0, 1500)),
    "no arguments": ("the outbox relay is idle; nothing to send", None),
    "a header": (
        "login of %s with headers %r",
        ("ada@example.org", {"authorization": "Bearer abc.def.ghi", "accept": "*/*"}),
    ),
}


class Unredacted(Redactor):
    """Hands the fields back as they are: the JSON format as it was before redaction."""

    def fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        return fields


def record(message: str, args: tuple[object, ...] | None) -> logging.LogRecord:
    made = logging.LogRecord("runnerly.runs", logging.INFO, __file__, 1, message, args, None)
    made.context = {"correlation_id": "7f3a9c0d1e2b4a5f", "handler": "runs.record_run"}
    return made


def per_record(formatter: logging.Formatter, made: logging.LogRecord, rounds: int) -> float:
    number = 20_000
    best = min(timeit.repeat(lambda: formatter.format(made), number=number, repeat=rounds))
    return best / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    redactor = Redactor(SECRETS)
    formats = {
        "text": (logging.Formatter(TEXT), TextFormatter(TEXT, redactor=redactor)),
        "json": (
            JsonFormatter("runs", "host:1", redactor=Unredacted()),
            JsonFormatter("runs", "host:1", redactor=redactor),
        ),
    }
    print(f"{'format':6} {'record':12} {'plain us':>9} {'redacted us':>12} {'added us':>9}")
    for kind, (plain, redacted) in formats.items():
        for name, (message, args) in RECORDS.items():
            made = record(message, args)
            before = per_record(plain, made, rounds)
            after = per_record(redacted, made, rounds)
            print(f"{kind:6} {name:12} {before:9.2f} {after:12.2f} {after - before:9.2f}")


if __name__ == "__main__":
    main()
