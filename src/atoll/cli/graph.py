"""``atoll graph MODULE:OBJECT``: the system drawn, as text, Mermaid or an HTML page.

::

    atoll graph runnerly.app:system
    atoll graph runnerly.app:system --format mermaid
    atoll graph runnerly.app:system --format html --output runnerly.html

Each service with its endpoints (REST routes, JSON-RPC methods, GraphQL) and its database;
the commands and queries it takes, the events it publishes and consumes, the commands it
sends, through the broker; the services it calls. The declarations give most of it; the
calls and the commands sent are read from each service's source (a client asked for by a
name written there: ``clients.get("users")``, ``atoll.RemoteService("users")``), and a name
computed at run time is not seen. Nothing is started; the output is the same for the same
system, byte for byte.

Exit status: 0 when written, 2 for a usage error (a target that is not a service or a
system), 1 when the file cannot be written.
"""

from __future__ import annotations

from pathlib import Path

import click

from atoll.cli.inspection import read_target
from atoll.cli.reporting import reported
from atoll.tooling.graph import mermaid, text
from atoll.tooling.picture import html_page

__all__ = ["graph"]

_FORMATS = {"text": text, "mermaid": mermaid, "html": html_page}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("target", metavar="MODULE:OBJECT")
@click.option(
    "--format",
    "form",
    type=click.Choice(sorted(_FORMATS)),
    default="text",
    show_default=True,
    help="text, a Mermaid flowchart, or a standalone HTML page with an SVG picture.",
)
@click.option(
    "--output", type=Path, metavar="FILE", help="Write to FILE rather than standard output."
)
@click.pass_context
def graph(context: click.Context, target: str, form: str, output: Path | None) -> None:
    """Draw the system TARGET: its services, endpoints, messages, databases and calls."""
    prog = f"atoll graph {target}"
    with reported(context, prog):
        if ":" not in target:
            raise click.UsageError(
                f"{target!r} is not MODULE:OBJECT; atoll graph draws a service or a system, "
                "as `atoll run` takes it: runnerly.app:system",
                context,
            )
        _, system = read_target(target, "atoll graph draws")
        assert system is not None  # noqa: S101 - a MODULE:OBJECT target has one
        drawn = _FORMATS[form](system)
        if output is None:
            click.echo(drawn, nl=False)
        else:
            output.write_text(drawn, encoding="utf-8")
