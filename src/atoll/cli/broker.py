"""``atoll publish`` and ``atoll dlq``: put a message on a broker, and tend its dead letters.

::

    atoll publish runnerly.runs.contracts.RunRecorded '{"run_id": 1, ...}' --broker-url nats://...
    atoll dlq list stats --broker-url nats://127.0.0.1:4222
    atoll dlq redrive stats [ID...]
    atoll dlq purge stats [ID...] [--yes]

The broker is ``--broker-url`` (``--broker`` for short), or ``ATOLL_BROKER_URL`` in the
environment. The exit status says what happened: 0 done, 1 refused (a purge not confirmed, a
message that does not match its type), 2 a usage error, 3 the broker out of reach.

``memory://`` is refused (a usage error): it is the broker of one running application, in its
process's memory, which a command run in a process of its own cannot reach. Its dead letters
are process-local: a test reaches them through its harness (``Broker.dead_letters``,
``redrive``, ``purge``); services whose dead letters are tended from the command line run on
a broker their processes share.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import uuid
from typing import TYPE_CHECKING, Any

import click
import msgspec

from atoll.cli.run import importable_cwd
from atoll.errors import BrokerError, ConfigError
from atoll.messaging.broker import check_name, masked_url, open_broker
from atoll.messaging.envelope import Envelope, message_name, message_type

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from atoll.messaging.broker import Broker

__all__ = ["dlq", "publish"]

_REFUSED = 1
_UNAVAILABLE = 3
_ERROR_SHOWN = 80

_broker_url = click.option(
    "--broker-url",
    "--broker",
    "broker_url",
    envvar="ATOLL_BROKER_URL",
    required=True,
    metavar="URL",
    help="The broker: nats://HOST:4222, amqp://USER:PASSWORD@HOST:5672/, redis://HOST:6379/0 "
    "[env ATOLL_BROKER_URL].",
)


def _with_broker(url: str, work: Callable[[Broker], Awaitable[Any]]) -> Any:
    """Run ``work`` on the broker at ``url``, connected for it; exit 3 if it is out of reach."""
    if url.rstrip("/") == "memory:":
        raise click.BadParameter(
            "memory:// is the broker of one running application, kept in its process's "
            "memory: a command run in a process of its own cannot reach it, and would find it "
            "empty. Run the services on a broker their processes share (--broker-url "
            "nats://HOST:4222, amqp://USER:PASSWORD@HOST:5672/ or redis://HOST:6379/0) and "
            "give this command the same URL",
            param_hint="--broker-url",
        )
    try:
        broker = open_broker(url)
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="--broker-url") from None

    async def connected() -> Any:
        await broker.start()
        try:
            return await work(broker)
        finally:
            await broker.stop()

    try:
        return asyncio.run(connected())
    except BrokerError as error:
        click.echo(str(error), err=True)
        sys.exit(_UNAVAILABLE)


def _checked(name: str, what: str) -> str:
    try:
        return check_name(name, what)
    except ConfigError as error:
        raise click.BadParameter(str(error)) from None


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("type_name", metavar="TYPE")
@click.argument("payload", metavar="JSON", default="-")
@_broker_url
@click.option("--to", "service", metavar="SERVICE", help="Send to this service's queue only.")
@click.option("--stream", default="", help="The stream (aggregate) it is ordered in: Run:42.")
@click.option("--header", "headers", multiple=True, metavar="NAME=VALUE", help="A header.")
@click.option(
    "--no-check",
    is_flag=True,
    help="Send the JSON as it is, without decoding it as TYPE first.",
)
def publish(
    type_name: str,
    payload: str,
    *,
    broker_url: str,
    service: str | None,
    stream: str,
    headers: tuple[str, ...],
    no_check: bool,
) -> None:
    """Publish an event of TYPE with the fields in JSON ('-' or nothing: read stdin).

    TYPE is the message's importable name, MODULE.CLASS; it travels under the name its class
    declares, if any. Unless --no-check, the JSON is decoded as TYPE first (importing it), so
    that a field missing or of the wrong type is refused here rather than dead-lettered by
    every consumer; with --no-check TYPE is sent as the name on the wire. The message's id
    is printed.

    \b
    Examples:
      atoll publish runnerly.runs.contracts.RunRecorded \\
        '{"run_id": 1, "user_id": 1, "meters": 5000, "started_at": "2026-12-01T07:00:00Z"}' \\
        --broker-url nats://127.0.0.1:4222
      atoll publish shop.Ship '{"order": 3}' --to shop --broker-url redis://127.0.0.1:6379/0
    """  # noqa: D301 - \b is click's mark for a paragraph kept as written
    _checked(type_name, "message type name")
    if service is not None:
        _checked(service, "service name")
    extra = _parsed_headers(headers)
    body = sys.stdin.buffer.read() if payload == "-" else payload.encode()
    wire_name = type_name
    if not no_check:
        body, wire_name = _validated(type_name, body)
    envelope = Envelope(
        id=uuid.uuid4().hex,
        type=wire_name,
        payload=body,
        stream=stream,
        headers={"sender": "atoll publish", **extra},
    )

    async def work(broker: Broker) -> None:
        if service is None:
            await broker.publish(envelope)
        else:
            await broker.send(envelope, service)

    _with_broker(broker_url, work)
    click.echo(envelope.id)


def _validated(type_name: str, body: bytes) -> tuple[bytes, str]:
    """The JSON re-encoded as the type of ``type_name``, and the name it travels under."""
    importable_cwd()  # as for `atoll run`: the types of the project you are in
    kind = message_type(type_name)
    if kind is None:
        raise click.BadParameter(
            f"no importable type is named {type_name!r}: check the name (MODULE.CLASS) and that "
            "its module is on PYTHONPATH, or send the JSON unchecked with --no-check",
            param_hint="TYPE",
        )
    try:
        message: object = msgspec.json.decode(body, type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        click.echo(f"the JSON is not a {kind.__qualname__}: {error}", err=True)
        sys.exit(_REFUSED)
    return msgspec.json.encode(message), message_name(kind)


def _parsed_headers(headers: tuple[str, ...]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for header in headers:
        name, equals, value = header.partition("=")
        if not (name and equals):
            raise click.BadParameter(f"{header!r} is not NAME=VALUE", param_hint="--header")
        parsed[name] = value
    return parsed


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def dlq() -> None:
    """List, redrive and purge the dead letters of a service."""


@dlq.command("list")
@click.argument("service")
@_broker_url
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per dead letter.")
def list_dead(service: str, *, broker_url: str, limit: int, as_json: bool) -> None:
    """Show the oldest dead letters of SERVICE: id, type, deliveries, when, error."""
    _checked(service, "service name")
    letters = _with_broker(broker_url, lambda broker: broker.dead_letters(service, limit))
    if as_json:
        for letter in letters:
            click.echo(
                msgspec.json.encode(
                    {
                        "id": letter.id,
                        "message_id": letter.envelope.id,
                        "type": letter.envelope.type,
                        "deliveries": letter.deliveries,
                        "failed_at": letter.failed_at,
                        "error": letter.error,
                        "headers": letter.envelope.headers,
                        "payload": letter.envelope.payload.decode(errors="replace"),
                    }
                ).decode()
            )
        return
    if not letters:
        click.echo(f"no dead letters for {service} on {masked_url(broker_url)}")
        return
    for letter in letters:
        when = dt.datetime.fromtimestamp(letter.failed_at, tz=dt.UTC)
        error = letter.error.splitlines()[0] if letter.error else ""
        if len(error) > _ERROR_SHOWN:
            error = error[: _ERROR_SHOWN - 3] + "..."
        click.echo(
            f"{letter.id}  {letter.envelope.type}  {letter.deliveries}x  "
            f"{when:%Y-%m-%d %H:%M:%S}Z  {error}"
        )
    click.echo(f"{len(letters)} dead letter(s) of {service}")


@dlq.command()
@click.argument("service")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@_broker_url
def redrive(service: str, ids: tuple[str, ...], *, broker_url: str) -> None:
    """Send dead letters of SERVICE back to it (those of IDs, or all), as new deliveries."""
    _checked(service, "service name")
    count = _with_broker(broker_url, lambda broker: broker.redrive(service, ids or None))
    click.echo(f"redrove {count} dead letter(s) to {service}")


@dlq.command()
@click.argument("service")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@_broker_url
@click.option("--yes", is_flag=True, help="Delete without asking.")
def purge(service: str, ids: tuple[str, ...], *, broker_url: str, yes: bool) -> None:
    """Delete dead letters of SERVICE (those of IDs, or all), for good."""
    _checked(service, "service name")
    what = f"{len(ids)} dead letter(s)" if ids else "every dead letter"
    question = f"Delete {what} of {service} on {masked_url(broker_url)}, for good?"
    if not yes and not click.confirm(question, default=False):
        click.echo("nothing deleted", err=True)
        sys.exit(_REFUSED)
    count = _with_broker(broker_url, lambda broker: broker.purge(service, ids or None))
    click.echo(f"deleted {count} dead letter(s) of {service}")
