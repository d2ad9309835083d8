"""``atoll tokens``: issue, list and revoke a service's API tokens, in its database.

::

    atoll tokens create runnerly.runs.service:service --subject ci-bot --scope runs:read
        --expires-in 90d --label "nightly export" --db-url postgresql+asyncpg://app@db/runs
    atoll tokens list runnerly.runs.service:service --db-url ...
    atoll tokens revoke runnerly.runs.service:service 5f0c2a9e41d7b3c8 --db-url ...

TARGET is MODULE:OBJECT, a service or a system, as for ``atoll db``; the arguments after it
(after the ID of ``revoke``) are the application's own options, read with its environment and
config file as ``atoll run`` reads them: the database is the one the service would use. A
system keeps its tokens in the database of the first of its services that has one;
``--service NAME`` picks another service's (for that service run on its own).

``create`` prints the token on standard output, alone, once: it is kept hashed, and no
command shows it again. What it is (its id, subject, scopes, expiry) goes to standard error.

Exit status: 0 when done, 2 for a usage or configuration error (``memory://``, which lives in
one running process, included), 1 when it failed (the database out of reach, no such token).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from typing import TYPE_CHECKING, Any

import click

from atoll.cli.db import load_service_target, service_with_database
from atoll.cli.reporting import reported
from atoll.errors import ConfigError
from atoll.kernel.entrypoint import EXIT_FAILURE, load_config
from atoll.persistence.declaration import open_database
from atoll.security.api_tokens import ApiTokens, api_token_store_for
from atoll.service.composition import compose_target
from atoll.service.definition import ServiceDefinition

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from atoll.security.api_tokens import ApiTokenRecord

__all__ = ["tokens"]

_WITH_APP_OPTIONS = {
    "ignore_unknown_options": True,
    "allow_extra_args": True,
    "help_option_names": ["-h", "--help"],
}
_DURATION = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def tokens() -> None:
    """Issue, list and revoke a service's API tokens (--auth-api-tokens accepts them).

    Tokens are kept in the service's database, hashed: the token itself is shown once, by
    create.
    """


def _target(function: Any) -> Any:
    function = click.pass_context(function)
    function = click.option(
        "--service",
        "service_name",
        metavar="NAME",
        help="The service whose database keeps the tokens, in a system (default: the first "
        "with a database, whose tokens the system accepts).",
    )(function)
    function = click.argument("arguments", nargs=-1, type=click.UNPROCESSED)(function)
    return click.argument("target", metavar="MODULE:OBJECT")(function)


@tokens.command(context_settings=_WITH_APP_OPTIONS)
@_target
@click.option("--subject", required=True, help="Who the token acts as: user-42, ci-bot.")
@click.option("--scope", "scopes", multiple=True, help="A scope it grants; repeat for several.")
@click.option(
    "--kind",
    type=click.Choice(["user", "service"]),
    default="user",
    show_default=True,
    help="The identity it proves: a user's, or a service's (a job calling for itself).",
)
@click.option("--label", default="", help="What it is for, shown by list.")
@click.option(
    "--expires-in",
    metavar="DURATION",
    help="How long it is accepted: 3600s, 90m, 12h, 30d or 8w; without it, until revoked.",
)
def create(  # noqa: PLR0917 - the command's options, each one by name
    context: click.Context,
    target: str,
    arguments: tuple[str, ...],
    service_name: str | None,
    subject: str,
    scopes: tuple[str, ...],
    kind: str,
    label: str,
    expires_in: str | None,
) -> None:
    """Issue a token acting as --subject, and print it once.

    The options after MODULE:OBJECT are the application's (--db-url, or --<service>-db-url in
    a system), read as `atoll run` reads them.
    """
    lifetime = None if expires_in is None else _duration(expires_in)
    with reported(context, f"atoll tokens create {target}", usage=(ConfigError, ValueError)):

        async def issue() -> tuple[str, ApiTokenRecord]:
            async with _api_tokens(target, service_name, arguments, "create") as api_tokens:
                return await api_tokens.issue(
                    subject,
                    scopes,
                    kind="service" if kind == "service" else "user",
                    label=label,
                    expires_in=lifetime,
                )

        token, record = _run(issue())
    click.echo(token)
    expiry = "never expires" if record.expires is None else f"expires {_when(record.expires)}"
    click.echo(
        f"created API token {record.id} for {record.subject} "
        f"(scopes: {' '.join(record.scopes) or 'none'}; {expiry}). It is shown this once: "
        "keep it now.",
        err=True,
    )


@tokens.command(name="list", context_settings=_WITH_APP_OPTIONS)
@_target
def list_tokens(
    context: click.Context, target: str, arguments: tuple[str, ...], service_name: str | None
) -> None:
    """List the tokens: id, label, kind, subject, scopes, created, expires, revoked.

    Never the tokens themselves: only their hashes are kept. The options after MODULE:OBJECT
    are the application's, as for create.
    """
    with reported(context, f"atoll tokens list {target}", usage=(ConfigError, ValueError)):

        async def listed() -> Sequence[ApiTokenRecord]:
            async with _api_tokens(target, service_name, arguments, "list") as api_tokens:
                return await api_tokens.list()

        records = _run(listed())
    if not records:
        click.echo("no API tokens")
        return
    header = ("ID", "LABEL", "KIND", "SUBJECT", "SCOPES", "CREATED", "EXPIRES", "REVOKED")
    rows = [header] + [
        (
            r.id,
            r.label or "-",
            r.kind,
            r.subject,
            ",".join(r.scopes) or "-",
            _when(r.created),
            _when(r.expires),
            _when(r.revoked),
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


@tokens.command(context_settings=_WITH_APP_OPTIONS)
@_target
def revoke(
    context: click.Context, target: str, arguments: tuple[str, ...], service_name: str | None
) -> None:
    """Revoke the token ID (shown by list); its ID comes right after MODULE:OBJECT.

    A running process that served the token lately may go on accepting it for up to
    [auth] api-token-cache seconds (5 by default). The options after ID are the
    application's, as for create.
    """
    if not arguments or arguments[0].startswith("-"):
        raise click.UsageError("revoke needs the token's ID right after MODULE:OBJECT", context)
    token_id, options = arguments[0], arguments[1:]
    with reported(context, f"atoll tokens revoke {target}", usage=(ConfigError, ValueError)):

        async def revoked() -> tuple[ApiTokenRecord | None, float]:
            async with _api_tokens(target, service_name, options, "revoke") as api_tokens:
                return await api_tokens.revoke(token_id), api_tokens.cache

        record, cache = _run(revoked())
    if record is None:
        click.echo(
            f"atoll tokens revoke {target}: no API token has the ID {token_id!r}; "
            "`atoll tokens list` shows them",
            err=True,
        )
        context.exit(EXIT_FAILURE)
    click.echo(
        f"revoked API token {record.id} of {record.subject} at {_when(record.revoked)}; "
        f"running processes refuse it within {cache:g} s"
    )


# -- helpers of the commands --------------------------------------------------------------------


def _duration(text: str) -> dt.timedelta:
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match[1]) == 0:
        raise click.BadParameter(
            f"{text!r} is no duration above 0; write a number and a unit: 3600s, 90m, 12h, "
            "30d or 8w",
            param_hint="--expires-in",
        )
    return dt.timedelta(**{_UNITS[match[2]]: int(match[1])})


def _when(moment: dt.datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run(work: Any) -> Any:
    import asyncio  # noqa: PLC0415 - the event loop is this command's business alone

    return asyncio.run(work)


@contextlib.asynccontextmanager
async def _api_tokens(
    target: str, service_name: str | None, options: Sequence[str], command: str
) -> AsyncIterator[ApiTokens]:
    """The API tokens of ``target``'s service, in its database, started for the block.

    Raises:
        TargetError: the target names nothing, or no service with a database.
        ConfigError: an option is wrong, or the database is ``memory://``.
        DatabaseUnavailableError: the database cannot be reached.
    """
    obj = load_service_target(target, "atoll tokens keeps the API tokens of")
    if service_name is None and not isinstance(obj, ServiceDefinition):
        keepers = [s.name for s in obj.services if s.database_declaration is not None]
        service_name = keepers[0] if keepers else None
    service, declaration, section = service_with_database(obj, target, service_name)
    app = compose_target(obj, serve=False)
    try:
        config = load_config(app, list(options), os.environ, prog=f"atoll tokens {command}")
    except SystemExit as done:  # the application's --version printed what was asked
        raise click.exceptions.Exit(done.code if isinstance(done.code, int) else 0) from None
    database_options = config.section(section)
    if database_options.url_for(service.name).startswith("memory:"):
        flag = "--db-url" if section == "db" else f"--{section.replace('_', '-')}-url"
        raise ConfigError(
            f"the database of {service.name} is memory://, which lives in the memory of one "
            f"running process: this command cannot reach it. Give the database with {flag} "
            "URL, or issue tokens in the process (atoll.security.api_tokens.ApiTokens)"
        )
    database = open_database(database_options, declaration.schema, service.name, section=section)
    await database.start()
    try:
        yield ApiTokens(api_token_store_for(database), cache=config.section("auth").api_token_cache)
    finally:
        await database.stop()
