"""``atoll asyncapi MODULE:OBJECT``: the AsyncAPI document of a service's messages, printed.

::

    atoll asyncapi runnerly.app:system --broker-url nats://127.0.0.1:4222
    atoll asyncapi runnerly.app:system --service runs --broker-url amqp://guest:guest@host/

TARGET is MODULE:OBJECT, a service or a system (or a function returning one), as for ``atoll
db``. The arguments after it are the application's own options, read with its environment and
config file exactly as ``atoll run`` reads them: the document printed is the one the
application serves at ``/asyncapi.json`` with those options, whose server and addresses are
the broker's of ``--broker-url``. A system's document holds its services together;
``--service NAME`` prints one service's own, as it serves it run on its own with the same
broker. Nothing is started and nothing connects.

Exit status: 0 when printed, 2 for a usage or configuration error.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click
import msgspec

from atoll.cli.db import load_service_target
from atoll.cli.reporting import reported
from atoll.endpoints.asyncapi import asyncapi_document
from atoll.errors import TargetError
from atoll.kernel.entrypoint import load_config
from atoll.messaging.options import BrokerOptions
from atoll.service.composition import api_of, compose_target
from atoll.service.system import services_of

if TYPE_CHECKING:
    from atoll.service.definition import ServiceDefinition
    from atoll.service.system import SystemDefinition

__all__ = ["asyncapi"]

_WITH_APP_OPTIONS = {
    "ignore_unknown_options": True,
    "allow_extra_args": True,
    "help_option_names": ["-h", "--help"],
}
"""A command whose arguments after TARGET are the application's options, which click keeps."""


@click.command(context_settings=_WITH_APP_OPTIONS)
@click.argument("target", metavar="MODULE:OBJECT")
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED, metavar="[APP OPTIONS]...")
@click.option(
    "--service",
    "service_name",
    metavar="NAME",
    help="One service of a system: its own document, as it serves it run on its own.",
)
@click.pass_context
def asyncapi(
    context: click.Context, target: str, arguments: tuple[str, ...], service_name: str | None
) -> None:
    """Print the AsyncAPI 3.0 document of TARGET's messages, as JSON.

    The commands each service takes, the events it consumes and publishes, and its broker
    RPC, with their payloads' schemas and the broker's addresses. The options after
    MODULE:OBJECT are the application's, read as `atoll run` reads them (--broker-url names
    the broker); nothing is started.
    """
    prog = f"atoll asyncapi {target}"
    with reported(context, prog):
        obj = load_service_target(target, "atoll asyncapi describes the messages of")
        app = compose_target(obj, serve=False)
        try:
            config = load_config(app, list(arguments), os.environ, prog=prog)
        except SystemExit as done:  # the application's --version printed what was asked
            raise click.exceptions.Exit(done.code if isinstance(done.code, int) else 0) from None
        broker = config.section(BrokerOptions)
        chosen = obj if service_name is None else _service(obj, target, service_name)
        document = asyncapi_document(api_of(chosen), broker)
    click.echo(msgspec.json.format(msgspec.json.encode(document), indent=2).decode())


def _service(
    obj: ServiceDefinition | SystemDefinition[ServiceDefinition], target: str, name: str
) -> ServiceDefinition:
    """The service ``name`` of ``obj``.

    Raises:
        TargetError: ``obj`` has no service of that name.
    """
    services = services_of(obj)
    for service in services:
        if service.name == name:
            return service
    raise TargetError(
        f"{target!r} has no service {name!r}; its services: "
        f"{', '.join(service.name for service in services)}"
    )
