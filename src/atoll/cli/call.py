"""``atoll call URL METHOD [ARGS]``: call a JSON-RPC method of a running service.

For trying a service by hand and for shell scripts: the result is printed as JSON on standard
output, an error on standard error, and the exit status tells which (0 a result, 1 an error
answered, 2 a usage error, 3 no answer).
"""

from __future__ import annotations

import re
import sys
from typing import Any

import click
import msgspec

from atoll.clients.remote import Params, SyncRemoteService
from atoll.clients.transports import rpc_url
from atoll.errors import ConfigError, RemoteError, RemoteUnavailableError

__all__ = ["call", "parse_params"]

_REMOTE_ERROR = 1
_UNAVAILABLE = 3
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""A parameter name given as ``name=value``; anything else is a positional value."""


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("url")
@click.argument("method", required=False)
@click.argument("args", nargs=-1)
@click.option("--raw", is_flag=True, help="Send METHOD as the request body ('-': stdin).")
@click.option("--list", "list_methods", is_flag=True, help="Print the service's methods.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait to connect, send and get the answer.",
)
@click.option(
    "--token",
    envvar="ATOLL_TOKEN",
    metavar="TOKEN",
    help="Send it as Authorization: Bearer, for a service that needs one (env ATOLL_TOKEN).",
)
def call(
    url: str,
    method: str | None,
    args: tuple[str, ...],
    *,
    raw: bool,
    list_methods: bool,
    timeout: float,
    token: str | None,
) -> None:
    """Call METHOD of the service at URL, with ARGS, and print the result as JSON.

    URL is the service's JSON-RPC endpoint; http:// and /rpc are added when missing, so
    127.0.0.1:8000 means http://127.0.0.1:8000/rpc.

    ARGS are name=value (by name) or values (by position), not both. A value is read as
    JSON when it is JSON (n=1, flag=true, ids=[1,2], opts={"a":1}), else as a string
    (name=ada). Quote a string that looks like JSON or holds '=' as JSON: 'text="a=b"'.
    Put -- before a positional value that starts with '-'.

    \b
    Examples:
      atoll call 127.0.0.1:8001 get_profile user_id=1
      atoll call 127.0.0.1:8001 add 1 2
      atoll call 127.0.0.1:8001 --list
      ATOLL_TOKEN=eyJ... atoll call 127.0.0.1:8000 runs.weekly_meters user_id=1
      atoll call --raw 127.0.0.1:8001 '{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}'
    """  # noqa: D301 - \b is click's mark for a paragraph kept as written
    target = _target(url)
    if list_methods and (raw or method is not None):
        raise click.UsageError("--list takes the URL alone")
    if not list_methods and method is None:
        raise click.UsageError(
            "give the body to send" if raw else "give the METHOD to call, or --list"
        )
    if raw and args:
        raise click.UsageError("--raw sends one body: quote it as one argument")
    with SyncRemoteService(target, timeout=timeout, token=token) as service:
        try:
            if list_methods:
                for name in service.method_names():
                    click.echo(name)
            elif raw:
                _print_body(service.raw(_body(method or "")))
            else:
                _print_json(service.call(method or "", parse_params(args)))
        except RemoteError as error:
            click.echo(f"error {error.code}: {error.message}", err=True)
            if error.data is not None:
                click.echo(_pretty(msgspec.json.encode(error.data)), err=True)
            sys.exit(_REMOTE_ERROR)
        except RemoteUnavailableError as error:
            click.echo(str(error), err=True)
            sys.exit(_UNAVAILABLE)


def parse_params(args: tuple[str, ...] | list[str]) -> Params:
    """The params of a call from command-line arguments: ``name=value`` ones, or values.

    Raises:
        click.UsageError: both kinds were given, or a name was given twice.
    """
    named: dict[str, Any] = {}
    positional: list[Any] = []
    for arg in args:
        name, equals, text = arg.partition("=")
        if equals and _NAME.fullmatch(name):
            if name in named:
                raise click.UsageError(f"the parameter {name!r} is given twice")
            named[name] = _value(text)
        else:
            positional.append(_value(arg))
    if named and positional:
        raise click.UsageError(
            "give the parameters by name (name=value) or by position (values), not both; "
            "write a value holding '=' as a JSON string: '\"a=b\"'"
        )
    return named or positional or None


def _value(text: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text


def _target(url: str) -> str:
    try:
        return rpc_url(url if "://" in url else f"http://{url}")
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="URL") from None


def _body(text: str) -> bytes:
    return sys.stdin.buffer.read() if text == "-" else text.encode()


def _pretty(encoded: bytes) -> str:
    return msgspec.json.format(encoded, indent=2).decode()


def _print_json(result: Any) -> None:
    click.echo(_pretty(msgspec.json.encode(result)))


def _print_body(answer: bytes | None) -> None:
    if answer is None:
        return
    try:
        msgspec.json.decode(answer)
    except msgspec.DecodeError:
        click.echo(answer.decode(errors="replace"))
    else:
        click.echo(_pretty(answer))
