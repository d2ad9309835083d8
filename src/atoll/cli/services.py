"""``atoll services``: the live instances of a fleet's services, as the registry lists them.

::

    atoll services --registry-url redis://127.0.0.1:6379/0
    atoll services 'users*' --registry-url nats://127.0.0.1:4222 --watch

Prints one line per instance: its service, id, version, health, its HTTP URL, how long it has
run and how long ago it last beat. ``--watch`` prints the list again every ``--every`` seconds
until interrupted. Exit status: 0, 2 a usage error, 3 the registry out of reach.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING

import click

from atoll.errors import ConfigError, UnavailableError
from atoll.resilience.registry import open_registry

if TYPE_CHECKING:
    from collections.abc import Sequence

    from atoll.resilience.registry import Instance, Registry

__all__ = ["services"]

_UNAVAILABLE = 3


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("pattern", default="*")
@click.option(
    "--registry-url",
    "--registry",
    "registry_url",
    envvar="ATOLL_REGISTRY_URL",
    required=True,
    metavar="URL",
    help="The registry: redis://HOST:6379/0 or nats://HOST:4222 [env ATOLL_REGISTRY_URL].",
)
@click.option("--watch", is_flag=True, help="Print the list again until interrupted.")
@click.option(
    "--every", default=2.0, show_default=True, help="Seconds between two lists, with --watch."
)
def services(pattern: str, *, registry_url: str, watch: bool, every: float) -> None:
    """List the live instances of the services whose names match PATTERN (all by default).

    PATTERN is a shell-style pattern: 'users', 'users*', 'shop-?'.
    """
    if registry_url.startswith("memory:"):
        raise click.BadParameter(
            "memory:// is the registry of one running process, in its memory: a command run "
            "in a process of its own would find it empty; give the URL the services share",
            param_hint="--registry-url",
        )
    try:
        registry = open_registry(registry_url)
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="--registry-url") from None
    try:
        asyncio.run(_listed(registry, pattern, watch=watch, every=every))
    except UnavailableError as error:
        click.echo(str(error), err=True)
        sys.exit(_UNAVAILABLE)
    except KeyboardInterrupt:  # the end of --watch
        pass


async def _listed(registry: Registry, pattern: str, *, watch: bool, every: float) -> None:
    await registry.start()
    try:
        while True:
            click.echo(table(await registry.lookup(pattern), time.time()))
            if not watch:
                return
            await asyncio.sleep(every)
            click.echo()
    finally:
        await registry.stop()


def table(instances: Sequence[Instance], now: float) -> str:
    """The instances as a table of text, one per line, under a header."""
    if not instances:
        return "no live instance"
    rows = [("SERVICE", "ID", "VERSION", "HEALTH", "HTTP", "AGE", "SEEN")]
    rows += [
        (
            instance.service,
            instance.id,
            instance.version,
            instance.health,
            instance.urls.get("http", "-"),
            _age(now - instance.started_at),
            f"{_age(now - instance.seen_at)} ago",
        )
        for instance in instances
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _age(seconds: float) -> str:
    """``seconds`` as a person reads them: ``42s``, ``5m03s``, ``2h07m``, ``3d04h``."""
    whole = max(int(seconds), 0)
    if whole < 60:  # noqa: PLR2004 - a minute
        return f"{whole}s"
    minutes, second = divmod(whole, 60)
    if minutes < 60:  # noqa: PLR2004 - an hour
        return f"{minutes}m{second:02d}s"
    hours, minute = divmod(minutes, 60)
    if hours < 24:  # noqa: PLR2004 - a day
        return f"{hours}h{minute:02d}m"
    days, hour = divmod(hours, 24)
    return f"{days}d{hour:02d}h"
