"""``atoll auth``: a token service's clients and signing keys.

::

    atoll auth clients add [TARGET] --client-id ID --scope S --audience A [APP OPTIONS]
    atoll auth clients list [TARGET] [APP OPTIONS]
    atoll auth clients remove [TARGET] CLIENT_ID [APP OPTIONS]
    atoll auth keys rotate [TARGET] [APP OPTIONS]
    atoll auth keys list [TARGET] [APP OPTIONS]

TARGET is the token service's MODULE:OBJECT (``atoll.auth:service`` when left out), or a
system holding one. The options after it are the application's own (``--db-url``,
``--tokens-...``), read with its environment and config file as ``atoll run`` reads them: the
database changed is the one the service uses. The token service itself is loaded when a
command runs (it is an application of atoll's, above this command line).

Exit status: 0 done, 1 refused (a client id taken, a client not found, the database out of
reach), 2 a usage or configuration error.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import os
from typing import TYPE_CHECKING, Any

import click

from atoll.cli.reporting import reported
from atoll.cli.run import load_target
from atoll.kernel.entrypoint import EXIT_FAILURE, load_config
from atoll.service.composition import compose_target

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

__all__ = ["auth"]

DEFAULT_TARGET = "atoll.auth:service"
_WITH_APP_OPTIONS = {
    "ignore_unknown_options": True,
    "allow_extra_args": True,
    "help_option_names": ["-h", "--help"],
}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def auth() -> None:
    """Administer a token service (atoll.auth): its clients and its signing keys."""


@auth.group(context_settings={"help_option_names": ["-h", "--help"]})
def clients() -> None:
    """Add, list and remove the clients that may ask for tokens."""


@auth.group(context_settings={"help_option_names": ["-h", "--help"]})
def keys() -> None:
    """Rotate and list the signing keys."""


def _arguments(function: Callable[..., None]) -> Callable[..., None]:
    function = click.argument("arguments", nargs=-1, type=click.UNPROCESSED)(function)
    return click.pass_context(function)


@clients.command(name="add", context_settings=_WITH_APP_OPTIONS)
@click.option("--client-id", required=True, help="The client's id: letters, digits, . _ ~ -.")
@click.option(
    "--scope", "scopes", multiple=True, help="A scope it may ask for (repeat for several)."
)
@click.option(
    "--audience",
    "audiences",
    multiple=True,
    required=True,
    help="A service it may ask tokens for: its --auth-jwt-audience (repeat for several).",
)
@_arguments
def add_client(
    context: click.Context,
    arguments: tuple[str, ...],
    client_id: str,
    scopes: tuple[str, ...],
    audiences: tuple[str, ...],
) -> None:
    """Register a client, and print its secret: the one time it is shown.

    [TARGET] [APP OPTIONS]: the token service (atoll.auth:service) and its options.
    """
    scope_list = [part for given in scopes for part in given.replace(",", " ").split()]

    async def add(admin: Any) -> None:
        client, secret = await admin.registrations.add(client_id, scope_list, audiences)
        click.echo(f"client_id: {client.id}")
        click.echo(f"client_secret: {secret}")
        click.echo(
            "The secret is shown this once and kept only as a hash: give it to the client now.",
            err=True,
        )

    _run(context, "clients add", arguments, 0, add)


@clients.command(name="list", context_settings=_WITH_APP_OPTIONS)
@_arguments
def list_clients(context: click.Context, arguments: tuple[str, ...]) -> None:
    """List the clients: id, scopes, audiences, when added (never a secret).

    [TARGET] [APP OPTIONS]: the token service (atoll.auth:service) and its options.
    """

    async def show(admin: Any) -> None:
        found = await admin.registrations.all()
        if not found:
            click.echo("no client; add one with `atoll auth clients add`")
        for client in found:
            click.echo(
                f"{client.id}  scopes: {client.scopes or '-'}  audiences: {client.audiences}  "
                f"added {_when(client.created)}"
            )

    _run(context, "clients list", arguments, 0, show)


@clients.command(name="remove", context_settings=_WITH_APP_OPTIONS)
@_arguments
def remove_client(context: click.Context, arguments: tuple[str, ...]) -> None:
    """Remove a client; the tokens it holds stay valid until they expire.

    [TARGET] CLIENT_ID [APP OPTIONS]: the token service (atoll.auth:service), the client.
    """

    async def remove(admin: Any, client_id: str) -> None:
        if not await admin.registrations.remove(client_id):
            click.echo(f"no client {client_id!r}; `atoll auth clients list` shows them", err=True)
            raise click.exceptions.Exit(EXIT_FAILURE)
        click.echo(f"removed client {client_id}")

    _run(context, "clients remove", arguments, 1, remove)


@keys.command(name="rotate", context_settings=_WITH_APP_OPTIONS)
@_arguments
def rotate_keys(context: click.Context, arguments: tuple[str, ...]) -> None:
    """Make a new signing key: published now, signing after --tokens-rotation-delay.

    The keys signing now stop then, and leave the JWKS once their last token has expired.
    [TARGET] [APP OPTIONS]: the token service (atoll.auth:service) and its options.
    """

    async def rotate(admin: Any) -> None:
        key, gone = await admin.keyring.rotate()
        click.echo(
            f"made key {key.id} ({key.algorithm}): published now, signing from "
            f"{_when(key.activates_at)}"
        )
        for old in gone:
            click.echo(f"withdrew key {old.id}: its last token has expired")

    _run(context, "keys rotate", arguments, 0, rotate)


@keys.command(name="list", context_settings=_WITH_APP_OPTIONS)
@_arguments
def list_keys(context: click.Context, arguments: tuple[str, ...]) -> None:
    """List the signing keys: kid, algorithm, when each signs and retires.

    [TARGET] [APP OPTIONS]: the token service (atoll.auth:service) and its options.
    """

    async def show(admin: Any) -> None:
        for key in await admin.keyring.keys():
            retires = "-" if key.retires_at is None else _when(key.retires_at)
            click.echo(
                f"{key.id}  {key.algorithm}  made {_when(key.created)}  "
                f"signs from {_when(key.activates_at)}  retires {retires}"
            )

    _run(context, "keys list", arguments, 0, show)


def _run(
    context: click.Context,
    command: str,
    arguments: Sequence[str],
    positionals: int,
    work: Callable[..., Awaitable[None]],
) -> None:
    """Split TARGET, ``positionals`` more arguments and the app's options, and do ``work``."""
    given = list(arguments)
    leading = 0
    while leading < len(given) and not given[leading].startswith("-"):
        leading += 1
    if leading not in {positionals, positionals + 1}:
        raise click.UsageError(
            f"expected [TARGET]{' CLIENT_ID' * positionals} before the application's options; "
            f"got {' '.join(given[:leading]) or 'nothing'}",
            context,
        )
    target = given[0] if leading > positionals else DEFAULT_TARGET
    extra = given[leading - positionals : leading]
    options = given[leading:]
    prog = f"atoll auth {command} {target}"
    with reported(context, prog, foreign_text=False):
        admin_module = importlib.import_module("atoll.auth.admin")  # above the CLI's layer
        obj = load_target(target)
        service, section = admin_module.token_service_of(obj, repr(target))
        app = compose_target(obj, serve=False)  # type: ignore[arg-type]
        try:
            config = load_config(app, options, os.environ, prog=prog)
        except SystemExit as done:
            raise click.exceptions.Exit(done.code if isinstance(done.code, int) else 0) from None

        async def main() -> None:
            async with admin_module.administered(service, section, config) as admin:
                await work(admin, *extra)

        asyncio.run(main())


def _when(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
