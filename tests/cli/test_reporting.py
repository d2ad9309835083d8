"""A command's failure reported as ``prog: message`` and its exit status, never a traceback."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from atoll.cli.reporting import reported
from atoll.errors import ConfigError, PersistenceError


def failing(error: Exception, **options: object) -> click.Command:
    @click.command()
    @click.pass_context
    def command(context: click.Context) -> None:
        with reported(context, "atoll x run:app", **options):
            raise error

    return command


@pytest.mark.parametrize(
    ("error", "options", "status", "shown"),
    [
        (ConfigError("bad --db-url"), {}, 2, "atoll x run:app: bad --db-url\n"),
        (ValueError("bad --expires-in"), {"usage": (ConfigError, ValueError)}, 2,
         "atoll x run:app: bad --expires-in\n"),
        (PersistenceError("no table"), {}, 1, "atoll x run:app: no table\n"),
        (RuntimeError("boom"), {}, 1, "atoll x run:app: RuntimeError: boom\n"),
        (RuntimeError("postgresql://app:s3cret@db"), {"foreign_text": False}, 1,
         "atoll x run:app: RuntimeError\n"),
    ],
    ids=["usage", "usage-by-option", "atoll", "foreign", "foreign-unshown"],
)  # fmt: skip
def test_a_failure_is_its_message_and_its_exit_status(error, options, status, shown):
    result = CliRunner().invoke(failing(error, **options))
    assert (result.exit_code, result.output) == (status, shown)
